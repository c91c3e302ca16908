//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing
import VigilCore

/// The whole `vigil` binary, configured only through the seed's environment variables, against
/// real Janus gateways: what an operator sees in `/api/v1/gateways` and `/metrics`.
@Suite("Gateways through the vigil binary", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct GatewaysProcessTests {
    @Test("Seed environment variables, API state and metrics across a failover")
    func seedEnvironmentEndToEnd() async throws {
        let bed = GatewayTestBed()
        let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("gateways-process-\(UUID().uuidString.prefix(8))")
        var environment = try bed.processEnvironment(available: "gxy1,gxy2", failover: "gxy12")
        // gxydb-api's metrics port and the metric name its setup guide checks (migration aids).
        let gxydbPort = try freeLoopbackPort()
        environment["VIGIL_JANUS_GXYDB_METRICS_ALIAS"] = "true"
        environment["VIGIL_JANUS_GXYDB_METRICS_LISTEN"] = "127.0.0.1:\(gxydbPort)"
        let vigil = try VigilProcess(environment: environment, directory: directory)
        do {
            try await vigil.waitUntilHealthy()
            try bed.start(["gxy1", "gxy2", "gxy12"])
            try await bed.eventually("three gateways up in the API", timeout: .seconds(5)) {
                let list = try await Self.json(vigil.get("/api/v1/gateways").body)
                guard case .array(let states)? = list else { return false }
                return states.filter { Self.path($0, "status") == "up" }.count == 3
            }
            let gxy1 = try Self.json(await vigil.get("/api/v1/gateways/gxy1").body)
            #expect(Self.path(gxy1, "attributes", "role") == "primary")
            #expect(Self.path(gxy1, "attributes", "name") == "gxy1")
            #expect(Self.path(gxy1, "attributes", "online") == .bool(true))
            // Each gateway's first session count arrives with its own admin poll.
            try await bed.eventually("sessions of gxy1 and gxy2 in /metrics") {
                let body = try await vigil.get("/metrics").body
                return body.contains(#"galaxy_gateways_sessions{name="gxy1",type="rooms"} 0"#)
                    && body.contains(#"galaxy_gateways_sessions{name="gxy2",type="rooms"} 0"#)
            }
            #expect(try await vigil.get("/metrics").body.contains(#"gxydb_gateway_sessions{name="gxy2",type="rooms"} 0"#))
            let gxydb = try await vigil.get("/metrics", port: gxydbPort)
            #expect(gxydb.status == 200)
            #expect(gxydb.body.contains(#"galaxy_gateways_sessions{name="gxy2",type="rooms"} 0"#))
            #expect(gxydb.body.contains(#"gxydb_gateway_sessions{name="gxy1",type="rooms"} 0"#))
            #expect(gxydb.body.contains("# TYPE gxydb_gateway_sessions gauge"))
            #expect(!gxydb.body.contains("vigil_"))
            #expect(try await vigil.get("/api/v1/overview", port: gxydbPort).status == 404)

            try await bed.gateway("gxy1").kill9()
            try await bed.eventually("failover in the API", timeout: .seconds(5)) {
                let state = try await Self.json(vigil.get("/api/v1/gateways/gxy1").body)
                return Self.path(state, "attributes", "failover", "state") == "failed_over"
            }
            let failed = try Self.json(await vigil.get("/api/v1/gateways/gxy1").body)
            #expect(Self.path(failed, "status") == "down")
            #expect(Self.path(failed, "attributes", "failover", "failover_server") == "gxy12")
            let metrics = try await vigil.get("/metrics").body
            #expect(metrics.contains(#"galaxy_failover_active{failed_server="gxy1",failover_server="gxy12"} 1"#))
            #expect(metrics.contains(#"galaxy_failover_events_total{event="completed",failed_server="gxy1",failover_server="gxy12"} 1"#))
            #expect(metrics.contains(#"vigil_gateway_online{gateway="gxy1"} 0.0"#))
            let events = try await vigil.get("/api/v1/events?limit=100").body
            #expect(events.contains("failover_completed"))
            #expect(vigil.log.contains("Failover completed successfully"))
            #expect(try await bed.retainedMapping(of: "gxy1") != nil)
            #expect(try await vigil.stop().status == 0)
        } catch {
            _ = try? await vigil.stop(signal: SIGKILL)
            await bed.stopAll()
            throw error
        }
        await bed.stopAll()
    }

    static func json(_ text: String) throws -> JSONValue? {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// The value at a path of object keys.
    static func path(_ value: JSONValue?, _ keys: String...) -> JSONValue? {
        var current = value
        for key in keys {
            guard case .object(let object)? = current else { return nil }
            current = object[key]
        }
        return current
    }
}
