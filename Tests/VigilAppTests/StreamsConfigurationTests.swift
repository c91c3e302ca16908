//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilApp
import VigilMonitors

@Suite("Streams configuration")
struct StreamsConfigurationTests {
    @Test("Defaults: both pollers off, the seed's interval, timeout and port")
    func defaults() throws {
        let configuration = try VigilConfiguration.defaults(environment: [:])
        #expect(!configuration.visionaire.enabled)
        #expect(configuration.visionaire.updateInterval == .seconds(60))
        #expect(configuration.visionaire.requestTimeout == .seconds(10))
        #expect(configuration.visionaire.exporterPort == 9898)
        #expect(!configuration.mediamtx.enabled)
        #expect(configuration.mediamtx.interval == .seconds(2))
    }

    @Test("[visionaire] and [[mediamtx.instances]] are read, with environment overrides")
    func parse() throws {
        let configuration = try VigilConfiguration.parse(
            """
            [visionaire]
            api_base_urls = ["http://10.0.28.11:4004", "http://10.10.2.19:4004"]
            update_interval = 60
            request_timeout = "3s"
            exporter_port = 9899
            max_concurrent_requests = 16

            [mediamtx]
            interval = "1s"
            items_per_page = 50

            [[mediamtx.instances]]
            name = "studio"
            url = "http://10.0.0.5:9997"
            user = "monitor"
            password = "secret"

            [[mediamtx.instances]]
            name = "edge"
            url = "http://10.0.0.6:9997"
            """,
            file: "vigil.toml",
            environment: ["VIGIL_VISIONAIRE_EXPORTER_PORT": "0"]
        )
        #expect(configuration.warnings.isEmpty)
        #expect(configuration.visionaire.apiBaseURLs == ["http://10.0.28.11:4004", "http://10.10.2.19:4004"])
        #expect(configuration.visionaire.updateInterval == .seconds(60))
        #expect(configuration.visionaire.requestTimeout == .seconds(3))
        #expect(configuration.visionaire.exporterPort == 0)
        #expect(configuration.visionaire.maxConcurrentRequests == 16)
        #expect(configuration.mediamtx.interval == .seconds(1))
        #expect(configuration.mediamtx.itemsPerPage == 50)
        #expect(
            configuration.mediamtx.instances == [
                .init(name: "studio", url: "http://10.0.0.5:9997", user: "monitor", password: "secret"),
                .init(name: "edge", url: "http://10.0.0.6:9997"),
            ]
        )
    }

    @Test(
        "Errors name the key",
        arguments: [
            ("[visionaire]\napi_base_urls = [\"10.0.28.11:4004\"]", "visionaire.api_base_urls"),
            ("[visionaire]\nexporter_port = 70000", "visionaire.exporter_port"),
            ("[visionaire]\nupdate_interval = \"soon\"", "visionaire.update_interval"),
            ("[[mediamtx.instances]]\nurl = \"http://a:9997\"", "mediamtx.instances[0].name"),
            ("[[mediamtx.instances]]\nname = \"a\"\nurl = \"ftp://a\"", "mediamtx.instances[0].url"),
            (
                "[[mediamtx.instances]]\nname = \"a\"\nurl = \"http://a\"\n[[mediamtx.instances]]\nname = \"a\"\nurl = \"http://b\"",
                "mediamtx.instances[1].name"
            ),
            ("[[mediamtx.instances]]\nname = \"a\"\nurl = \"http://a\"\npasword = \"x\"", "mediamtx.instances[0].pasword"),
        ]
    )
    func errors(text: String, key: String) {
        let error = #expect(throws: ConfigurationError.self) { try VigilConfiguration.parse(text, file: "vigil.toml") }
        #expect(error?.key == key)
    }
}
