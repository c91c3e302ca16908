//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import AsyncHTTPClient
public import Logging
public import ServiceLifecycle
public import VigilCore

/// What one poll of a MediaMTX instance found.
public struct MediaMTXInstanceReport: Sendable, Hashable {
    /// The instance's name.
    public var instance: String
    /// Why the poll failed, or `nil`.
    public var error: String?
    /// The paths (empty when the poll failed).
    public var paths: [MediaMTXPathReport]
    /// The SRT connections (empty when the poll failed or SRT is off).
    public var srtConnections: [MediaMTXSRTConnection]
    /// `/v3/info`, when known.
    public var info: MediaMTXInfo?
}

/// One path with the values Vigil derives from it.
public struct MediaMTXPathReport: Sendable, Hashable {
    /// The path as MediaMTX reported it.
    public var path: MediaMTXPath
    /// Inbound data rate in bytes per second (`nil` on the first poll).
    public var inbound: CounterRate.Rates?
    /// Outbound data rate in bytes per second.
    public var outbound: CounterRate.Rates?
    /// The SRT connection publishing to the path, if any.
    public var srtPublisher: MediaMTXSRTConnection?
    /// SRT connections reading the path.
    public var srtReaders: Int
    /// The publisher's RTT median and 95th percentile over the last minute.
    public var rttPercentiles: RTTPercentiles?
}

/// The median and 95th percentile of recent SRT round-trip times, in milliseconds.
public struct RTTPercentiles: Sendable, Hashable {
    /// The median.
    public var p50: Double
    /// The 95th percentile.
    public var p95: Double
}

/// Polls MediaMTX v3 APIs (seed 003) and turns paths and SRT connections into hub state, history
/// and `vigil_mediamtx_*` metrics.
///
/// Every instance is polled on its own schedule (a slow instance does not delay the others):
/// `/v3/paths/list` and `/v3/srtconns/list`, every page, and `/v3/info` whenever the instance
/// (re)appears. Bitrates come from ``CounterRate`` over the monotonic time between polls; the
/// counter epoch is the path's `onlineTime` plus the server's `started`, so a republish or a
/// restart never yields a negative or inflated rate.
///
/// Hub targets (kind `stream`):
/// - `mediamtx/<instance>`: `up`, or `down` with attribute `error` when the API is unreachable;
/// - `mediamtx/<instance>/<path>`: `up` while the path has a publisher, else `down`; `stale` (the
///   last values kept, with `error`) while the instance is unreachable; removed when the path
///   disappears. Attributes: `source`, `instance`, `path`, `conf_name`, `online`, `online_time`,
///   `source_type`, `source_id`, `readers`, `reader_types`, `tracks`, `api_generation`,
///   `inbound_bytes`, `outbound_bytes`, `inbound_bytes_per_second_10s`, `inbound_bytes_per_second_60s`,
///   `outbound_bytes_per_second_10s`, `outbound_bytes_per_second_60s`, `srt` (the publisher's RTT, rates, capacity, loss), `srt_readers`,
///   `rtt_p50_ms`, `rtt_p95_ms`. History samples: `readers`, `inbound_bytes_per_second`,
///   `outbound_bytes_per_second`, `srt_rtt_seconds`, `srt_receive_rate_bytes_per_second`,
///   `srt_link_capacity_bytes_per_second`, `srt_receive_loss_rate`.
///
/// Metrics (``MediaMTXMetrics``) go to a ``MetricsSnapshotExporter``, one part per instance.
public actor MediaMTXPoller: Service {
    private struct PathState {
        var inbound = CounterRate()
        var outbound = CounterRate()
        var rtts: [(time: Double, value: Double)] = []
    }

    private struct InstanceState {
        var up: Bool?
        var errors = 0
        var lastSuccess: Double?
        var info: MediaMTXInfo?
        var paths: [String: PathState] = [:]
        var known: [TargetID: TargetStatus] = [:]
    }

    private let configuration: MediaMTXConfiguration
    private let exporter: MetricsSnapshotExporter
    private let hub: Hub?
    private let fetchers: [String: StreamHTTPFetcher]
    private let logger: Logger
    /// Wall clock for observation times, monotonic time for bitrates and the poll schedule.
    private let clock: any VigilClock
    private var instances: [String: InstanceState] = [:]
    /// Which instances this Vigil polls when several share a store (`nil`: all of them).
    private let ownership: WorkOwnership?

    /// Creates the poller.
    ///
    /// - Parameters:
    ///   - configuration: Instances and limits.
    ///   - exporter: Where `vigil_mediamtx_*` metrics are published.
    ///   - hub: Where observations go; `nil` for metrics only.
    ///   - httpClient: The HTTP client; the shared one by default.
    ///   - logger: Logger, label `vigil.mediamtx`.
    ///   - clock: The clock (``SystemClock``; tests pass a ``ManualClock``).
    ///   - ownership: With several Vigil instances, polls only the instances whose work key
    ///     (``workKey(instance:)``) this one owns; `nil` polls every instance.
    public init(
        configuration: MediaMTXConfiguration,
        exporter: MetricsSnapshotExporter,
        hub: Hub?,
        httpClient: HTTPClient = .shared,
        logger: Logger = Logger(label: "vigil.mediamtx"),
        clock: any VigilClock = SystemClock(),
        ownership: WorkOwnership? = nil
    ) {
        self.ownership = ownership
        self.configuration = configuration
        self.exporter = exporter
        self.hub = hub
        var fetchers: [String: StreamHTTPFetcher] = [:]
        for instance in configuration.instances {
            let authorization = instance.user.map { StreamHTTPFetcher.basicAuthorization(user: $0, password: instance.password ?? "") }
            fetchers[instance.name] = StreamHTTPFetcher(client: httpClient, timeout: configuration.requestTimeout, authorization: authorization)
        }
        self.fetchers = fetchers
        self.logger = logger
        self.clock = clock
    }

    /// Polls every instance every `interval` until shutdown.
    public func run() async throws {
        let interval = configuration.interval
        let names = configuration.instances.map(\.name)
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for name in names {
                    group.addTask {
                        let clock = self.clock
                        while !Task.isCancelled {
                            let start = clock.now
                            if await self.owns(instance: name) { await self.poll(instance: name) }
                            do {
                                try await clock.sleep(until: start.advanced(by: interval), tolerance: nil)
                            } catch {
                                return
                            }
                        }
                    }
                }
            }
        }
    }

    /// The key of an instance's polling in ``WorkOwnership``.
    public static func workKey(instance: String) -> String { "mediamtx/\(instance)" }

    /// Whether this Vigil polls `instance` now. Losing it drops what this poller knew (the new
    /// owner's metrics and observations replace it); gaining it starts from what the hub shows,
    /// so that paths gone while another instance polled are still removed.
    private func owns(instance name: String) async -> Bool {
        guard let ownership else { return true }
        guard ownership.owns(Self.workKey(instance: name)) else {
            if instances.removeValue(forKey: name) != nil {
                exporter.remove(part: name)
                logger.info(
                    "MediaMTX instance now polled by another Vigil",
                    metadata: ["instance": "\(name)", "owner": "\(ownership.owner(of: Self.workKey(instance: name)))"]
                )
            }
            return false
        }
        if instances[name] == nil, let hub {
            var state = InstanceState()
            let instanceTarget = Self.target(instance: name)
            let prefix = instanceTarget.name + "/"
            for current in await hub.states(kind: .stream) where current.target == instanceTarget || current.target.name.hasPrefix(prefix) {
                state.known[current.target] = current.status
            }
            instances[name] = state
        }
        return true
    }

    /// Polls one instance once, publishes its metrics and observations, and returns what it found.
    @discardableResult
    public func poll(instance name: String) async -> MediaMTXInstanceReport {
        guard let instance = configuration.instances.first(where: { $0.name == name }), let fetcher = fetchers[name] else {
            return MediaMTXInstanceReport(instance: name, error: "no such instance", paths: [], srtConnections: [])
        }
        let base = instance.url.hasSuffix("/") ? String(instance.url.dropLast()) : instance.url
        let pageSize = max(1, configuration.itemsPerPage)
        async let pathsResult = Self.fetchAll(MediaMTXPath.self, base + "/v3/paths/list", pageSize: pageSize, fetcher: fetcher)
        async let srtResult = Self.fetchAll(MediaMTXSRTConnection.self, base + "/v3/srtconns/list", pageSize: pageSize, fetcher: fetcher)
        let paths = await pathsResult
        let srt = await srtResult
        var state = instances[name] ?? InstanceState()
        let wallTime = clock.wallClockSeconds

        let report: MediaMTXInstanceReport
        switch paths {
        case .failure(let failure):
            state.errors += 1
            if state.up != false {
                logger.warning("MediaMTX instance unreachable", metadata: ["instance": "\(name)", "error": "\(failure.description)"])
            }
            report = MediaMTXInstanceReport(instance: name, error: failure.description, paths: [], srtConnections: [], info: state.info)
        case .success(let list):
            if state.up != true {
                // Version and start time, once per (re)appearance; older versions lack /v3/info.
                if let info = try? await fetcher.get(base + "/v3/info", as: MediaMTXInfo.self).value {
                    if let previous = state.info?.started, let started = info.started, previous != started {
                        state.paths.removeAll()
                    }
                    state.info = info
                }
                if state.up == false { logger.info("MediaMTX instance reachable again", metadata: ["instance": "\(name)"]) }
            }
            state.lastSuccess = wallTime
            if case .failure(let failure) = srt, state.up != true {
                logger.debug("No SRT connections from MediaMTX", metadata: ["instance": "\(name)", "error": "\(failure.description)"])
            }
            let connections = (try? srt.get()) ?? []
            report = derive(instance: name, paths: list, connections: connections, state: &state)
        }
        let wasUp = state.up
        state.up = report.error == nil
        if report.error != nil {
            exporter.publish(MediaMTXMetrics.families(report, errors: state.errors, lastSuccess: state.lastSuccess, maxSRTSeries: 0), part: name)
        } else {
            exporter.publish(
                MediaMTXMetrics.families(report, errors: state.errors, lastSuccess: state.lastSuccess, maxSRTSeries: configuration.maxSRTSeries),
                part: name
            )
        }
        if let hub {
            await publish(report, instance: instance, wasUp: wasUp, state: &state, time: wallTime, to: hub)
        }
        instances[name] = state
        return report
    }

    // MARK: - Fetching

    /// Fetches every page of a list endpoint; items that appear twice (the list changed between
    /// pages) are kept once.
    static func fetchAll<Item: Decodable & Sendable>(
        _ type: Item.Type,
        _ url: String,
        pageSize: Int,
        fetcher: StreamHTTPFetcher
    ) async -> Result<[Item], StreamHTTPFetcher.Failure> {
        var items: [Item] = []
        var page = 0
        var pageCount = 1
        do {
            while page < pageCount {
                let reply = try await fetcher.get("\(url)?page=\(page)&itemsPerPage=\(pageSize)", as: MediaMTXPage<Item>.self).value
                items += reply.items
                pageCount = min(reply.pageCount, 10_000)
                page += 1
            }
        } catch let failure as StreamHTTPFetcher.Failure {
            return .failure(failure)
        } catch {
            return .failure(.init(description: "\(error)"))
        }
        return .success(items)
    }

    // MARK: - Deriving

    private func derive(
        instance: String,
        paths: [MediaMTXPath],
        connections: [MediaMTXSRTConnection],
        state: inout InstanceState
    ) -> MediaMTXInstanceReport {
        let time = clock.now.seconds
        var unique: [String: MediaMTXPath] = [:]
        var order: [String] = []
        for path in paths {
            if unique.updateValue(path, forKey: path.name) == nil { order.append(path.name) }
        }
        var publishers: [String: MediaMTXSRTConnection] = [:]
        var readers: [String: Int] = [:]
        for connection in connections {
            switch connection.state {
            case "publish": if publishers[connection.path] == nil { publishers[connection.path] = connection }
            case "read": readers[connection.path, default: 0] += 1
            default: break
            }
        }
        let serverEpoch = state.info?.started ?? ""
        var reports: [MediaMTXPathReport] = []
        var nextPaths: [String: PathState] = [:]
        for name in order {
            guard let path = unique[name] else { continue }
            var pathState = state.paths[name] ?? PathState()
            let epoch = serverEpoch + "|" + (path.onlineTime ?? "")
            let inbound = path.inboundBytes.flatMap { pathState.inbound.update(value: $0, time: time, epoch: epoch) }
            let outbound = path.outboundBytes.flatMap { pathState.outbound.update(value: $0, time: time, epoch: epoch) }
            let publisher = publishers[name]
            if let rtt = publisher?.rttMilliseconds {
                pathState.rtts.append((time, rtt))
            }
            pathState.rtts.removeAll { $0.time < time - 60 }
            nextPaths[name] = pathState
            reports.append(
                MediaMTXPathReport(
                    path: path,
                    inbound: inbound,
                    outbound: outbound,
                    srtPublisher: publisher,
                    srtReaders: readers[name] ?? 0,
                    rttPercentiles: Self.percentiles(pathState.rtts.map(\.value))
                )
            )
        }
        state.paths = nextPaths
        return MediaMTXInstanceReport(instance: instance, error: nil, paths: reports, srtConnections: connections, info: state.info)
    }

    /// The median and 95th percentile (nearest rank) of some values.
    static func percentiles(_ values: [Double]) -> RTTPercentiles? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        func rank(_ q: Double) -> Double { sorted[max(0, min(sorted.count - 1, Int((q * Double(sorted.count)).rounded(.up)) - 1))] }
        return RTTPercentiles(p50: rank(0.5), p95: rank(0.95))
    }

    // MARK: - Hub

    /// The hub target of an instance.
    public static func target(instance: String) -> TargetID { TargetID(.stream, "mediamtx/\(instance)") }

    /// The hub target of a path.
    public static func target(instance: String, path: String) -> TargetID { TargetID(.stream, "mediamtx/\(instance)/\(path)") }

    private func publish(
        _ report: MediaMTXInstanceReport,
        instance: MediaMTXConfiguration.Instance,
        wasUp: Bool?,
        state: inout InstanceState,
        time: Double,
        to hub: Hub
    ) async {
        var observations: [Observation] = []
        let instanceTarget = Self.target(instance: instance.name)
        var instanceAttributes: [String: JSONValue?] = [
            AttributeName.source.rawValue: .string("mediamtx"),
            AttributeName.type.rawValue: .string("instance"),
            "instance": .string(instance.name),
            "url": .string(Redaction.urls(in: instance.url)),
            "error": report.error.map(JSONValue.string),
            AttributeName.version.rawValue: report.info?.version.map(JSONValue.string),
            "started": report.info?.started.map(JSONValue.string),
        ]
        if report.error == nil {
            instanceAttributes[AttributeName.paths.rawValue] = .number(Double(report.paths.count))
            instanceAttributes[AttributeName.pathsOnline.rawValue] = .number(Double(report.paths.filter(\.path.online).count))
            instanceAttributes["srt_connections"] = .number(Double(report.srtConnections.count))
        }
        observations.append(
            Observation(target: instanceTarget, time: time, status: report.error == nil ? .up : .down, attributes: instanceAttributes)
        )

        if let error = report.error {
            for target in state.known.keys where target != instanceTarget {
                observations.append(
                    Observation(target: target, time: time, status: .stale, attributes: ["error": .string("instance unreachable: \(error)")])
                )
            }
        } else {
            var seen: Set<TargetID> = [instanceTarget]
            for path in report.paths {
                let target = Self.target(instance: instance.name, path: path.path.name)
                seen.insert(target)
                observations.append(Self.observation(path, instance: instance.name, target: target, time: time))
            }
            for target in state.known.keys where !seen.contains(target) {
                state.known[target] = nil
                await hub.remove(target)
            }
        }
        await hub.apply(observations)
        for observation in observations {
            guard let status = observation.status else { continue }
            let previous = state.known[observation.target]
            state.known[observation.target] = status
            guard let previous, previous != status, status != .stale, !(previous == .stale && status == .up) else { continue }
            let isInstance = observation.target == instanceTarget
            await hub.record(
                Event(
                    time: time,
                    target: observation.target,
                    type: "status_changed",
                    severity: status == .up ? .info : .warning,
                    message: isInstance
                        ? "MediaMTX instance \(instance.name) is \(status.rawValue)\(report.error.map { ": \($0)" } ?? "")"
                        : "Stream \(observation.target.name) is \(status == .up ? "online" : "offline")",
                    fields: ["from": previous.rawValue, "to": status.rawValue, "source": "mediamtx"]
                )
            )
        }
    }

    private static func observation(_ report: MediaMTXPathReport, instance: String, target: TargetID, time: Double) -> Observation {
        let path = report.path
        var attributes: [String: JSONValue?] = [
            AttributeName.source.rawValue: .string("mediamtx"),
            "instance": .string(instance),
            "path": .string(path.name),
            "conf_name": path.confName.map(JSONValue.string),
            "online": .bool(path.online),
            "online_time": path.onlineTime.map(JSONValue.string),
            AttributeName.sourceType.rawValue: path.sourceType.map(JSONValue.string),
            "source_id": path.sourceID.map(JSONValue.string),
            AttributeName.readers.rawValue: .number(Double(path.readerCount)),
            "reader_types": .array(path.readerTypes.map(JSONValue.string)),
            "tracks": .array(path.tracks.map(JSONValue.string)),
            "api_generation": .string(path.generation.rawValue),
            "inbound_bytes": path.inboundBytes.map(JSONValue.number),
            "outbound_bytes": path.outboundBytes.map(JSONValue.number),
            AttributeName.inboundBytesPerSecond10s.rawValue: report.inbound.map { .number($0.average10s) },
            "inbound_bytes_per_second_60s": report.inbound.map { .number($0.average60s) },
            "outbound_bytes_per_second_10s": report.outbound.map { .number($0.average10s) },
            "outbound_bytes_per_second_60s": report.outbound.map { .number($0.average60s) },
            "srt_readers": .number(Double(report.srtReaders)),
            AttributeName.rttP50Milliseconds.rawValue: report.rttPercentiles.map { .number($0.p50) },
            "rtt_p95_ms": report.rttPercentiles.map { .number($0.p95) },
            "error": nil,
        ]
        var samples = [Sample(.readers, Double(path.readerCount))]
        if let inbound = report.inbound { samples.append(Sample(.inboundBytesPerSecond, inbound.instant)) }
        if let outbound = report.outbound { samples.append(Sample(.outboundBytesPerSecond, outbound.instant)) }
        if let bytes = path.inboundBytes { samples.append(Sample("inbound_bytes_total", bytes, kind: .counter, recordHistory: false)) }
        if let bytes = path.outboundBytes { samples.append(Sample("outbound_bytes_total", bytes, kind: .counter, recordHistory: false)) }
        if let srt = report.srtPublisher {
            var fields: [String: JSONValue] = ["id": .string(srt.id), "state": .string(srt.state)]
            fields["remote_addr"] = srt.remoteAddress.map(JSONValue.string)
            fields[AttributeName.srtRTTMilliseconds.rawValue] = srt.rttMilliseconds.map(JSONValue.number)
            fields["mbps_receive_rate"] = srt.receiveRateMbps.map(JSONValue.number)
            fields["mbps_link_capacity"] = srt.linkCapacityMbps.map(JSONValue.number)
            fields["packets_received_loss_rate"] = srt.receiveLossRate.map(JSONValue.number)
            attributes[AttributeName.srt.rawValue] = .object(fields)
            if let rtt = srt.rttMilliseconds { samples.append(Sample(.srtRTTSeconds, rtt / 1000)) }
            if let rate = srt.receiveRateMbps { samples.append(Sample("srt_receive_rate_bytes_per_second", rate * 125_000)) }
            if let capacity = srt.linkCapacityMbps { samples.append(Sample("srt_link_capacity_bytes_per_second", capacity * 125_000)) }
            if let loss = srt.receiveLossRate { samples.append(Sample("srt_receive_loss_rate", loss)) }
        } else {
            attributes[AttributeName.srt.rawValue] = .some(nil)
        }
        return Observation(target: target, time: time, status: path.online ? .up : .down, attributes: attributes, samples: samples)
    }
}
