//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@Suite("vigil process", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct VigilProcessTests {
    let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("process-\(UUID().uuidString)")

    @Test("Starts on built-in defaults, serves health and metrics, stops on SIGTERM with status 0 within 2 s")
    func serveAndStop() async throws {
        let vigil = try VigilProcess(environment: ["VIGIL_HOST_INTERVAL": "200ms"], directory: directory)
        try await vigil.waitUntilHealthy()
        #expect(try await vigil.get("/healthz").status == 200)
        // The host sampler needs one interval for its first sample.
        var metrics = ""
        for _ in 0..<50 {
            metrics = try await vigil.get("/metrics").body
            if metrics.contains("vigil_host_cpu_seconds_total") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(metrics.contains("vigil_build_info{version="))
        #expect(metrics.contains("vigil_host_cpu_seconds_total{host="))
        #expect(metrics.contains("vigil_host_memory_available_bytes{host="))
        #expect(metrics.contains("process_resident_memory_bytes "))
        #expect(metrics.contains("process_open_fds "))
        #expect(try await vigil.get("/readyz").status == 200)
        let hosts = try await vigil.get("/api/v1/hosts")
        #expect(hosts.body.contains("\"kind\":\"host\""))

        let (status, elapsed) = try await vigil.stop()
        #expect(status == 0, "\(vigil.log)")
        #expect(elapsed < .seconds(2), "stopping took \(elapsed)")
        #expect(vigil.log.contains("Vigil stopped"))
    }

    @Test("SIGINT stops it too, and the data survives into the next run")
    func restartKeepsHistory() async throws {
        let first = try VigilProcess(environment: ["VIGIL_HOST_INTERVAL": "100ms"], directory: directory)
        try await first.waitUntilHealthy()
        try await Task.sleep(for: .milliseconds(600))
        #expect(try await first.stop(signal: SIGINT).status == 0)

        let second = try VigilProcess(environment: ["VIGIL_HOST_INTERVAL": "10s"], directory: directory)
        try await second.waitUntilHealthy()
        let series = try await second.get("/api/v1/series?prefix=host/").body
        #expect(series.contains("/load1"), "\(series)")
        #expect(try await second.stop().status == 0)
    }

    @Test("config check: a wrong type exits 2 naming file and key; a valid file exits 0")
    func configCheck() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let bad = directory.appendingPathComponent("bad.toml")
        try "[http]\nlisten = 5\n".write(to: bad, atomically: true, encoding: .utf8)
        let badRun = try VigilProcess.runToCompletion(["config", "check", bad.path])
        #expect(badRun.status == 2)
        #expect(badRun.output.contains("bad.toml"))
        #expect(badRun.output.contains("http.listen"))

        let good = directory.appendingPathComponent("good.toml")
        try "[http]\nlisten = \"127.0.0.1:9999\"\n[store]\nretention = \"2d\"\n".write(to: good, atomically: true, encoding: .utf8)
        let goodRun = try VigilProcess.runToCompletion(["config", "check", good.path])
        #expect(goodRun.status == 0, "\(goodRun.output)")

        let serveBad = try VigilProcess.runToCompletion(["serve", "--config", bad.path])
        #expect(serveBad.status == 2)
    }

    @Test("-v and version print the version")
    func version() throws {
        for arguments in [["-v"], ["--version"], ["version"]] {
            let run = try VigilProcess.runToCompletion(arguments)
            #expect(run.status == 0)
            #expect(run.output.hasPrefix("vigil "))
        }
    }
}
