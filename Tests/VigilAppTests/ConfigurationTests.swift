//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import Testing
import VigilMonitors
import VigilRedis
import VigilStorage
import VigilWeb

@testable import VigilApp

@Suite("Configuration")
struct ConfigurationTests {
    @Test("Built-in defaults")
    func defaults() throws {
        let configuration = try VigilConfiguration.defaults(environment: [:])
        #expect(configuration.http.host == "127.0.0.1")
        #expect(configuration.http.port == 8080)
        #expect(configuration.store.backend == .sqlite)
        #expect(configuration.store.path == "./vigil-data/vigil.sqlite")
        #expect(configuration.host.interval == .seconds(5))
        #expect(configuration.log.level == .info)
        #expect(configuration.warnings.isEmpty)
    }

    @Test("A full valid file")
    func validFile() throws {
        let configuration = try VigilConfiguration.parse(
            """
            [log]
            log_level = "debug"
            format = "json"

            [http]
            listen = "0.0.0.0:9090"
            token = "abc"
            live_sample_interval = "250ms"
            live_max_pending_events = 50
            live_write_timeout = "3s"
            live_snapshot_events = 0
            live_max_clients = 64
            live_max_queued_bytes = 65536
            live_max_requests_per_second = 3

            [store]
            path = "/var/lib/vigil/vigil.sqlite"
            retention = "30d"

            [host]
            interval = "2s"
            disks = ["/", "/data"]
            interfaces = "eth0, eth1"
            """,
            file: "vigil.toml"
        )
        #expect(configuration.log.level == .debug)
        #expect(configuration.log.format == .json)
        #expect(configuration.http.host == "0.0.0.0")
        #expect(configuration.http.port == 9090)
        #expect(configuration.http.token == "abc")
        #expect(configuration.http.live.sampleInterval == .milliseconds(250))
        #expect(configuration.http.live.maxPendingEvents == 50)
        #expect(configuration.http.live.writeTimeout == .seconds(3))
        #expect(configuration.http.live.snapshotEvents == 0)
        #expect(configuration.http.live.pingInterval == .seconds(30))
        #expect(configuration.http.live.maxClients == 64)
        #expect(configuration.http.live.maxQueuedBytes == 65_536)
        #expect(configuration.http.live.maxRequestsPerSecond == 3)
        #expect(configuration.store.retention == .seconds(30 * 86_400))
        #expect(configuration.host.interval == .seconds(2))
        #expect(configuration.host.disks == ["/", "/data"])
        #expect(configuration.host.interfaces == ["eth0", "eth1"])
        #expect(configuration.warnings.isEmpty)
    }

    @Test(
        "Wrong types and bad values name the file and the key",
        arguments: [
            ("[http]\nlisten = 5", "vigil.toml: http.listen: expected a string, got integer"),
            ("[http]\nlisten = \"nope\"", "vigil.toml: http.listen: 'nope' is not host:port (for example 127.0.0.1:8080)"),
            ("[store]\nretention = \"forever\"", "vigil.toml: store.retention: 'forever' is not a duration"),
            ("[store]\nbackend = \"oracle\"", "vigil.toml: store.backend: 'oracle' is not one of sqlite, memory, redis"),
            ("[store]\nbackend = \"redis\"", "vigil.toml: store.url: backend = \"redis\" needs url or cluster_nodes"),
            ("[store]\nurl = \"redis://h:1\"", "vigil.toml: store.url: is only used with backend = \"redis\""),
            ("[store]\nbackend = \"redis\"\nurl = \"http://h:1\"", "vigil.toml: store.url: "),
            ("[store]\nbackend = \"redis\"\nurl = \"redis://h:99999\"", "vigil.toml: store.url: "),
            ("[store]\nbackend = \"redis\"\nurl = \"redis://h:1\"\ncluster_nodes = [\"h:2\"]", "vigil.toml: store.cluster_nodes: give either"),
            ("[store]\nbackend = \"redis\"\ncluster_nodes = [\"h\"]", "vigil.toml: store.cluster_nodes: 'h' is not host:port"),
            ("[store]\nbackend = \"redis\"\ncluster_nodes = []", "vigil.toml: store.cluster_nodes: must name at least one"),
            ("[store]\nbackend = \"redis\"\nurl = \"redis://h:1\"\npassword = \"x\"", "vigil.toml: store.password: goes into the url"),
            ("[store]\nbackend = \"redis\"\nurl = \"redis://h:1\"\nkey_prefix = \"a{b}:\"", "vigil.toml: store.key_prefix: must not contain"),
            ("[store]\nbackend = \"redis\"\nurl = \"redis://h:1\"\nkey_prefix = \"\"", "vigil.toml: store.key_prefix: must be 1 to 64"),
            ("[store]\nbackend = \"redis\"\nurl = \"redis://h:1\"\nkey_prefix = \"mediamtx:x\"", "vigil.toml: store.key_prefix: must not start"),
            ("[store]\nbackend = \"redis\"\nurl = \"redis://h:1\"\nmax_events = 5", "vigil.toml: store.max_events: 5 is out of range"),
            ("[store]\nbackend = \"redis\"\nurl = \"redis://h:1\"\ninstance = \"a b\"", "vigil.toml: store.instance: must be 1 to 64"),
            ("[store]\nbackend = \"redis\"\nurl = \"redis://h:1\"\ninstance = \"\"", "vigil.toml: store.instance: must be 1 to 64"),
            ("[store]\ninstance = \"a\"", "vigil.toml: store.instance: is only used with backend"),
            (
                "[store]\nbackend = \"redis\"\nurl = \"redis://h:1\"\nmax_points_per_series = 0",
                "vigil.toml: store.max_points_per_series: 0 is out of range"
            ),
            ("[store]\nbackend = \"redis\"\nurl = \"redis://h:1\"\ncommand_timeout = \"10ms\"", "vigil.toml: store.command_timeout: must be between"),
            ("[store]\nbackend = \"redis\"\nurl = \"redis://h:1\"\nconnect_timeout = \"1h\"", "vigil.toml: store.connect_timeout: must be between"),
            ("[store]\nbackend = \"redis\"\nurl = \"redis://h:1\"\nmax_retries = 101", "vigil.toml: store.max_retries: 101 is out of range"),
            ("[store]\nmax_retries = 2", "vigil.toml: store.max_retries: is only used with backend"),
            ("[log]\nlog_level = \"loud\"", "vigil.toml: log.log_level: 'loud' is not one of"),
            ("[host]\nenabled = \"maybe\"", "vigil.toml: host.enabled: expected a boolean, got 'maybe'"),
            ("[host]\ndisks = [1, 2]", "vigil.toml: host.disks: expected an array of strings, found integer"),
            ("http = 3", "vigil.toml: http: expected a table ([http]), got integer"),
            ("[http]\nlive_ping_interval = \"10ms\"", "vigil.toml: http.live_ping_interval: must be at least 1s"),
            ("[http]\nlive_max_pending_events = 0", "vigil.toml: http.live_max_pending_events:"),
            ("[http]\nlive_max_clients = 0", "vigil.toml: http.live_max_clients: 0 is out of range"),
            ("[http]\nlive_max_queued_bytes = 100", "vigil.toml: http.live_max_queued_bytes: 100 is out of range"),
            ("[http]\nlive_max_requests_per_second = -1", "vigil.toml: http.live_max_requests_per_second: -1 is out of range"),
        ]
    )
    func badValues(text: String, message: String) {
        let error = #expect(throws: ConfigurationError.self) { try VigilConfiguration.parse(text, file: "vigil.toml") }
        #expect(error?.description.hasPrefix(message) == true, "\(String(describing: error))")
    }

    @Test("The Redis store's timeouts and retries reach its client")
    func redisStoreTimeouts() throws {
        let configuration = try VigilConfiguration.parse(
            "[store]\nbackend = \"redis\"\nurl = \"redis://h:1\"\nconnect_timeout = \"2s\"\ncommand_timeout = \"750ms\"\nmax_retries = 7\n",
            file: "vigil.toml"
        )
        let client = try StoreFactory.redisClient(configuration.store, logger: Logger(label: "test"))
        #expect(client.configuration.node.connectTimeout == .seconds(2))
        #expect(client.configuration.node.commandTimeout == .milliseconds(750))
        #expect(client.configuration.maxRetries == 7)
        let defaults = try StoreFactory.redisClient(
            try VigilConfiguration.parse("[store]\nbackend = \"redis\"\nurl = \"redis://h:1\"\n", file: "vigil.toml").store,
            logger: Logger(label: "test")
        )
        #expect(defaults.configuration.node.commandTimeout == .seconds(10) && defaults.configuration.maxRetries == 3)
    }

    @Test("A TOML syntax error reports its line")
    func syntaxError() {
        let error = #expect(throws: ConfigurationError.self) {
            try VigilConfiguration.parse("[http]\nlisten = \"a:1\"\nbroken = = 3\n", file: "x.toml")
        }
        #expect(error?.line == 3)
        #expect(error?.description.hasPrefix("x.toml:3: TOML syntax error") == true)
    }

    @Test("Unknown sections and keys are warnings, not errors")
    func warnings() throws {
        let configuration = try VigilConfiguration.parse("[http]\nlisen = \"x\"\n[bogus]\na = 1\n", file: "v.toml")
        #expect(configuration.warnings.contains("v.toml: unknown key 'http.lisen' (ignored)"))
        #expect(configuration.warnings.contains("v.toml: unknown section [bogus] (ignored)"))
    }

    @Test("Environment variables override the file, with the same validation")
    func environmentOverrides() throws {
        let configuration = try VigilConfiguration.parse(
            "[http]\nlisten = \"127.0.0.1:1\"\n",
            file: "v.toml",
            environment: ["VIGIL_HTTP_LISTEN": "127.0.0.1:2", "VIGIL_STORE_BACKEND": "memory", "VIGIL_HOST_ENABLED": "false"]
        )
        #expect(configuration.http.port == 2)
        #expect(configuration.store.backend == .memory)
        #expect(configuration.host.enabled == false)
        #expect(throws: ConfigurationError.self) {
            try VigilConfiguration.parse("", file: "v.toml", environment: ["VIGIL_HOST_INTERVAL": "soon"])
        }
    }

    @Test("The Redis store: url or cluster_nodes, from the file or the environment; a bad URL's password is masked")
    func redisStore() throws {
        let file = try VigilConfiguration.parse(
            "[store]\nbackend = \"redis\"\ncluster_nodes = [\"10.0.0.1:7000\", \"[::1]:7001\"]\npassword = \"pw\"\nkey_prefix = \"v2:\"\nmax_events = 500\n",
            file: "v.toml"
        )
        #expect(file.store.backend == .redis)
        #expect(file.store.redis == .cluster(nodes: ["10.0.0.1:7000", "[::1]:7001"], username: nil, password: "pw"))
        #expect(file.store.keyPrefix == "v2:")
        #expect(file.store.maxEvents == 500)
        #expect(file.warnings.isEmpty)
        let environment = try VigilConfiguration.parse(
            "",
            file: "v.toml",
            environment: ["VIGIL_STORE_BACKEND": "redis", "VIGIL_STORE_URL": "redis://u:secret@127.0.0.1:6390/3"]
        )
        #expect(environment.store.redis == .url("redis://u:secret@127.0.0.1:6390/3"))
        #expect(environment.store.keyPrefix == "vigil:")
        #expect(environment.store.instance == nil)
        #expect(VigilApplication.instanceName(environment).hasSuffix("-8080"))
        let named = try VigilConfiguration.parse(
            "[store]\nbackend = \"redis\"\nurl = \"redis://h:1\"\ninstance = \"vigil-a.1\"\n",
            file: "v.toml",
            environment: ["VIGIL_STORE_INSTANCE": "vigil_b-2"]
        )
        #expect(VigilApplication.instanceName(named) == "vigil_b-2")
        let error = #expect(throws: ConfigurationError.self) {
            try VigilConfiguration.parse("[store]\nbackend = \"redis\"\nurl = \"redis://u:hunter2@h:1/x\"\n", file: "v.toml")
        }
        #expect(error?.description.contains("hunter2") == false, "\(String(describing: error))")
    }

    @Test("Loading a missing file is a configuration error")
    func missingFile() {
        #expect(throws: ConfigurationError.self) { try VigilConfiguration.load(path: "/nonexistent/vigil.toml", environment: [:]) }
    }

    /// Inputs of the `config` fuzz target (docs/FUZZING.md) on which toml++'s assertions aborted the
    /// process instead of reporting a syntax error: a table header `[#` (crash-6c45635378c1a1e6…) and a
    /// `}` where an array expects a value (crash-26422d2e6a0f91ab…). The fuzz target decodes as lossy UTF-8.
    static let fuzzFindings: [(bytes: [UInt8], line: Int, message: String)] = [
        (
            [
                0x5b, 0x23, 0x20, 0x54, 0x68, 0x65, 0x20, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x20, 0x63,
                0x6f, 0x6e, 0x66, 0x69, 0x67, 0x75, 0x72, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x20, 0x91, 0x96, 0x20,
                0x69, 0x6f, 0x74, 0x6d, 0x6f, 0x6e, 0x69, 0x74, 0x6f, 0x72, 0x27, 0x73, 0x20, 0x6d, 0x61, 0x6e,
                0x75, 0x61, 0x6c, 0x20, 0x28, 0x73, 0x65, 0x65, 0x64, 0x20, 0x30, 0x30, 0x32, 0x29, 0x2c, 0x20,
                0x75, 0x6e, 0x63, 0x68, 0x61, 0x6e, 0x67, 0x65, 0x64, 0x2e, 0x20, 0x56, 0x69, 0x63, 0x65, 0x5f,
                0x65, 0x73, 0x70, 0x30, 0x34, 0x5d, 0x0a, 0x77, 0x61, 0x74, 0x63, 0x68, 0x54, 0x69, 0x6d, 0x65,
                0x4f, 0x75, 0x74, 0x3d, 0x36, 0x30, 0x0a, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x54, 0x6f, 0x70, 0x69,
                0x63, 0x3d, 0x22, 0x68, 0x6f, 0x6d, 0x65, 0x2f, 0x65, 0x73, 0x70, 0x30, 0x34, 0x22, 0x0a, 0x77,
                0x61, 0x74, 0x73, 0x68, 0x54, 0x6f, 0x70, 0x69, 0x63, 0x73, 0x3d, 0x22, 0x68, 0x6f, 0x6d, 0x65,
                0x2f, 0x65, 0x73, 0x70, 0xd4, 0xcb, 0x2f, 0x73, 0x65, 0x6e, 0x73, 0x6f, 0x72, 0x73, 0x2f, 0x23,
                0x22, 0x0a, 0x73, 0x74, 0x61, 0x74, 0x65, 0x54, 0x6f, 0x70, 0x69, 0x63, 0x73, 0x3d, 0x22, 0x68,
                0x6f, 0x6d, 0x65, 0x2f, 0x65, 0x73, 0x70, 0x30, 0x33, 0x2f, 0x61, 0x63, 0x74, 0x75, 0x61, 0x74,
                0x6f, 0x72, 0x73, 0x2f, 0x23, 0x22, 0x0a, 0x0a, 0x5b, 0x61, 0x67, 0x65, 0x6e, 0x74, 0x5f, 0x6c,
                0x65, 0x64, 0x62, 0x6f, 0x78, 0x64, 0x61, 0x65, 0x76, 0x69, 0x73, 0x69, 0x6f, 0x6e, 0x61, 0x69,
                0x72, 0x65, 0x6d, 0x6f,
            ],
            1, "TOML syntax error: a table header must start with a key"
        ),
        (
            [
                0x5b, 0x6a, 0x61, 0x6e, 0x75, 0x73, 0x5d, 0x0a, 0x62, 0x72, 0x6f, 0x76, 0x61, 0x69, 0x6c, 0x61,
                0x62, 0x5f, 0x73, 0x78, 0x3d, 0x5b, 0x22, 0x20, 0x67, 0x20, 0x79, 0x36, 0x30, 0x22, 0x2c, 0x7d,
                0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d,
                0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d,
                0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d,
                0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x7d, 0x20, 0x22, 0x67, 0x78, 0x79, 0x31, 0x33,
                0x22, 0x5d, 0x0a, 0x66, 0x63, 0x69, 0x6c, 0x6f, 0x76, 0x65, 0x72, 0x5f, 0x77, 0x61, 0x69, 0x74,
                0x5f, 0x74, 0x69, 0x6d, 0x65, 0x20, 0x3d, 0x20, 0x22, 0x75, 0x22, 0x0a,
            ],
            2, "TOML syntax error: expected a value or ']' in an array, saw '}'"
        ),
    ]

    @Test("Fuzz findings in the TOML parser are syntax errors, not crashes", arguments: fuzzFindings)
    func tomlParserFuzzFindings(input: (bytes: [UInt8], line: Int, message: String)) {
        let error = #expect(throws: ConfigurationError.self) {
            try VigilConfiguration.parse(String(decoding: input.bytes, as: UTF8.self), file: "fuzz.toml")
        }
        #expect(error?.line == input.line)
        #expect(error?.message == input.message)
    }

    @Test(
        "A '}' where an array expects a value is refused before the TOML parser",
        arguments: [("a = [}]\n", 1), ("a = [1, }\n", 1), ("a = [\n  # c\n  }\n", 3), ("a = [{b = 1}, }]\n", 1), ("a = [[], }\n", 1)]
    )
    func braceInArray(text: String, line: Int) {
        let error = #expect(throws: ConfigurationError.self) { try VigilConfiguration.parse(text, file: "v.toml") }
        #expect(error?.line == line, "\(String(describing: error))")
        #expect(error?.message == "TOML syntax error: expected a value or ']' in an array, saw '}'")
    }

    @Test(
        "Headers whose brackets are not followed by a key are refused before the TOML parser",
        arguments: [
            ("[#x]\n", 1), ("a = 1\n[ =]\n", 2), ("[[\n", 1), ("[[ {x}]]\n", 1), ("[\t\n", 1), ("x = \"\"\"\n\"\"\"\n[.a]\n", 3),
        ]
    )
    func keylessTableHeaders(text: String, line: Int) {
        let error = #expect(throws: ConfigurationError.self) { try VigilConfiguration.parse(text, file: "v.toml") }
        #expect(error?.line == line, "\(String(describing: error))")
        #expect(error?.message == "TOML syntax error: a table header must start with a key")
    }

    @Test("Brackets starting a line inside strings, comments and arrays are not table headers")
    func bracketsThatAreNotHeaders() throws {
        let text = """
            # [# a comment
            [log]
            level = "info" # [=
            [http]
            listen = \"""
            [#not a header
            \"""
            [ "bogus" ]
            matrix = [
              [ # a nested array
                1,
              ],
              [
              ],
            ]
            """
        // Parsing may fail on the keys (they are not Vigil's), but not in the precheck.
        do {
            _ = try VigilConfiguration.parse(text, file: "v.toml")
        } catch let error as ConfigurationError {
            #expect(!error.message.contains("table header must") && !error.message.contains("in an array"), "\(error)")
        }
    }
}
