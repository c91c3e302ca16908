//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Hummingbird
import HummingbirdTesting
import Prometheus
import Testing
import VigilCore

@testable import VigilWeb

@Suite("Web routes")
struct WebRouterTests {
    struct Fixture {
        let hub: Hub
        let registry = PrometheusCollectorRegistry()
        let readiness = Readiness()
        var configuration = WebConfiguration()

        init(token: String? = nil) {
            hub = Hub(stores: MemoryStore().stores, clock: ManualClock(wallClockSeconds: 2000))
            configuration.token = token
        }

        var app: some ApplicationProtocol {
            Application(
                router: buildRouter(
                    WebDependencies(
                        hub: hub,
                        exporters: [registry],
                        readiness: readiness,
                        version: "9.9.9",
                        configuration: configuration
                    )
                )
            )
        }
    }

    func json(_ buffer: ByteBuffer) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))
    }

    @Test("/healthz is 200; /readyz is 503 until ready")
    func health() async throws {
        let fixture = Fixture()
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains("\"error\""))
            }
            fixture.readiness.set(true)
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test("/metrics serves the registry in Prometheus text format")
    func metrics() async throws {
        let fixture = Fixture()
        fixture.registry.makeGauge(
            descriptor: .init(metricName: "vigil_build_info", unitName: "", helpText: "Build."),
            labels: [("version", "9.9.9")]
        ).set(to: 1.0)
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == prometheusContentType)
                #expect(String(buffer: response.body).contains("vigil_build_info{version=\"9.9.9\"} 1"))
            }
        }
    }

    @Test("Collections list hub states by kind; one target by name; unknown name is 404")
    func collections() async throws {
        let fixture = Fixture()
        await fixture.hub.apply(Observation(target: TargetID(.host, "alpha"), time: 1, status: .up, samples: [Sample("load1", 0.25)]))
        await fixture.hub.apply(Observation(target: TargetID(.device, "esp04"), time: 1, status: .down))
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/api/v1/hosts", method: .get) { response in
                let list = try #require(try json(response.body) as? [[String: Any]])
                #expect(list.count == 1)
                #expect((list.first?["target"] as? [String: String])?["name"] == "alpha")
                #expect((list.first?["values"] as? [String: Double])?["load1"] == 0.25)
            }
            try await client.execute(uri: "/api/v1/devices/esp04", method: .get) { response in
                #expect(response.status == .ok)
                let body = try json(response.body) as? [String: Any]
                #expect(body?["status"] as? String == "down")
            }
            try await client.execute(uri: "/api/v1/devices/nope", method: .get) { response in
                #expect(response.status == .notFound)
                let body = try json(response.body) as? [String: String]
                #expect(body?["error"] == "no device named 'nope'")
            }
            try await client.execute(uri: "/api/v1/overview", method: .get) { response in
                let overview = try #require(try json(response.body) as? [String: Any])
                #expect(overview["version"] as? String == "9.9.9")
                let targets = try #require(overview["targets"] as? [String: [String: Int]])
                #expect(targets["hosts"] == ["up": 1])
                #expect(targets["devices"] == ["down": 1])
                #expect(targets["gateways"] == [:])
            }
        }
    }

    @Test("History returns points and rejects bad parameters with 400")
    func history() async throws {
        let fixture = Fixture()
        for second in 0..<10 {
            await fixture.hub.apply(
                Observation(target: TargetID(.host, "alpha"), time: 1000 + Double(second), samples: [Sample("load1", Double(second))])
            )
        }
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/api/v1/history?series=host/alpha/load1&from=1000&to=1009&step=5", method: .get) { response in
                #expect(response.status == .ok)
                let body = try #require(try json(response.body) as? [String: Any])
                #expect(body["points"] as? [[Double]] == [[1000, 2], [1005, 7]])
            }
            for uri in [
                "/api/v1/history", "/api/v1/history?series=x&from=abc", "/api/v1/history?series=x&from=10&to=5",
                "/api/v1/events?limit=0", "/api/v1/events?since=yesterday",
            ] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .badRequest, "\(uri)")
                    let body = try json(response.body) as? [String: String]
                    #expect(body?["error"] != nil)
                }
            }
            try await client.execute(uri: "/api/v1/series?prefix=host/", method: .get) { response in
                let body = try json(response.body) as? [String]
                #expect(body == ["host/alpha/load1"])
            }
        }
    }

    @Test("Events are listed oldest first, filtered by id")
    func events() async throws {
        let fixture = Fixture()
        await fixture.hub.record(Event(time: 1, type: "a", message: "first"))
        await fixture.hub.record(Event(time: 2, type: "b", message: "second"))
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/api/v1/events?after=1", method: .get) { response in
                let list = try #require(try json(response.body) as? [[String: Any]])
                #expect(list.map { $0["message"] as? String } == ["second"])
            }
        }
    }

    @Test("With a token, the API needs it; health and metrics stay open")
    func token() async throws {
        let fixture = Fixture(token: "s3cret")
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/api/v1/hosts", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/api/v1/hosts", method: .get, headers: [.authorization: "Bearer wrong"]) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/api/v1/hosts", method: .get, headers: [.authorization: "Bearer s3cret"]) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test("Beyond loopback /metrics needs the token too (header only); health, readiness and the dashboard page stay open")
    func tokenBeyondLoopback() async throws {
        var fixture = Fixture(token: "s3cret")
        fixture.configuration.host = "0.0.0.0"
        fixture.readiness.set(true)
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/metrics?token=s3cret", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer s3cret"]) { #expect($0.status == .ok) }
            try await client.execute(uri: "/api/v1/hosts", method: .get) { #expect($0.status == .unauthorized) }
            for open in ["/healthz", "/readyz", "/"] {
                try await client.execute(uri: open, method: .get) { #expect($0.status == .ok, "\(open)") }
            }
        }
        // On loopback /metrics stays open for a local Prometheus.
        try await Fixture(token: "s3cret").app.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test("The dashboard page is HTML")
    func dashboard() async throws {
        try await Fixture().app.test(.router) { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(String(buffer: response.body).contains("Vigil"))
            }
        }
    }

    @Test("Every collection lists its kind", arguments: APIRoutes.collections.map(\.path))
    func everyCollection(path: String) async throws {
        let fixture = Fixture()
        for kind in TargetKind.allCases {
            await fixture.hub.apply(Observation(target: TargetID(kind, "one-\(kind)"), time: 1, status: .up))
        }
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/api/v1/\(path)", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                let list = try #require(try json(response.body) as? [[String: Any]])
                #expect(list.count == 1)
                #expect((list.first?["target"] as? [String: String])?["kind"].map { $0 + "s" } == path)
            }
        }
    }

    @Test("Target names with slashes are found; names are percent-decoded")
    func slashedNames() async throws {
        let fixture = Fixture()
        await fixture.hub.apply(Observation(target: TargetID(.stream, "mediamtx/main/cam 1"), time: 1, status: .up))
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/api/v1/streams/mediamtx/main/cam%201", method: .get) { response in
                #expect(response.status == .ok)
                let body = try #require(try json(response.body) as? [String: Any])
                #expect((body["target"] as? [String: String])?["name"] == "mediamtx/main/cam 1")
            }
            try await client.execute(uri: "/api/v1/streams/mediamtx/main", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test(
        "Bad query parameters are 400 with a JSON error",
        arguments: [
            "/api/v1/events?limit=0", "/api/v1/events?limit=10001", "/api/v1/events?limit=ten", "/api/v1/events?after=x",
            "/api/v1/events?since=NaN", "/api/v1/history?series=", "/api/v1/history?series=x&to=soon",
            "/api/v1/history?series=x&step=-1", "/api/v1/history?series=x&from=0&to=100000000&step=1",
            "/api/v1/live?kind=toaster", "/api/v1/live?target=nokind", "/api/v1/live?events=perhaps",
        ]
    )
    func badParameters(uri: String) async throws {
        try await Fixture().app.test(.router) { client in
            try await client.execute(uri: uri, method: .get) { response in
                #expect(response.status == .badRequest)
                let body = try json(response.body) as? [String: String]
                #expect(body?["error"]?.isEmpty == false)
            }
        }
    }

    @Test("Events honour since and limit (the newest are kept)")
    func eventsSinceLimit() async throws {
        let fixture = Fixture()
        for index in 1...5 { await fixture.hub.record(Event(time: Double(index), type: "t", message: "e\(index)")) }
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/api/v1/events?since=2&limit=2", method: .get) { response in
                let list = try #require(try json(response.body) as? [[String: Any]])
                #expect(list.map { $0["message"] as? String } == ["e4", "e5"])
            }
        }
    }

    @Test("History without a step is downsampled to about 300 points")
    func historyDownsampled() async throws {
        let fixture = Fixture()
        let target = TargetID(.host, "alpha")
        await fixture.hub.apply((0..<3000).map { Observation(target: target, time: Double($0), samples: [Sample("load1", 1)]) })
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/api/v1/history?series=host/alpha/load1&from=0&to=3000", method: .get) { response in
                let body = try #require(try json(response.body) as? [String: Any])
                let points = try #require(body["points"] as? [[Double]])
                #expect(body["step"] as? Double == 10)
                #expect((250...310).contains(points.count))
            }
            try await client.execute(uri: "/api/v1/history?series=host/nothing/here&from=0&to=10", method: .get) { response in
                #expect(response.status == .ok)
                let body = try json(response.body) as? [String: Any]
                #expect(body?["points"] as? [[Double]] == [])
            }
        }
    }

    @Test("Unknown API paths are 404; the live endpoint needs the token too")
    func unknownAndLiveToken() async throws {
        try await Fixture().app.test(.router) { client in
            try await client.execute(uri: "/api/v1/nothing", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/v1/live", method: .get) { #expect($0.status == .upgradeRequired) }
        }
        try await Fixture(token: "s3cret").app.test(.router) { client in
            try await client.execute(uri: "/api/v1/live", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/api/v1/overview?token=s3cret", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test("Dashboard assets are served with their types; the page links them")
    func dashboardAssets() async throws {
        try await Fixture().app.test(.router) { client in
            try await client.execute(uri: "/", method: .get) { response in
                let page = String(buffer: response.body)
                #expect(page.contains("/assets/dashboard.js"))
                #expect(page.contains("/assets/dashboard.css"))
                #expect(page.contains("/assets/chart.js"))
            }
            try await client.execute(uri: "/assets/dashboard.js", method: .get) { response in
                #expect(response.headers[.contentType]?.hasPrefix("text/javascript") == true)
                #expect(String(buffer: response.body).contains("/api/v1/live"))
            }
            try await client.execute(uri: "/assets/dashboard.css", method: .get) { response in
                #expect(response.headers[.contentType]?.hasPrefix("text/css") == true)
            }
        }
    }

    @Test("Chart.js is served from the configured file, or 404 when it is missing")
    func chartJS() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("chart-\(UUID().uuidString).js").path
        try Data("window.Chart = function () {};".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var fixture = Fixture()
        fixture.configuration.chartJSPath = path
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/assets/chart.js", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "window.Chart = function () {};")
            }
        }
        fixture.configuration.chartJSPath = path + ".missing"
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/assets/chart.js", method: .get) { response in
                #expect(response.status == .notFound)
                let body = try json(response.body) as? [String: String]
                #expect(body?["error"]?.contains("libjs-chart.js") == true)
            }
        }
    }

    @Test(
        "listen addresses",
        arguments: [
            ("127.0.0.1:8080", "127.0.0.1", 8080), ("[::1]:9000", "::1", 9000), (":80", "0.0.0.0", 80), ("localhost:0", "localhost", 0),
        ]
    )
    func listen(text: String, host: String, port: Int) throws {
        let parsed = try #require(WebConfiguration.parseListen(text))
        #expect(parsed.host == host)
        #expect(parsed.port == port)
    }

    @Test("bad listen addresses", arguments: ["8080", "host:", "host:99999", "host:http"])
    func badListen(text: String) {
        #expect(WebConfiguration.parseListen(text) == nil)
    }
}
