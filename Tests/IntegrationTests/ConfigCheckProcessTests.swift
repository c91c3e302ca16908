//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

/// `vigil config check` and `vigil serve` on files with extreme numbers: exit 2 with the file and
/// the key named, never a trap (a crash would print no "configuration error").
@Suite("vigil config check: extreme numbers", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct ConfigCheckProcessTests {
    let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("config-check-\(UUID().uuidString)")

    @Test(
        "Each extreme value exits 2 naming file and key",
        arguments: [
            ("[store]\nretention = \"1e20\"\n", "store.retention"),
            ("[store]\nretention = 1e308\n", "store.retention"),
            ("[store]\nretention = nan\n", "store.retention"),
            ("[http]\nlive_ping_interval = \"-5s\"\n", "http.live_ping_interval"),
            ("[http]\nport = 70000\n", "http.port"),
            ("[mqtt]\nkeep_alive = \"1e9\"\n", "mqtt.keep_alive"),
            ("[mqtt]\nserverAddress = \"tcp://u:TopSecret@h:99999\"\n", "mqtt.serverAddress"),
            ("[device_x]\nwatchTimeOut = inf\n", "device_x.watchTimeOut"),
            ("[watchdog]\nstate_max_topics = 0\n", "watchdog.state_max_topics"),
            ("[janus]\nfailover_wait_time = \"99999999999999999999h\"\n", "janus.failover_wait_time"),
        ]
    )
    func extremes(text: String, key: String) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("extreme.toml")
        try text.write(to: file, atomically: true, encoding: .utf8)
        for arguments in [["config", "check", file.path], ["serve", "--config", file.path]] {
            let run = try VigilProcess.runToCompletion(arguments)
            #expect(run.status == 2, "\(arguments[0]): \(run.output)")
            #expect(run.output.contains("configuration error: \(file.path)"), "\(run.output)")
            #expect(run.output.contains(key), "\(run.output)")
            #expect(!run.output.contains("TopSecret"))
        }
    }

    @Test("An extreme environment override exits 2 too")
    func environment() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("empty.toml")
        try "".write(to: file, atomically: true, encoding: .utf8)
        let run = try VigilProcess.runToCompletion(["config", "check", file.path], environment: ["VIGIL_STORE_RETENTION": "1e20"])
        #expect(run.status == 2, "\(run.output)")
        #expect(run.output.contains("store.retention"))
    }
}
