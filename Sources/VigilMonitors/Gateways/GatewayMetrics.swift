//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import CoreMetrics
import Synchronization

/// The gateway metrics whose names and labels seed 000 fixes.
///
/// These are created directly with swift-metrics rather than as hub samples, because the hub would
/// name them `vigil_gateway_<sample>{gateway="..."}`, while dashboards and alerts written for
/// gxydb-api expect exactly:
/// - `galaxy_gateways_sessions{name,type="rooms"}`
/// - `galaxy_failover_events_total{event,failed_server,failover_server}`
/// - `galaxy_failover_active{failed_server,failover_server}`
///
/// plus Vigil's `vigil_gateway_online{name}` (1 or 0) and `vigil_gateway_last_seen_seconds{name}`
/// (seconds since the epoch). Instruments are created once per label set and cached.
public final class GatewayMetrics: Sendable {
    private let factory: any MetricsFactory
    private let gauges = Mutex<[String: Gauge]>([:])
    private let counters = Mutex<[String: Counter]>([:])

    /// Creates the metrics on a factory.
    ///
    /// - Parameter factory: Where the instruments are created; the bootstrapped system by default,
    ///   a test factory in tests.
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
    }

    /// Sets `galaxy_gateways_sessions{name,type="rooms"}`.
    public func setSessions(_ sessions: Int, server: String) {
        gauge("galaxy_gateways_sessions", [("name", server), ("type", "rooms")]).record(Double(sessions))
    }

    /// Sets `vigil_gateway_online{name}`.
    public func setOnline(_ online: Bool, server: String) {
        gauge("vigil_gateway_online", [("name", server)]).record(online ? 1.0 : 0.0)
    }

    /// Sets `vigil_gateway_last_seen_seconds{name}`.
    public func setLastSeen(_ time: Double, server: String) {
        gauge("vigil_gateway_last_seen_seconds", [("name", server)]).record(time)
    }

    /// Sets `galaxy_failover_active{failed_server,failover_server}` to 1 or 0.
    public func setFailoverActive(_ active: Bool, failedServer: String, failoverServer: String) {
        gauge("galaxy_failover_active", [("failed_server", failedServer), ("failover_server", failoverServer)]).record(active ? 1.0 : 0.0)
    }

    /// Increments `galaxy_failover_events_total{event,failed_server,failover_server}`.
    public func countFailoverEvent(_ event: String, failedServer: String, failoverServer: String) {
        let dimensions = [("event", event), ("failed_server", failedServer), ("failover_server", failoverServer)]
        let key = Self.key("galaxy_failover_events_total", dimensions)
        let counter = counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "galaxy_failover_events_total", dimensions: dimensions, factory: factory)
            counters[key] = counter
            return counter
        }
        counter.increment()
    }

    private func gauge(_ label: String, _ dimensions: [(String, String)]) -> Gauge {
        let key = Self.key(label, dimensions)
        return gauges.withLock { gauges in
            if let gauge = gauges[key] { return gauge }
            let gauge = Gauge(label: label, dimensions: dimensions, factory: factory)
            gauges[key] = gauge
            return gauge
        }
    }

    private static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        label + "\u{0}" + dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: "\u{0}")
    }
}
