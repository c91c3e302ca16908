//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import AsyncHTTPClient
public import Logging
import Metrics
public import ServiceLifecycle
public import VigilCore

/// Polls Visionaire stream APIs (seed 004) and publishes the seed's camera metrics and hub state.
///
/// Each cycle fetches `GET /streams` from every host and `GET /streams/{node}/{id}` for every
/// listed camera, all concurrently within ``VisionaireConfiguration/maxConcurrentRequests`` (and
/// ``VisionaireConfiguration/maxRequestsPerHost`` per host), each request with its own deadline.
/// When the cycle is complete, its metric families replace the previous ones in the
/// ``MetricsSnapshotExporter`` at once, and its observations go to the hub:
///
/// - target `stream/visionaire/<source_host>/<stream_id>`, status `up` (RUNNING and active), `down`
///   (another state) or `error` (the detail request failed); `stale` while its host's list fails;
/// - attributes `source` (`visionaire`), `source_host`, `stream_id`, `stream_name`, `node_num`,
///   `state_text`, `active`, `fps`, `frame_width`, `frame_height`, `last_error_msg`, `address`,
///   `latitude`, `longitude`, `error`;
/// - samples `up` and `fps` (history);
/// - cameras that a host no longer lists are removed; status changes are recorded as
///   `status_changed` events.
///
/// The cycle duration is exported as `vigil_visionaire_cycle_duration_seconds` (swift-metrics).
public actor VisionairePoller: Service {
    private let configuration: VisionaireConfiguration
    private let exporter: MetricsSnapshotExporter
    private let hub: Hub?
    private let fetcher: StreamHTTPFetcher
    private let logger: Logger
    private let clock: any VigilClock
    private let sourceHosts: [String]
    private let cycleGauge = Gauge(label: "vigil_visionaire_cycle_duration_seconds")

    private var errorTotals: [String: Int] = [:]
    private var known: [TargetID: TargetStatus] = [:]
    /// Which hosts this Vigil polls when several share a store (`nil`: all of them).
    private let ownership: WorkOwnership?

    /// Creates the poller.
    ///
    /// - Parameters:
    ///   - configuration: Hosts, intervals and limits.
    ///   - exporter: Where each cycle's metrics are published.
    ///   - hub: Where observations go; `nil` publishes metrics only (benchmarks).
    ///   - httpClient: The HTTP client; the shared one by default.
    ///   - logger: Logger, label `vigil.visionaire`.
    ///   - clock: The clock (``SystemClock``; tests pass a ``ManualClock``).
    ///   - ownership: With several Vigil instances, polls only the hosts whose work key
    ///     (``workKey(sourceHost:)``) this one owns; `nil` polls every host.
    public init(
        configuration: VisionaireConfiguration,
        exporter: MetricsSnapshotExporter,
        hub: Hub?,
        httpClient: HTTPClient = .shared,
        logger: Logger = Logger(label: "vigil.visionaire"),
        clock: any VigilClock = SystemClock(),
        ownership: WorkOwnership? = nil
    ) {
        self.ownership = ownership
        self.configuration = configuration
        self.exporter = exporter
        self.hub = hub
        self.fetcher = StreamHTTPFetcher(client: httpClient, timeout: configuration.requestTimeout, authorization: nil)
        self.logger = logger
        self.clock = clock
        self.sourceHosts = VisionaireConfiguration.sourceHosts(for: configuration.apiBaseURLs)
    }

    /// Polls every `update_interval` (measured from cycle start to cycle start) until shutdown.
    public func run() async throws {
        let interval = configuration.updateInterval
        let clock = self.clock
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let start = clock.now
                await self.poll()
                try await clock.sleep(until: start.advanced(by: interval), tolerance: nil)
            }
        }
    }

    /// The key of a host's polling in ``WorkOwnership``.
    public static func workKey(sourceHost: String) -> String { "visionaire/\(sourceHost)" }

    /// Runs one complete cycle over the hosts this Vigil owns, publishes their metrics and
    /// observations, and returns their reports.
    @discardableResult
    public func poll() async -> [VisionaireHostReport] {
        let start = clock.now
        let owned = sourceHosts.indices.filter { ownership?.owns(Self.workKey(sourceHost: sourceHosts[$0])) ?? true }
        let reports = await fetchAll(hosts: Set(owned))
        for report in reports where report.errors > 0 {
            errorTotals[report.sourceHost, default: 0] += report.errors
        }
        exporter.publish(VisionaireMetrics.families(hosts: reports, errorTotals: errorTotals))
        cycleGauge.record(start.duration(to: clock.now).secondsDouble)
        for report in reports {
            if let error = report.listError {
                logger.warning("Could not list Visionaire streams", metadata: ["source_host": "\(report.sourceHost)", "error": "\(error)"])
            } else if report.errors > 0 {
                logger.warning(
                    "Some Visionaire stream details failed",
                    metadata: ["source_host": "\(report.sourceHost)", "errors": "\(report.errors)"]
                )
            }
        }
        if let hub { await publish(reports, to: hub) }
        return reports
    }

    /// Failed requests per `source_host` since start.
    public var errorCounts: [String: Int] { errorTotals }

    // MARK: - Fetching

    private enum Job: Sendable {
        case list(host: Int)
        case detail(host: Int, camera: Int, url: String)
    }

    private enum Outcome: Sendable {
        case list(host: Int, Result<(VisionaireStreamList, Double), StreamHTTPFetcher.Failure>)
        case detail(host: Int, camera: Int, Result<(VisionaireStream, Double), StreamHTTPFetcher.Failure>)
    }

    /// Runs all requests of a cycle in one task group, never more than the configured number at
    /// once; a host's detail requests are queued as soon as its list arrives.
    private func fetchAll(hosts owned: Set<Int>) async -> [VisionaireHostReport] {
        let urls = configuration.apiBaseURLs.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        var reports = zip(configuration.apiBaseURLs, sourceHosts).map { VisionaireHostReport(baseURL: $0, sourceHost: $1) }
        let fetcher = self.fetcher
        let globalLimit = max(1, configuration.maxConcurrentRequests)
        let hostLimit = max(1, configuration.maxRequestsPerHost)
        var pending: [[Job]] = urls.indices.map { owned.contains($0) ? [.list(host: $0)] : [] }
        var pendingStart = [Int](repeating: 0, count: urls.count)
        var inFlight = [Int](repeating: 0, count: urls.count)
        var running = 0
        var nextHost = 0

        await withTaskGroup(of: Outcome.self) { group in
            func fill() {
                var idle = 0
                while running < globalLimit, idle < urls.count {
                    let host = nextHost
                    nextHost = (nextHost + 1) % max(1, urls.count)
                    guard inFlight[host] < hostLimit, pendingStart[host] < pending[host].count else {
                        idle += 1
                        continue
                    }
                    idle = 0
                    let job = pending[host][pendingStart[host]]
                    pendingStart[host] += 1
                    inFlight[host] += 1
                    running += 1
                    group.addTask {
                        switch job {
                        case .list(let host):
                            do {
                                return .list(host: host, .success(try await fetcher.get(urls[host] + "/streams", as: VisionaireStreamList.self)))
                            } catch {
                                return .list(host: host, .failure(error as? StreamHTTPFetcher.Failure ?? .init(description: "\(error)")))
                            }
                        case .detail(let host, let camera, let url):
                            do {
                                return .detail(host: host, camera: camera, .success(try await fetcher.get(url, as: VisionaireStream.self)))
                            } catch {
                                return .detail(
                                    host: host,
                                    camera: camera,
                                    .failure(error as? StreamHTTPFetcher.Failure ?? .init(description: "\(error)"))
                                )
                            }
                        }
                    }
                }
            }

            fill()
            while let outcome = await group.next() {
                running -= 1
                switch outcome {
                case .list(let host, .success(let (list, seconds))):
                    inFlight[host] -= 1
                    reports[host].durations.append(seconds)
                    for stream in list.streams {
                        guard let id = stream.streamID, !id.isEmpty, let node = stream.nodeNumber else { continue }
                        let camera = reports[host].cameras.count
                        reports[host].cameras.append(VisionaireCameraReport(listed: stream))
                        let url = "\(urls[host])/streams/\(Self.pathComponent(node))/\(Self.pathComponent(id))"
                        pending[host].append(.detail(host: host, camera: camera, url: url))
                    }
                case .list(let host, .failure(let failure)):
                    inFlight[host] -= 1
                    reports[host].listError = failure.description
                    reports[host].errors += 1
                case .detail(let host, let camera, .success(let (detail, seconds))):
                    inFlight[host] -= 1
                    reports[host].durations.append(seconds)
                    reports[host].cameras[camera].detail = detail
                case .detail(let host, let camera, .failure(let failure)):
                    inFlight[host] -= 1
                    reports[host].cameras[camera].error = failure.description
                    reports[host].errors += 1
                }
                fill()
            }
        }
        return owned.sorted().map { reports[$0] }
    }

    /// Percent-encodes everything but unreserved characters, so an id cannot change the path.
    static func pathComponent(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                result += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]], as: UTF8.self)
            }
        }
        return result
    }

    // MARK: - Hub

    /// The hub target of a camera.
    public static func target(sourceHost: String, streamID: String) -> TargetID {
        TargetID(.stream, "visionaire/\(sourceHost)/\(streamID)")
    }

    private func publish(_ reports: [VisionaireHostReport], to hub: Hub) async {
        let time = clock.wallClockSeconds
        var observations: [Observation] = []
        var seen: Set<TargetID> = []
        var failedHosts: Set<String> = []
        for report in reports {
            guard report.listError == nil else {
                failedHosts.insert(report.sourceHost)
                continue
            }
            for camera in report.cameras {
                let target = Self.target(sourceHost: report.sourceHost, streamID: camera.streamID)
                seen.insert(target)
                observations.append(Self.observation(camera, sourceHost: report.sourceHost, target: target, time: time))
            }
        }
        let polledHosts = Set(reports.map(\.sourceHost))
        for (target, _) in known where !seen.contains(target) {
            let host = target.name.split(separator: "/").dropFirst().first.map(String.init) ?? ""
            if !polledHosts.contains(host) {
                // Another Vigil polls this host now: its observations replace ours.
                known[target] = nil
            } else if failedHosts.contains(host) {
                let error = reports.first { $0.sourceHost == host }?.listError
                observations.append(Observation(target: target, time: time, status: .stale, attributes: ["error": error.map(JSONValue.string)]))
            } else {
                known[target] = nil
                await hub.remove(target)
            }
        }
        await hub.apply(observations)
        for observation in observations {
            guard let status = observation.status else { continue }
            let previous = known[observation.target]
            known[observation.target] = status
            if let previous, previous != status {
                await hub.record(
                    Event(
                        time: time,
                        target: observation.target,
                        type: "status_changed",
                        severity: status == .up ? .info : .warning,
                        message: "Camera \(observation.target.name) is \(status.rawValue) (was \(previous.rawValue))",
                        fields: ["from": previous.rawValue, "to": status.rawValue, "source": "visionaire"]
                    )
                )
            }
        }
    }

    private static func observation(_ camera: VisionaireCameraReport, sourceHost: String, target: TargetID, time: Double) -> Observation {
        let detail = camera.detail
        let status: TargetStatus = detail == nil ? .error : (camera.isUp ? .up : .down)
        var attributes: [String: JSONValue?] = [
            AttributeName.source.rawValue: .string("visionaire"),
            AttributeName.sourceHost.rawValue: .string(sourceHost),
            "stream_id": .string(camera.streamID),
            AttributeName.streamName.rawValue: .string(camera.streamName),
            "node_num": .string(camera.nodeNumber),
            "state_text": .string(camera.stateText),
            "error": camera.error.map(JSONValue.string),
        ]
        let merged = detail ?? camera.listed
        attributes["active"] = merged.active.map(JSONValue.bool)
        attributes["address"] = merged.address.map(JSONValue.string)
        attributes["latitude"] = merged.latitude.map(JSONValue.number)
        attributes["longitude"] = merged.longitude.map(JSONValue.number)
        attributes["fps"] = detail?.stats?.fps.map(JSONValue.number)
        attributes["frame_width"] = detail?.stats?.frameWidth.map(JSONValue.number)
        attributes["frame_height"] = detail?.stats?.frameHeight.map(JSONValue.number)
        attributes["last_error_msg"] = detail?.stats?.lastErrorMessage.map(JSONValue.string)
        var samples = [Sample(.up, camera.isUp ? 1 : 0)]
        if let fps = detail?.stats?.fps { samples.append(Sample(.fps, fps)) }
        return Observation(target: target, time: time, status: status, attributes: attributes, samples: samples)
    }
}
