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
/// Instruments are created once per label set and cached; only configured gateways get per-name
/// series. Vigil's own per-gateway values (`vigil_gateway_online`, `vigil_gateway_last_seen_seconds`,
/// `vigil_gateway_sessions`, label `gateway`) are hub samples of the tracker's observations.
///
/// The monitor's own bounds have one series each, created up front so that the series count
/// does not depend on what peers send:
/// - `vigil_gateways_discovered`: unconfigured servers currently shown as `discovered`;
/// - `vigil_gateways_discovered_refused_total`: statuses of unconfigured servers refused because
///   `max_discovered` were already shown;
/// - `vigil_gateways_discovered_expired_total`: discovered servers forgotten after their silence;
/// - `vigil_gateways_inbox_coalesced_total`: statuses replaced by a newer one of the same server
///   before the monitor handled them;
/// - `vigil_gateways_inbox_refused_total`: messages refused because the inbox was full.
public final class GatewayMetrics: Sendable {
    let factory: any MetricsFactory
    private let gauges = Mutex<[String: Gauge]>([:])
    private let counters = Mutex<[String: Counter]>([:])
    private let discovered: Gauge
    private let discoveredRefused: Counter
    private let discoveredExpired: Counter
    private let inboxCoalesced: Counter
    private let inboxRefused: Counter

    /// Creates the metrics on a factory.
    ///
    /// - Parameter factory: Where the instruments are created; the bootstrapped system by default,
    ///   a test factory in tests.
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        self.discovered = Gauge(label: "vigil_gateways_discovered", factory: factory)
        self.discoveredRefused = Counter(label: "vigil_gateways_discovered_refused_total", factory: factory)
        self.discoveredExpired = Counter(label: "vigil_gateways_discovered_expired_total", factory: factory)
        self.inboxCoalesced = Counter(label: "vigil_gateways_inbox_coalesced_total", factory: factory)
        self.inboxRefused = Counter(label: "vigil_gateways_inbox_refused_total", factory: factory)
        discovered.record(0)
    }

    /// Sets `vigil_gateways_discovered`.
    func setDiscovered(_ count: Int) { discovered.record(Double(count)) }

    /// Increments `vigil_gateways_discovered_refused_total`.
    func countDiscoveredRefused() { discoveredRefused.increment() }

    /// Increments `vigil_gateways_discovered_expired_total`.
    func countDiscoveredExpired() { discoveredExpired.increment() }

    /// Increments `vigil_gateways_inbox_coalesced_total`.
    func countInboxCoalesced() { inboxCoalesced.increment() }

    /// Increments `vigil_gateways_inbox_refused_total`.
    func countInboxRefused() { inboxRefused.increment() }

    /// Sets `galaxy_gateways_sessions{name,type="rooms"}`.
    public func setSessions(_ sessions: Int, server: String) {
        gauge("galaxy_gateways_sessions", [("name", server), ("type", "rooms")]).record(Double(sessions))
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
