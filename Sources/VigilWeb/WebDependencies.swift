//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Hummingbird
public import VigilCore

/// Registers routes of another module (the Announcer's `/v1/announce/*`) on a router group.
public typealias RouteRegistration = @Sendable (RouterGroup<BasicRequestContext>) -> Void

/// Everything the web layer reads from: it holds no state of its own.
public struct WebDependencies: Sendable {
    /// The hub with latest state, history and events.
    public var hub: Hub
    /// Sources of `/metrics` text, emitted in order.
    public var exporters: [any MetricsExporter]
    /// The readiness flag behind `/readyz`.
    public var readiness: Readiness
    /// The version string shown by the dashboard and `/api/v1/overview`.
    public var version: String
    /// The server settings (token, Chart.js path).
    public var configuration: WebConfiguration
    /// The clock: its wall clock stamps answers and anchors default time ranges; its monotonic time
    /// paces the live feed. The hub's clock unless given.
    public var clock: any VigilClock
    /// Routes other modules add to the main listener, behind the bearer token when one is set.
    public var extraRoutes: [RouteRegistration] = []
    /// The alerting service behind `/api/v1/alerts` and `/api/v1/silences`, when alerting runs.
    public var alerts: (any AlertDesk)?
    /// Where `POST /api/v1/ingest/host` hands reports (`nil`: `[host_ingest]` is off, every request gets 401).
    public var hostIngest: (any HostReportIntake)?
    /// The bearer tokens of `POST /api/v1/ingest/host` (`[host_ingest] tokens`).
    public var hostIngestTokens: [String] = []

    /// Bundles the dependencies.
    public init(
        hub: Hub,
        exporters: [any MetricsExporter],
        readiness: Readiness,
        version: String,
        configuration: WebConfiguration,
        clock: (any VigilClock)? = nil
    ) {
        self.hub = hub
        self.exporters = exporters
        self.readiness = readiness
        self.version = version
        self.configuration = configuration
        self.clock = clock ?? hub.clock
    }
}
