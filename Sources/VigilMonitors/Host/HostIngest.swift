//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
public import Metrics
import NIOCore
public import ServiceLifecycle
public import VigilCore
public import VigilMQTT

/// The central side of `vigil agent`: takes host reports (over MQTT from `<prefix>/+/metrics` and
/// `<prefix>/+/status`, over HTTP through ``submit(_:transport:)``), checks them
/// (``HostReportValidator``), and applies them to the hub as `host/<name>` targets, exactly like the
/// host Vigil samples itself. A host without a report for `stale_after` becomes `stale`; an agent's
/// `offline` status (its MQTT Last Will, or the last HTTP report of an agent that stops) makes it `down`.
///
/// Metrics: `vigil_host_ingest_reports_total{transport}`, `vigil_host_ingest_samples_total{transport}`,
/// `vigil_host_ingest_refused_total{reason}` (`invalid`, `max_hosts`, `series_limit`, `name_conflict`;
/// the HTTP route adds `unauthorized` and `body_too_large`), `vigil_host_ingest_remote_hosts`.
public actor HostIngest: Service {
    /// How a report arrived.
    public enum Transport: String, Sendable {
        case mqtt
        case http
    }

    /// What became of a report.
    public enum Outcome: Sendable, Hashable {
        /// Applied: this many new samples (older duplicates are skipped).
        case accepted(samples: Int)
        /// Too large (413).
        case tooLarge
        /// Not a valid report (400).
        case invalid(String)
        /// A valid report that is refused: more hosts than `max_hosts`, or too many series (429).
        case refused(String)
    }

    private struct RemoteHost {
        var lastSeen: Double
        var lastSampleTime: Double
        var series: Set<String>
        var status: TargetStatus
    }

    private let configuration: HostIngestConfiguration
    private let hub: Hub
    private let localHost: String?
    private let client: MQTTClient?
    private let logger: Logger
    private let clock: any VigilClock
    private var hosts: [String: RemoteHost] = [:]
    private let metrics: IngestMetrics

    /// Creates the ingest.
    ///
    /// - Parameters:
    ///   - configuration: `[host_ingest]`.
    ///   - hub: Where reports go.
    ///   - localHost: The name of the host Vigil samples itself, which no agent may use.
    ///   - client: The `[mqtt]` client, when agents come over MQTT.
    ///   - logger: Logger.
    ///   - clock: The hub's clock.
    ///   - metricsFactory: Where the counters are created; tests inject `TestMetrics`.
    public init(
        configuration: HostIngestConfiguration,
        hub: Hub,
        localHost: String?,
        client: MQTTClient?,
        logger: Logger,
        clock: any VigilClock,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.configuration = configuration
        self.hub = hub
        self.localHost = localHost
        self.client = client
        self.logger = logger
        self.clock = clock
        self.metrics = IngestMetrics(factory: metricsFactory)
    }

    /// Checks and applies one report.
    public func submit(_ bytes: [UInt8], transport: Transport, topicHost: String? = nil) async -> Outcome {
        guard bytes.count <= HostReportLimits.maxBytes else {
            metrics.refused("body_too_large")
            return .tooLarge
        }
        let now = clock.wallClockSeconds
        let report: HostReport
        do {
            report = try HostReportValidator.decode(bytes, now: now)
        } catch {
            metrics.refused("invalid")
            return .invalid(error.description)
        }
        if let topicHost, topicHost != report.host {
            metrics.refused("invalid")
            return .invalid("the report's host '\(report.host)' is not the topic's '\(topicHost)'")
        }
        if report.host == localHost {
            metrics.refused("name_conflict")
            return .invalid("'\(report.host)' is the central's own host name")
        }
        var host: RemoteHost
        if let known = hosts[report.host] {
            host = known
        } else {
            guard hosts.count < configuration.maxHosts else {
                metrics.refused("max_hosts")
                return .refused("already \(configuration.maxHosts) remote hosts ([host_ingest] max_hosts)")
            }
            host = RemoteHost(lastSeen: now, lastSampleTime: 0, series: [], status: .unknown)
        }
        let target = TargetID(.host, report.host)
        var series = host.series
        var observations: [Observation] = []
        for entry in report.samples where entry.time > host.lastSampleTime {
            let samples = HostReportValidator.samples(of: entry)
            for sample in samples { series.insert(sample.seriesKey(for: target)) }
            observations.append(Observation(target: target, time: entry.time, samples: samples))
        }
        guard series.count <= HostReportLimits.maxSeriesPerHost else {
            metrics.refused("series_limit")
            return .refused("more than \(HostReportLimits.maxSeriesPerHost) series for host '\(report.host)'")
        }
        let status: TargetStatus = report.status == "offline" ? .down : .up
        observations.append(
            Observation(
                target: target,
                time: now,
                status: status,
                attributes: [
                    "source": .string("agent"), "transport": .string(transport.rawValue),
                    "agent_interval_seconds": .number(report.intervalSeconds),
                    "last_sample_time": .number(max(host.lastSampleTime, report.samples.last?.time ?? 0)),
                ],
                samples: [Sample("agent_dropped_samples_total", report.droppedSamples, kind: .counter, recordHistory: false)]
            )
        )
        await hub.apply(observations)
        host.series = series
        host.lastSeen = now
        host.status = status
        host.lastSampleTime = max(host.lastSampleTime, report.samples.last?.time ?? 0)
        if hosts.updateValue(host, forKey: report.host) == nil {
            logger.info("Remote host joined", metadata: ["host.name": "\(report.host)", "host.transport": "\(transport.rawValue)"])
            metrics.remoteHosts.record(hosts.count)
        }
        metrics.reports(transport).increment()
        metrics.samples(transport).increment(by: observations.count - 1)
        return .accepted(samples: observations.count - 1)
    }

    /// An agent's retained `offline` status (its Last Will): the host is down now.
    func markOffline(_ name: String) async {
        guard var host = hosts[name], host.status != .down else { return }
        host.status = .down
        hosts[name] = host
        await hub.apply(Observation(target: TargetID(.host, name), time: clock.wallClockSeconds, status: .down))
        logger.info("Remote host went offline", metadata: ["host.name": "\(name)"])
    }

    /// Marks hosts without a report for `stale_after` as stale.
    func markStale() async {
        let now = clock.wallClockSeconds
        let limit = configuration.staleAfter.secondsDouble
        for (name, host) in hosts where host.status == .up && now - host.lastSeen > limit {
            hosts[name]?.status = .stale
            await hub.apply(Observation(target: TargetID(.host, name), time: now, status: .stale))
            logger.info("Remote host is stale", metadata: ["host.name": "\(name)"])
        }
    }

    /// Remote hosts known from the store (a restart) count as seen now, so that they go stale if
    /// their agent does not come back.
    private func restore() async {
        let now = clock.wallClockSeconds
        for state in await hub.states(kind: .host) where state.attributes["source"] == .string("agent") {
            guard hosts.count < configuration.maxHosts else { break }
            // The agent's own clock, not the central's, decides which samples are new.
            var lastSampleTime = 0.0
            if case .number(let time)? = state.attributes["last_sample_time"] { lastSampleTime = time }
            hosts[state.target.name] = RemoteHost(lastSeen: now, lastSampleTime: lastSampleTime, series: [], status: state.status)
        }
        metrics.remoteHosts.record(hosts.count)
    }

    /// Restores known hosts, then marks stale hosts and (with an MQTT client) receives reports until shutdown.
    ///
    /// The subscription is not ended by the graceful shutdown but by the MQTT client stopping (the
    /// application runs the client after this service, so it stops first): ending it earlier would
    /// unsubscribe, and the broker would then not keep the agents' reports in Vigil's persistent
    /// session while Vigil restarts.
    public func run() async throws {
        await restore()
        let tick = min(configuration.staleAfter / 4, .seconds(1))
        try await withThrowingDiscardingTaskGroup { group in
            if self.client != nil {
                group.addTask { try await self.receive() }
            }
            try? await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    try await self.clock.sleep(for: tick)
                    await self.markStale()
                }
            }
        }
    }

    /// Receives until the MQTT client stops.
    private nonisolated func receive() async throws {
        guard let client else { return }
        let prefix = configuration.topicPrefix
        let infos = [
            MQTTSubscribeInfo(filter: "\(prefix)/+/metrics", qos: .atLeastOnce),
            MQTTSubscribeInfo(filter: "\(prefix)/+/status", qos: .atLeastOnce),
        ]
        while !Task.isCancelled {
            do {
                try await client.subscribe(to: infos, bufferSize: 10_000) { subscription in
                    self.logger.info("Host ingest subscribed", metadata: ["host_ingest.prefix": "\(prefix)"])
                    for try await message in subscription {
                        await self.handle(topic: message.topic, payload: message.payload, prefix: prefix)
                    }
                }
                // The subscription ends when the client stops.
                return
            } catch let error as MQTTClientError where error.errorCode == .shutdown {
                return
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                logger.warning("Host ingest subscription failed; retrying", metadata: ["error": "\(error)"])
                try await clock.sleep(for: .seconds(2))
            }
        }
    }

    private func handle(topic: String, payload: ByteBuffer, prefix: String) async {
        let rest = topic.dropFirst(prefix.count + 1)
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return }
        let name = String(parts[0])
        switch parts[1] {
        case "metrics":
            let outcome = await submit(Array(payload.readableBytesView), transport: .mqtt, topicHost: name)
            switch outcome {
            case .accepted: break
            case .tooLarge, .invalid, .refused:
                logger.warning("Host report refused", metadata: ["host.name": "\(name.prefix(64))", "reason": "\(outcome)"])
            }
        case "status":
            if String(buffer: payload) == "offline" { await markOffline(name) }
        default: break
        }
    }

    struct IngestMetrics: Sendable {
        let factory: any MetricsFactory
        let remoteHosts: Gauge

        init(factory: any MetricsFactory) {
            self.factory = factory
            self.remoteHosts = Gauge(label: "vigil_host_ingest_remote_hosts", factory: factory)
        }

        func refused(_ reason: String) {
            Counter(label: "vigil_host_ingest_refused_total", dimensions: [("reason", reason)], factory: factory).increment()
        }

        func reports(_ transport: Transport) -> Counter {
            Counter(label: "vigil_host_ingest_reports_total", dimensions: [("transport", transport.rawValue)], factory: factory)
        }

        func samples(_ transport: Transport) -> Counter {
            Counter(label: "vigil_host_ingest_samples_total", dimensions: [("transport", transport.rawValue)], factory: factory)
        }
    }
}
