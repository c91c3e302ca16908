//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

/// `vigil alerts export-prometheus` against Debian's promtool.
@Suite("Alert rules exported for Prometheus", .enabled(if: IntegrationEnvironment.enabled))
struct AlertRulesExportTests {
    @Test("promtool check rules accepts the built-in and configured rules, with patterns that need escaping")
    func promtoolAccepts() throws {
        let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("rules-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("vigil.toml")
        try #"""
        [[alert]]
        name = "LowBitrate"
        kind = "stream"
        targets = ["cam.*", "edge(1)"]
        sample = "inbound_bytes_per_second"
        below = 1000.5
        for = "90s"
        labels = { team = "media \"ops\"" }
        summary = "{{target}} at {{value}} B/s"

        [[alert]]
        name = "BitrateFalling"
        kind = "stream"
        sample = "inbound_bytes_per_second"
        rate = true
        below = -1000

        [[alert]]
        name = "GatewayQuiet"
        kind = "gateway"
        stale = "2m"

        [[alert]]
        name = "NoSessions"
        kind = "gateway"
        targets = ["gxy1"]
        absent = "sessions"

        [[alert]]
        name = "AnyLoad"
        sample = "load"
        above = 8
        """#.write(to: config, atomically: true, encoding: .utf8)
        let exported = try VigilProcess.runToCompletion(["alerts", "export-prometheus", "--config", config.path])
        #expect(exported.status == 0, "\(exported.output)")
        #expect(exported.output.contains(#"vigil_stream_inbound_bytes_per_second{stream=~\"cam\\\\..*|edge\\\\(1\\\\)\"} < 1000.5"#))
        #expect(exported.output.contains("# HostDown: no metric carries its condition"))
        let rules = directory.appendingPathComponent("rules.yml")
        try exported.output.write(to: rules, atomically: true, encoding: .utf8)
        let checked = try VigilProcess.runToCompletion(["check", "rules", rules.path], executable: try StreamsExporterTests.promtool())
        #expect(checked.status == 0, "\(checked.output)")
        #expect(checked.output.contains("SUCCESS: 11 rules found"), "\(checked.output)")
    }
}
