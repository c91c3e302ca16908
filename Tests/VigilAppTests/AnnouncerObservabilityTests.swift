//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import Testing
import VigilAnnouncer
import VigilClientSupport
import VigilXMPP

@testable import VigilApp

@Suite("Configuration and state: Announcer sources without Redis, STARTTLS, connection states")
struct AnnouncerObservabilityTests {
    static let component = "[component]\nname = \"a\"\nsecret = \"s\"\ndomain = \"example.test\"\n"
    static let client = "[client]\nusername = \"u\"\npassword = \"p\"\ndomain = \"example.test\"\n"

    @Test("[user-activity-rest-api] with the seed's keys and Vigil's contract keys")
    func restKeys() throws {
        let configuration = try VigilConfiguration.parse(
            Self.component + """
                [mysql]
                address = "127.0.0.1:3306"
                [user-activity-rest-api]
                address = "https://presence.example.test:8443"
                request_timeout = 12
                idle_conn_timeout = 1
                max_idle_conn = 1
                max_retry = 1
                path = "/api/online"
                request_field = ""
                response_field = "users"
                max_response_bytes = 65536
                """,
            file: "a.toml"
        )
        var expected = AnnouncerConfiguration.RESTSettings()
        expected.address = "https://presence.example.test:8443"
        expected.requestTimeout = .milliseconds(12)
        expected.idleConnectionTimeout = .seconds(1)
        expected.maxIdleConnections = 1
        expected.maxRetry = 1
        expected.path = "/api/online"
        expected.requestField = ""
        expected.responseField = "users"
        expected.maxResponseBytes = 65_536
        #expect(configuration.announcer?.userActivity == .rest(expected))
        // Wired now: no "not wired" warning about channel announcements.
        #expect(!configuration.warnings.contains { $0.contains("not wired") })
    }

    @Test("[user-activity-ejabberd]: the API URL, credentials from the environment, limits")
    func ejabberdKeys() throws {
        let configuration = try VigilConfiguration.parse(
            Self.component + """
                [mysql]
                address = "127.0.0.1:3306"
                [user-activity-ejabberd]
                api_url = "http://127.0.0.1:5281/api"
                username = "admin@example.test"
                request_timeout = 1500
                max_retry = 4
                cache_duration = "500ms"
                """,
            file: "a.toml",
            environment: ["VIGIL_USER_ACTIVITY_EJABBERD_PASSWORD": "s3cret"]
        )
        var expected = AnnouncerConfiguration.EjabberdAPISettings(apiURL: "http://127.0.0.1:5281/api")
        expected.username = "admin@example.test"
        expected.password = "s3cret"
        expected.requestTimeout = .milliseconds(1_500)
        expected.maxRetry = 4
        expected.cacheDuration = .milliseconds(500)
        #expect(configuration.announcer?.userActivity == .ejabberdAPI(expected))
    }

    @Test("The buffer report is logged at info level only when the file sets buffer_report_duration")
    func bufferReportLevel() throws {
        let explicit = try #require(
            try VigilConfiguration.parse(Self.component + "[monitoring]\nbuffer_report_duration = 5\n", file: "a.toml").announcer
        )
        #expect(explicit.bufferReportExplicit && explicit.bufferReportInterval == .seconds(5))
        let implicit = try #require(try VigilConfiguration.parse(Self.component, file: "a.toml").announcer)
        #expect(!implicit.bufferReportExplicit && implicit.bufferReportInterval == .seconds(1))
    }

    @Test("[client] tls and ca_file")
    func clientTLS() throws {
        let caFile = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("vigil-ca-\(UUID().uuidString).pem")
        try "not checked at parse time".write(to: caFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: caFile) }
        let configuration = try VigilConfiguration.parse(Self.client + "tls = \"if_offered\"\nca_file = \"\(caFile.path)\"\n", file: "a.toml")
        guard case .client(let client) = configuration.announcer?.login else { throw AnnouncementError("no client login") }
        #expect(client.tls == .ifOffered && client.caFile == caFile.path)
        let plain = try VigilConfiguration.parse(Self.client, file: "a.toml")
        guard case .client(let seedClient) = plain.announcer?.login else { throw AnnouncementError("no client login") }
        #expect(seedClient.tls == .off && seedClient.caFile == nil)
    }

    @Test(
        "Errors name the key",
        arguments: [
            (client + "tls = \"sometimes\"", "a.toml: client.tls: 'sometimes' is not one of required, if_offered, off"),
            (
                client + "tls = \"required\"\nca_file = \"/nonexistent/ca.pem\"",
                "a.toml: client.ca_file: '/nonexistent/ca.pem' is not a readable file"
            ),
            (component + "[user-activity-ejabberd]\nusername = \"a@b\"", "a.toml: user-activity-ejabberd.api_url: is required"),
            (
                component + "[user-activity-ejabberd]\napi_url = \"ftp://h/api\"",
                "a.toml: user-activity-ejabberd.api_url: 'ftp://h/api' is not an http"
            ),
            (
                component + "[user-activity-ejabberd]\napi_url = \"http://u:p@h/api\"",
                "a.toml: user-activity-ejabberd.api_url: must not hold credentials"
            ),
            (
                component + "[user-activity-ejabberd]\napi_url = \"http://h/api\"\npassword = \"p\"",
                "a.toml: user-activity-ejabberd.password: needs a username"
            ),
            (component + "[user-activity-rest-api]\npath = \"v1/x\"", "a.toml: user-activity-rest-api.path: 'v1/x' must start with /"),
            (component + "[user-activity-rest-api]\nmax_response_bytes = 10", "a.toml: user-activity-rest-api.max_response_bytes:"),
            (component + "[user-activity-rest-api]\nrequest_timeout = 0", "a.toml: user-activity-rest-api.request_timeout: must be at least"),
        ]
    )
    func errors(text: String, message: String) {
        let error = #expect(throws: ConfigurationError.self) { try VigilConfiguration.parse(text, file: "a.toml") }
        #expect(error?.description.hasPrefix(message) == true, "\(String(describing: error))")
    }

    @Test("conn_req_check_interval caps the reconnection pause of component connections; TLS goes to client connections only")
    func clientConfigurations() throws {
        let component = try #require(
            try VigilConfiguration.parse(
                Self.component + "conn_req_check_interval = 3\n[ejabberd]\ncluster_nodes = \"h1:5347, h2:5347\"\neach_node_conn_num = 2\n",
                file: "a.toml"
            ).announcer
        )
        let clients = try AnnouncerServices.clientConfigurations(component)
        #expect(clients.count == 4)
        #expect(clients.allSatisfy { $0.backoff.maximumDelay == .seconds(3) })
        #expect(AnnouncerServices.connectionNodes(component) == ["h1:5347", "h1:5347", "h2:5347", "h2:5347"])
        let client = try #require(try VigilConfiguration.parse(Self.client + "tls = \"required\"\n", file: "a.toml").announcer)
        guard case .required = try AnnouncerServices.clientConfigurations(client)[0].connection.tls else {
            Issue.record("expected STARTTLS required")
            return
        }
    }

    @Test("Each client connection binds a resource of its own: numbered when there are several, with the instance name on several instances")
    func clientResources() throws {
        func resources(_ text: String, instance: String? = nil) throws -> [String?] {
            let configuration = try #require(try VigilConfiguration.parse(text, file: "a.toml").announcer)
            return AnnouncerServices.connectionConfigurations(configuration, instance: instance).map { connection in
                guard case .client(_, _, _, let resource) = connection.role else { return nil }
                return resource
            }
        }
        #expect(try resources(Self.client) == ["announcer"])
        #expect(try resources(Self.client, instance: "h-8080") == ["announcer-h-8080"])
        let several = Self.client + "resource = \"bot\"\n[ejabberd]\ncluster_nodes = \"h1:5222, h2:5222\"\neach_node_conn_num = 2\n"
        #expect(try resources(several) == ["bot-0", "bot-1", "bot-2", "bot-3"])
        #expect(try resources(several, instance: "i1") == ["bot-i1-0", "bot-i1-1", "bot-i1-2", "bot-i1-3"])
    }

    @Test("Connection states per node follow the clients' events")
    func connectionStates() {
        let metrics = XMPPConnectionMetrics(nodes: ["a:1", "a:1", "b:1"], giveUpWarning: 3, logger: Logger(label: "test"))
        #expect(metrics.connectedCount == (0, 3))
        let first = metrics.observer(for: 0)
        let third = metrics.observer(for: 2)
        first(.connecting(attempt: 1))
        first(.connected)
        third(.connecting(attempt: 1))
        #expect(metrics.connectedCount == (1, 3))
        first(.disconnected(failures: 0))
        #expect(metrics.connectedCount == (0, 3))
        first(.connecting(attempt: 1))
        first(.disconnected(failures: 1))
        first(.connecting(attempt: 2))
        first(.connected)
        third(.connected)
        #expect(metrics.connectedCount == (2, 3))
        first(.stopped)
        third(.stopped)
        #expect(metrics.connectedCount == (0, 3))
    }
}
