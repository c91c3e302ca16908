//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilMonitors
import VigilWeb

@testable import VigilApp

@Suite("Configuration: listeners and tokens")
struct ListenerConfigurationTests {
    static let component = "[component]\nname = \"a\"\nsecret = \"s\"\ndomain = \"d\"\n"

    @Test("The seed-001 example without a token refuses to start and says what to set")
    func seedWithoutToken() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try VigilConfiguration.parse(
                try AnnouncerConfigurationTests.seedExampleText,
                file: "announcer.toml",
                environment: AnnouncerConfigurationTests.brokersEnvironment
            )
        }
        #expect(error?.key == "http.token")
        #expect(error?.description.contains("[http] listen (0.0.0.0:8080) listens beyond loopback") == true, "\(String(describing: error))")
        #expect(error?.description.contains("VIGIL_HTTP_TOKEN") == true)
    }

    @Test(
        "rest_api_port on the [http] port shares the listener, on the wider address",
        arguments: [
            ("127.0.0.1:8080", ":8080", "0.0.0.0"), ("0.0.0.0:8080", "127.0.0.1:8080", "0.0.0.0"), ("127.0.0.1:8080", "[::]:8080", "::"),
            ("0.0.0.0:8080", "[::]:8080", "::"), ("10.0.0.1:8080", "10.0.0.1:8080", "10.0.0.1"), ("[::]:8080", ":8080", "::"),
        ]
    )
    func shared(listen: String, rest: String, host: String) throws {
        let configuration = try VigilConfiguration.parse(
            "rest_api_port = \"\(rest)\"\n[http]\nlisten = \"\(listen)\"\ntoken = \"t\"\n" + Self.component,
            file: "a.toml"
        )
        #expect(configuration.http.host == host && configuration.http.port == 8080)
        #expect(VigilConfiguration.announcerOwnListener(try #require(configuration.announcer), http: configuration.http) == nil)
    }

    @Test("Two different single addresses on one port are an error naming rest_api_port")
    func sharedConflict() {
        let error = #expect(throws: ConfigurationError.self) {
            try VigilConfiguration.parse(
                "rest_api_port = \"10.0.0.1:8080\"\n[http]\nlisten = \"127.0.0.1:8080\"\ntoken = \"t\"\n" + Self.component,
                file: "a.toml"
            )
        }
        #expect(error?.key == "rest_api_port")
    }

    @Test("Another port gets its own listener; beyond loopback it needs the token")
    func ownListener() throws {
        let loopback = try VigilConfiguration.parse("rest_api_port = \"127.0.0.1:9090\"\n" + Self.component, file: "a.toml")
        #expect(VigilConfiguration.announcerOwnListener(try #require(loopback.announcer), http: loopback.http)! == ("127.0.0.1", 9090))
        #expect(loopback.http.host == "127.0.0.1")

        let error = #expect(throws: ConfigurationError.self) {
            try VigilConfiguration.parse("rest_api_port = \":9090\"\n" + Self.component, file: "a.toml")
        }
        #expect(error?.description.contains("rest_api_port (0.0.0.0:9090) listens beyond loopback") == true, "\(String(describing: error))")

        let withToken = try VigilConfiguration.parse(
            "rest_api_port = \":9090\"\n" + Self.component,
            file: "a.toml",
            environment: ["VIGIL_HTTP_TOKEN": "t"]
        )
        #expect(VigilConfiguration.announcerOwnListener(try #require(withToken.announcer), http: withToken.http)! == ("0.0.0.0", 9090))
        #expect(withToken.http.host == "127.0.0.1")
    }

    @Test(
        "[http] listen beyond loopback needs a token; loopback addresses do not",
        arguments: [
            ("0.0.0.0:8080", false), ("[::]:8080", false), ("10.1.2.3:8080", false), ("example.org:80", false), (":8080", false),
            ("127.0.0.1:8080", true), ("127.9.9.9:1", true), ("[::1]:8080", true), ("localhost:8080", true),
        ]
    )
    func mainListener(listen: String, loopback: Bool) throws {
        let text = "[http]\nlisten = \"\(listen)\"\n"
        if loopback {
            _ = try VigilConfiguration.parse(text, file: "a.toml")
        } else {
            let error = #expect(throws: ConfigurationError.self) { try VigilConfiguration.parse(text, file: "a.toml") }
            #expect(error?.description.hasPrefix("a.toml: http.token: [http] listen") == true, "\(String(describing: error))")
            _ = try VigilConfiguration.parse(text + "token = \"t\"\n", file: "a.toml")
        }
    }

    @Test("The Visionaire exporter binds loopback by default; beyond loopback it needs the token")
    func visionaireExporter() throws {
        let section = "[visionaire]\napi_base_urls = [\"http://10.0.28.11:4004\"]\n"
        let loopback = try VigilConfiguration.parse(section, file: "a.toml")
        #expect(loopback.visionaire.exporterHost == "127.0.0.1" && loopback.visionaire.exporterPort == 9898)

        let error = #expect(throws: ConfigurationError.self) {
            try VigilConfiguration.parse(section + "exporter_host = \"0.0.0.0\"\n", file: "a.toml")
        }
        #expect(error?.key == "http.token")
        #expect(
            error?.description.contains("[visionaire] exporter_host (0.0.0.0:9898) listens beyond loopback") == true,
            "\(String(describing: error))"
        )
        // With a token, or with no extra listener, it starts.
        _ = try VigilConfiguration.parse(section + "exporter_host = \"0.0.0.0\"\n", file: "a.toml", environment: ["VIGIL_HTTP_TOKEN": "t"])
        _ = try VigilConfiguration.parse(section + "exporter_host = \"0.0.0.0\"\nexporter_port = 0\n", file: "a.toml")
        // Without Visionaire hosts there is no exporter, whatever its address.
        _ = try VigilConfiguration.parse("[visionaire]\nexporter_host = \"0.0.0.0\"\n", file: "a.toml")
    }

    @Test("The iotmonitor address/port keys are checked the same way")
    func iotmonitorKeys() throws {
        #expect(throws: ConfigurationError.self) { try VigilConfiguration.parse("[http]\naddress = \"0.0.0.0\"\nport = 8080\n", file: "a.toml") }
        _ = try VigilConfiguration.parse("[http]\naddress = \"127.0.0.1\"\nport = 8080\n", file: "a.toml")
    }
}
