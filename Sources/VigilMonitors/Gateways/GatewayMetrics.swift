//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import CoreMetrics

/// The gateway monitor's own bounds, one series each, created up front so that the series count
/// does not depend on what peers send:
/// - `vigil_gateways_discovered`: unconfigured servers currently shown as `discovered`;
/// - `vigil_gateways_discovered_refused_total`: statuses of unconfigured servers refused because
///   `max_discovered` were already shown;
/// - `vigil_gateways_discovered_expired_total`: discovered servers forgotten after their silence;
/// - `vigil_gateways_inbox_coalesced_total`: statuses replaced by a newer one of the same server
///   before the monitor handled them;
/// - `vigil_gateways_inbox_refused_total`: messages refused because the inbox was full.
///
/// Every per-gateway value, the seed's `galaxy_*` series included, is a sample of the tracker's
/// observations and reaches `/metrics` through the hub (see ``SeedMetric``).
public final class GatewayMetrics: Sendable {
    let factory: any MetricsFactory
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
}
