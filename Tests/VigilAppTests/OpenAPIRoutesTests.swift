//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import VigilCore
import VigilRedis
import VigilStorage
import VigilWeb

@testable import VigilApp

@Suite("OpenAPI description against the whole application")
struct OpenAPIRoutesTests {
    @Test("docs/openapi.yaml describes exactly the routes of the main listener with the Announcer on it")
    func everyRoute() throws {
        let configuration = try VigilConfiguration.parse(
            """
            [component]
            name = "announcer"
            secret = "secret"
            domain = "example.test"
            """,
            file: "announcer.toml"
        )
        let hub = Hub(stores: MemoryStore().stores, clock: ManualClock(wallClockSeconds: 0))
        let announcer = try AnnouncerServices(
            configuration: try #require(configuration.announcer),
            http: WebConfiguration(),
            hub: hub,
            store: MemoryStore(),
            logger: { Logger(label: $0, factory: { _ in SwiftLogNoOpLogHandler() }) }
        )
        #expect(announcer.mainRoutes.count == 1)
        var dependencies = WebDependencies(hub: hub, exporters: [], readiness: Readiness(), version: "1", configuration: WebConfiguration())
        // The Redis store's membership route (no connection is made to register it).
        let redis = RedisClusterClient(
            configuration: RedisClusterConfiguration(seeds: [RedisClusterNode(host: "127.0.0.1", port: 1)]),
            logger: Logger(label: "test")
        )
        let membership = RedisMembership(redis: redis, keys: RedisStoreKeys(), instanceID: "test", version: "1", logger: Logger(label: "test"))
        dependencies.extraRoutes =
            announcer.mainRoutes + [
                VigilApplication.clusterRoute(membership, standaloneID: "test", version: "1", clock: ManualClock(wallClockSeconds: 0))
            ]
        dependencies.alerts = AlertingService(
            configuration: AlertingConfiguration(),
            hub: hub,
            store: MemoryStore(),
            receivers: [],
            logger: Logger(label: "test"),
            clock: ManualClock(wallClockSeconds: 0)
        )
        let registered = Set(buildRouter(dependencies).routes.map { "\($0.method) \(OpenAPIDocument.templatedPath($0.path.description))" })
        #expect(registered.contains("POST /v1/announce/users") && registered.contains("POST /v1/announce/channel"))
        #expect(registered.subtracting(OpenAPIDocument.operations).isEmpty, "not described: \(registered.subtracting(OpenAPIDocument.operations))")
        #expect(
            OpenAPIDocument.operations.subtracting(registered).isEmpty,
            "described, not served: \(OpenAPIDocument.operations.subtracting(registered))"
        )
    }

    @Test("GET /api/v1/cluster without a Redis store: 200 with this instance as the only member")
    func standaloneCluster() async throws {
        let hub = Hub(stores: MemoryStore().stores, clock: ManualClock(wallClockSeconds: 0))
        var dependencies = WebDependencies(hub: hub, exporters: [], readiness: Readiness(), version: "1", configuration: WebConfiguration())
        dependencies.extraRoutes = [
            VigilApplication.clusterRoute(nil, standaloneID: "solo-1", version: "9.9", clock: ManualClock(wallClockSeconds: 1_800_000_000))
        ]
        let app = Application(router: buildRouter(dependencies))
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/cluster", method: .get) { response in
                #expect(response.status == .ok)
                let body = try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
                #expect(body["instance"] as? String == "solo-1")
                let members = try #require(body["members"] as? [[String: Any]])
                #expect(members.count == 1)
                #expect(members.first?["id"] as? String == "solo-1")
                #expect(members.first?["version"] as? String == "9.9")
                #expect(members.first?["pid"] as? Int == Int(ProcessInfo.processInfo.processIdentifier))
                #expect(members.first?["heartbeat"] as? Double == 1_800_000_000)
            }
        }
    }
}
