//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilApp
import VigilCore
import VigilMQTT
import VigilMonitors
import VigilStorage
import VigilWeb

/// Every number a file or an environment variable chooses is range-checked before conversion:
/// extreme values are a ``ConfigurationError`` naming the file and the key (exit 2), never a trap.
@Suite("Configuration: extreme numbers and durations")
struct ConfigNumbersTests {
    static let component = "[component]\nname = \"a\"\nsecret = \"s\"\ndomain = \"d\"\n"

    private func failure(_ text: String, environment: [String: String] = [:]) -> ConfigurationError? {
        #expect(throws: ConfigurationError.self) { try VigilConfiguration.parse(text, file: "x.toml", environment: environment) }
    }

    @Test(
        "Durations: huge, negative, not a number, or zero where zero means nothing",
        arguments: [
            ("[store]\nretention = \"1e20s\"", "x.toml: store.retention: '1e20s' is not a duration"),
            ("[store]\nretention = \"1e20\"", "x.toml: store.retention: '1e20' is longer than the maximum of 36500d"),
            ("[store]\nretention = 1e20", "x.toml: store.retention: '1e+20' is longer than the maximum of 36500d"),
            ("[store]\nretention = 1e308", "x.toml: store.retention: '1e+308' is longer than the maximum"),
            ("[store]\nretention = inf", "x.toml: store.retention: 'inf' is not a duration"),
            ("[store]\nretention = nan", "x.toml: store.retention: 'nan' is not a duration"),
            ("[store]\nretention = -inf", "x.toml: store.retention: must not be negative"),
            ("[store]\nretention = 9223372036854775807", "x.toml: store.retention: '9223372036854775807' is longer than the maximum"),
            ("[store]\nretention = \"99999999999999999999h\"", "x.toml: store.retention: '99999999999999999999h' is longer than the maximum"),
            ("[store]\nretention = \"36501d\"", "x.toml: store.retention: '36501d' is longer than the maximum"),
            ("[store]\nretention = \"0s\"", "x.toml: store.retention: must be greater than zero"),
            ("[store]\nprune_interval = -5", "x.toml: store.prune_interval: must not be negative, got -5"),
            ("[http]\nlive_ping_interval = \"-5s\"", "x.toml: http.live_ping_interval: '-5s' is not a duration"),
            ("[http]\nlive_write_timeout = \"0s\"", "x.toml: http.live_write_timeout: must be at least 1s"),
            ("[host]\ninterval = 0", "x.toml: host.interval: must be at least 100ms"),
            ("[watchdog]\nup_interval = \"1e20\"", "x.toml: watchdog.up_interval: '1e20' is longer than the maximum"),
            ("[watchdog]\nexpire_repeat = \"1ns\"", "x.toml: watchdog.expire_repeat: must be 0s (once) or at least 100ms"),
            ("[mqtt]\nkeep_alive = \"100000s\"", "x.toml: mqtt.keep_alive: must be at most 65535s"),
            ("[mqtt]\nkeep_alive = 0", "x.toml: mqtt.keep_alive: must be at least 1s"),
            ("[mqtt]\nreceive_maximum = 0", "x.toml: mqtt.receive_maximum: 0 is out of range 1...65535"),
            ("[mqtt]\nreceive_maximum = 65536", "x.toml: mqtt.receive_maximum: 65536 is out of range 1...65535"),
            ("[mqtt]\nsession_expiry = \"36501d\"", "x.toml: mqtt.session_expiry: '36501d' is longer than the maximum"),
            ("[mqtt]\nsession_expiry = -1", "x.toml: mqtt.session_expiry: must not be negative, got -1"),
            ("[device_x]\nwatchTimeOut = 1e300", "x.toml: device_x.watchTimeOut: '1e+300' is longer than the maximum"),
            ("[device_x]\nwatchTimeOut = nan", "x.toml: device_x.watchTimeOut: 'nan' is not a duration"),
            ("[device_x]\nwatchTimeOut = 0", "x.toml: device_x.watchTimeOut: must be at least 1 second"),
            ("[agent_a]\nexec = \"true\"\nrestart_window = \"0s\"", "x.toml: agent_a.restart_window: must be greater than zero"),
            ("[agent_a]\nexec = \"true\"\nrestart_backoff = \"1e20s\"", "x.toml: agent_a.restart_backoff: '1e20s' is not a duration"),
            ("[agent_a]\nexec = \"true\"\nstop_timeout = 1e19", "x.toml: agent_a.stop_timeout: '1e+19' is longer than the maximum"),
            ("[janus]\npoll_interval = \"1e20\"", "x.toml: janus.poll_interval: '1e20' is longer than the maximum"),
            ("[janus]\nrequest_timeout = 0", "x.toml: janus.request_timeout: must be at least 10ms"),
            ("[visionaire]\nrequest_timeout = \"0s\"", "x.toml: visionaire.request_timeout: must be greater than zero"),
            ("[mediamtx]\ninterval = -1.5", "x.toml: mediamtx.interval: must not be negative, got -1.5"),
            (
                component + "ping_interval = \"99999999999999999999999h\"",
                "x.toml: component.ping_interval: '99999999999999999999999h' is longer than the maximum"
            ),
            (component + "[user-activity-redis]\nread_timeout = 0", "x.toml: user-activity-redis.read_timeout: must be at least 1ms"),
            (
                component + "[user-activity-redis]\nread_timeout = 1e19",
                "x.toml: user-activity-redis.read_timeout: '1e+19' is longer than the maximum"
            ),
            (component + "[user-activity-rest-api]\nrequest_timeout = 0", "x.toml: user-activity-rest-api.request_timeout: must be at least 1ms"),
        ]
    )
    func durations(text: String, message: String) {
        let error = failure(text)
        #expect(error?.description.hasPrefix(message) == true, "\(String(describing: error))")
    }

    @Test(
        "Integers and numbers: ports, counts and rates out of range",
        arguments: [
            ("[http]\nport = 70000", "x.toml: http.port: 70000 is out of range 0...65535"),
            ("[http]\nport = -1", "x.toml: http.port: -1 is out of range 0...65535"),
            ("[http]\nlisten = \"127.0.0.1:99999\"", "x.toml: http.listen: '127.0.0.1:99999' is not host:port"),
            ("[http]\nlive_max_pending_events = 9223372036854775807", "x.toml: http.live_max_pending_events: 9223372036854775807 is out of range"),
            ("[http]\nlive_snapshot_events = -9223372036854775808", "x.toml: http.live_snapshot_events: -9223372036854775808 is out of range"),
            ("[http]\nport = 8080.5", "x.toml: http.port: expected an integer, got float"),
            ("[mqtt]\nserverAddress = \"tcp://h:0\"", "x.toml: mqtt.serverAddress: MQTT error invalidURL: 'tcp://h:0': invalid port '0'"),
            ("[mqtt]\nserverAddress = \"tcp://h:65536\"", "x.toml: mqtt.serverAddress: MQTT error invalidURL: 'tcp://h:65536': invalid port"),
            ("[visionaire]\nexporter_port = 65536", "x.toml: visionaire.exporter_port: 65536 is out of range 0...65535"),
            ("[visionaire]\nmax_concurrent_requests = 0", "x.toml: visionaire.max_concurrent_requests: 0 is out of range"),
            ("[watchdog]\nstate_max_topics = 0", "x.toml: watchdog.state_max_topics: 0 is out of range 1...1000000"),
            ("[watchdog]\nstate_max_bytes = 9223372036854775807", "x.toml: watchdog.state_max_bytes: 9223372036854775807 is out of range"),
            ("[watchdog]\nstate_max_bytes = 2048", "x.toml: watchdog.state_max_bytes: must be greater than state_max_payload (65536)"),
            ("[watchdog]\nstate_max_payload = 2000000", "x.toml: watchdog.state_max_payload: must be less than state_max_bytes (1048576)"),
            ("[agent_a]\nexec = \"true\"\nmax_restarts = -1", "x.toml: agent_a.max_restarts: -1 is out of range"),
            (component + "[ejabberd]\nrate_limit = 1e-300", "x.toml: ejabberd.rate_limit: 1e-300 is out of range 0.001...1000000"),
            (component + "[ejabberd]\nrate_limit = inf", "x.toml: ejabberd.rate_limit: expected a finite number, got inf"),
            (component + "[ejabberd]\nrate_limit = nan", "x.toml: ejabberd.rate_limit: expected a finite number, got nan"),
            (component + "[ejabberd]\neach_node_conn_num = 100000", "x.toml: ejabberd.each_node_conn_num: 100000 is out of range 1...64"),
            (component + "[user-activity-redis]\ndb = 16", "x.toml: user-activity-redis.db: 16 is out of range 0...15"),
        ]
    )
    func numbers(text: String, message: String) {
        let error = failure(text)
        #expect(error?.description.hasPrefix(message) == true, "\(String(describing: error))")
    }

    @Test("An integer too large for TOML is a syntax error with its line, not a trap")
    func tomlOverflow() {
        let error = failure("[http]\nport = 99999999999999999999\n")
        #expect(error?.file == "x.toml")
        #expect(error?.line == 2)
    }

    @Test(
        "Environment overrides are range-checked the same way",
        arguments: [
            ("VIGIL_STORE_RETENTION", "1e20", "x.toml: store.retention: '1e20' is longer than the maximum"),
            ("VIGIL_HTTP_PORT", "65536", "x.toml: http.port: 65536 is out of range"),
            ("VIGIL_HTTP_PORT", "99999999999999999999", "x.toml: http.port: expected an integer, got '99999999999999999999'"),
            ("VIGIL_HTTP_LIVE_PING_INTERVAL", "nan", "x.toml: http.live_ping_interval: 'nan' is not a duration"),
            ("VIGIL_WATCHDOG_STATE_MAX_TOPICS", "-1", "x.toml: watchdog.state_max_topics: -1 is out of range"),
            ("FAILOVER_WAIT_TIME", "1e20", "<environment>: FAILOVER_WAIT_TIME: '1e20' is longer than the maximum"),
            ("FAILOVER_WAIT_TIME", "-5s", "<environment>: FAILOVER_WAIT_TIME: '-5s' is not a duration"),
        ]
    )
    func environment(variable: String, value: String, message: String) {
        let error = failure("", environment: [variable: value])
        #expect(error?.description.hasPrefix(message) == true, "\(String(describing: error))")
    }

    @Test("Values at the edges of their ranges are accepted")
    func edges() throws {
        let configuration = try VigilConfiguration.parse(
            """
            [store]
            retention = "36500d"
            [http]
            port = 65535
            [watchdog]
            expire_repeat = "0s"
            state_max_topics = 1
            state_max_bytes = 1024
            state_max_payload = 1023
            [mqtt]
            keep_alive = "65535s"
            """,
            file: "x.toml"
        )
        #expect(configuration.store.retention == DurationParser.maximum)
        #expect(configuration.http.port == 65535)
        #expect(configuration.devices.watchdog.stateLimits == DeviceStateLimits(maxTopics: 1, maxBytes: 1024, maxPayload: 1023))
        #expect(configuration.mqtt?.keepAlive == .seconds(65535))
    }

    @Test(
        "Errors quote URLs with their credentials masked",
        arguments: [
            (
                "[mqtt]\nserverAddress = \"mqtt://user:SeCrEt1@host:99999\"",
                "x.toml: mqtt.serverAddress: MQTT error invalidURL: 'mqtt://***@host:99999': invalid port"
            ),
            ("[mqtt]\nserverAddress = \"ftp://user:SeCrEt1@host\"", "x.toml: mqtt.serverAddress:"),
            ("[janus]\nbroker_url = \"mqtt://u:SeCrEt1@h:0\"", "x.toml: janus.broker_url: not a broker URL"),
            ("[janus]\nadmin_urls = \"a=ftp://u:SeCrEt1@h\"", "x.toml: janus.admin_urls: 'a=ftp://***@h'"),
            ("[visionaire]\napi_base_urls = \"ftp://u:SeCrEt1@h\"", "x.toml: visionaire.api_base_urls: 'ftp://***@h'"),
            ("[[mediamtx.instances]]\nname = \"m\"\nurl = \"ftp://SeCrEt1@h\"", "x.toml: mediamtx.instances[0].url: 'ftp://***@h'"),
        ]
    )
    func credentialsMasked(text: String, message: String) {
        let error = failure(text)
        #expect(error?.description.hasPrefix(message) == true, "\(String(describing: error))")
        #expect(error?.description.contains("SeCrEt1") == false)
    }

    @Test("An agent's own environment and passed names are read and checked")
    func agentEnvironment() throws {
        let configuration = try VigilConfiguration.parse(
            """
            [agent_a]
            exec = "true"
            environment = { MQTT_HOST = "broker", TZ = "UTC" }
            pass_environment = "PYTHONPATH, VIRTUAL_ENV"
            [agent_b]
            exec = "true"
            environment = ["A=1", "B=x=y"]
            """,
            file: "x.toml"
        )
        let agents = configuration.devices.agents.agents
        #expect(agents.map(\.environment) == [["MQTT_HOST": "broker", "TZ": "UTC"], ["A": "1", "B": "x=y"]])
        #expect(agents.first?.passEnvironment == ["PYTHONPATH", "VIRTUAL_ENV"])
        let overridden = try VigilConfiguration.parse(
            "[agent_a]\nexec = \"true\"\n",
            file: "x.toml",
            environment: ["VIGIL_AGENT_A_ENVIRONMENT": "X=1,Y=2"]
        )
        #expect(overridden.devices.agents.agents.first?.environment == ["X": "1", "Y": "2"])
        for (text, message) in [
            ("environment = { \"1X\" = \"v\" }", "x.toml: agent_a.environment: '1X' is not a variable name"),
            ("environment = [\"NOEQUALS\"]", "x.toml: agent_a.environment: 'NOEQUALS' is not NAME=value"),
            ("environment = { A = 1 }", "x.toml: agent_a.environment: 'A' must be a string, got integer"),
            ("pass_environment = \"A-B\"", "x.toml: agent_a.pass_environment: 'A-B' is not a variable name"),
        ] {
            let error = failure("[agent_a]\nexec = \"true\"\n" + text)
            #expect(error?.description.hasPrefix(message) == true, "\(String(describing: error))")
        }
    }
}
