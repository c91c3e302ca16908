//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Hummingbird
import HummingbirdTesting
import Prometheus
import Testing
import VigilCore

@testable import VigilWeb

@Suite("Dashboard assets")
struct DashboardAssetsTests {
    /// Every `A.name` and `S.name` in dashboard.js: the attribute and sample names it reads.
    func namesUsed(prefix: String) throws -> Set<String> {
        let regex = try Regex(#"(?:^|[^A-Za-z0-9_.$])"# + prefix + #"\.([A-Za-z0-9_]+)"#)
        return Set(DashboardAssets.scriptText.matches(of: regex).compactMap { $0.output[1].substring.map(String.init) })
    }

    @Test("Every attribute and sample name the script uses is defined in VigilCore")
    func namesAreDefined() throws {
        let attributes = try namesUsed(prefix: "A")
        let samples = try namesUsed(prefix: "S")
        // The script reads most of the vocabulary; an empty set would mean this test lost its grip.
        #expect(attributes.count >= 20)
        #expect(samples.count >= 10)
        #expect(attributes.subtracting(AttributeName.allCases.map { String(describing: $0) }) == [])
        #expect(samples.subtracting(SampleName.allCases.map { String(describing: $0) }) == [])
    }

    @Test("The script never reads an attribute or sample by a string literal")
    func noLiteralNames() throws {
        let script = DashboardAssets.scriptText
        for reader in ["attr(s, ", "val(s, ", "sumValues(s, "] {
            for quote in ["'", "\"", "`"] {
                let literal = script.contains(reader + quote)
                #expect(!literal, "dashboard.js calls \(reader)\(quote)…: use A.… or S.…")
            }
        }
    }

    @Test("names.js lists every name as a plain identifier")
    func namesScript() throws {
        let names = DashboardAssets.names
        #expect(names.hasPrefix("// Generated"))
        #expect(names.contains("window.VIGIL_NAMES = Object.freeze({"))
        let identifier = try Regex(#"^[a-z][a-z0-9_]*$"#)
        let caseName = try Regex(#"^[a-z][A-Za-z0-9]*$"#)
        for name in AttributeName.allCases {
            #expect(names.contains("\"\(String(describing: name))\": \"\(name.rawValue)\""))
            #expect(name.rawValue.wholeMatch(of: identifier) != nil)
            #expect(String(describing: name).wholeMatch(of: caseName) != nil)
        }
        for name in SampleName.allCases {
            #expect(names.contains("\"\(String(describing: name))\": \"\(name.rawValue)\""))
            #expect(name.rawValue.wholeMatch(of: identifier) != nil)
            #expect(String(describing: name).wholeMatch(of: caseName) != nil)
        }
        #expect(names.contains(#""lastSeen": "last_seen""#))
        #expect(names.contains(#""cpuUsageRatio": "cpu_usage_ratio""#))
    }

    @Test("The page carries the version, loads names.js before the script, and every asset is served")
    func served() async throws {
        let hub = Hub(stores: MemoryStore().stores, clock: ManualClock(wallClockSeconds: 2000))
        let app = Application(
            router: buildRouter(
                WebDependencies(
                    hub: hub,
                    exporters: [PrometheusCollectorRegistry()],
                    readiness: Readiness(),
                    version: "1.2.3<x>",
                    configuration: WebConfiguration()
                )
            )
        )
        try await app.test(.router) { client in
            try await client.execute(uri: "/", method: .get) { response in
                let page = String(buffer: response.body)
                #expect(response.headers[.cacheControl] == "no-cache")
                #expect(page.contains("<small>1.2.3x</small>"))
                #expect(!page.contains(DashboardAssets.versionPlaceholder))
                let names = try #require(page.firstRange(of: "/assets/names.js?v=1.2.3x"))
                let script = try #require(page.firstRange(of: "/assets/dashboard.js?v=1.2.3x"))
                #expect(names.lowerBound < script.lowerBound)
            }
            for (path, type) in [
                ("/assets/names.js", "text/javascript"), ("/assets/dashboard.js", "text/javascript"), ("/assets/dashboard.css", "text/css"),
            ] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType]?.hasPrefix(type) == true)
                    #expect(response.headers[.cacheControl] == "no-cache")
                    #expect(response.body.readableBytes > 100)
                }
            }
            try await client.execute(uri: "/assets/dashboard.js", method: .get) { response in
                #expect(Array(response.body.readableBytesView) == DashboardAssets.script)
            }
        }
    }
}
