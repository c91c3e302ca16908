//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import Foundation
public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle
import Synchronization
import VigilClientSupport
import VigilCore
import VigilMQTT

/// `vigil agent`: samples this machine (``HostSampler``, the same samples Vigil takes of its own
/// host) and pushes them to a central Vigil, over MQTT or HTTP (``HostReport``).
///
/// Samples wait in a bounded buffer (``SampleBuffer``) until the central acknowledges them: an MQTT
/// PUBACK, or a `200` from `POST /api/v1/ingest/host`. While the central or broker is away the
/// buffer fills, the oldest samples are dropped beyond its limit (counted, and reported to the
/// central as `dropped_samples`), and what is left is delivered when it returns. Over MQTT the agent
/// sets a retained `online` on `<prefix>/<name>/status` and a Last Will of `offline`, so that the
/// central sees it die.
///
/// It has no store, no web server and no hub: one event-loop thread, the sampler and one client.
public final class HostAgent: Service {
    private let configuration: HostAgentConfiguration
    private let logger: Logger
    private let transport: any HostAgentTransport

    /// Creates the agent and its client (nothing connects until ``run()``).
    public init(configuration: HostAgentConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        switch configuration.destination {
        case .mqtt(let url):
            transport = try MQTTAgentTransport(configuration: configuration, url: url, logger: logger)
        case .http(let url):
            transport = HTTPAgentTransport(configuration: configuration, url: url)
        }
    }

    /// The MQTT client, which must run beside the agent (`nil` over HTTP).
    public var services: [any Service] { transport.services }

    /// Samples and sends until shutdown; then says `offline` (best effort).
    ///
    /// Sampling and sending are two tasks sharing the buffer, so that a send that waits for the
    /// central (up to `send_timeout`) never delays a sample.
    public func run() async throws {
        let buffer = SharedSampleBuffer(limit: configuration.bufferLimit)
        let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.sampleLoop(into: buffer, wake: wake) }
                group.addTask {
                    var failing = false
                    for await _ in wakeups { await self.flush(buffer, failing: &failing) }
                }
            }
        }
        let offline = HostReport(
            host: configuration.name,
            intervalSeconds: configuration.interval.secondsDouble,
            droppedSamples: Double(buffer.withLock { $0.dropped }),
            status: "offline",
            samples: []
        )
        await transport.sayOffline(offline)
    }

    private func sampleLoop(into buffer: SharedSampleBuffer, wake: AsyncStream<Void>.Continuation) async {
        var sampler = HostSampler(settings: configuration.sampler)
        let clock = ContinuousClock()
        var deadline = clock.now
        while !Task.isCancelled {
            let time = Date().timeIntervalSince1970
            let entry = HostReport.entry(time: time, samples: sampler.sample(time: time))
            let dropped = buffer.withLock { $0.append(entry) ? $0.dropped : 0 }
            if dropped.isPowerOfTwo {
                logger.warning("Agent buffer full; dropping the oldest samples", metadata: ["agent.dropped": "\(dropped)"])
            }
            wake.yield()
            deadline = deadline.advanced(by: configuration.interval)
            if deadline < clock.now { deadline = clock.now }
            do { try await clock.sleep(until: deadline) } catch { break }
        }
        wake.finish()
    }

    /// Sends what the buffer holds, oldest first, until it is empty or the central is unavailable
    /// (the next sample tries again).
    private func flush(_ buffer: SharedSampleBuffer, failing: inout Bool) async {
        while !Task.isCancelled {
            let (batch, dropped) = buffer.withLock { ($0.first(configuration.batchLimit), $0.dropped) }
            guard let last = batch.last else { return }
            let report = HostReport(
                host: configuration.name,
                intervalSeconds: configuration.interval.secondsDouble,
                droppedSamples: Double(dropped),
                samples: batch
            )
            switch await transport.send(report) {
            case .delivered:
                let left = buffer.withLock { buffer in
                    buffer.removeThrough(time: last.time, counting: false)
                    return buffer.count
                }
                if failing { logger.info("Central reachable again", metadata: ["agent.buffered": "\(left)"]) }
                failing = false
            case .rejected(let reason):
                // The central will never take these samples: drop them rather than block the rest.
                buffer.withLock { $0.removeThrough(time: last.time, counting: true) }
                logger.error("Central refused a report; its samples are dropped", metadata: ["reason": "\(reason)"])
            case .unavailable(let reason):
                if !failing { logger.warning("Central unreachable; buffering", metadata: ["reason": "\(reason)"]) }
                failing = true
                return
            }
        }
    }
}

/// The buffer shared by the sampling and the sending task.
final class SharedSampleBuffer: Sendable {
    private let state: Mutex<SampleBuffer>

    init(limit: Int) {
        state = Mutex(SampleBuffer(limit: limit))
    }

    func withLock<T: Sendable>(_ body: (inout SampleBuffer) -> T) -> T {
        state.withLock { body(&$0) }
    }
}

extension Int {
    fileprivate var isPowerOfTwo: Bool { self > 0 && self & (self - 1) == 0 }
}

/// The agent's buffer: at most `limit` samples, oldest first; beyond it the oldest are dropped and
/// counted.
public struct SampleBuffer: Sendable {
    private var entries: [HostReport.Entry] = []
    private var start = 0
    /// The most samples kept.
    public let limit: Int
    /// Samples dropped so far (buffer full, or refused by the central).
    public private(set) var dropped = 0

    /// Creates an empty buffer.
    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Samples waiting.
    public var count: Int { entries.count - start }
    /// Whether nothing waits.
    public var isEmpty: Bool { count == 0 }

    /// Adds a sample; returns `true` when the oldest had to be dropped for it.
    @discardableResult
    public mutating func append(_ entry: HostReport.Entry) -> Bool {
        entries.append(entry)
        guard count > limit else { return false }
        discardFirst(count - limit)
        return true
    }

    /// The oldest `n` samples.
    public func first(_ n: Int) -> [HostReport.Entry] {
        Array(entries[start..<(start + min(n, count))])
    }

    /// Removes the oldest `n` samples after their delivery.
    public mutating func removeFirst(_ n: Int) {
        start += min(n, count)
        if start > 64 && start * 2 > entries.count {
            entries.removeFirst(start)
            start = 0
        }
    }

    /// Removes the samples up to `time` (those sent; the oldest may have been dropped meanwhile),
    /// counting them as dropped when `counting` (refused by the central).
    public mutating func removeThrough(time: Double, counting: Bool) {
        var n = 0
        while start + n < entries.count, entries[start + n].time <= time { n += 1 }
        if counting { dropped += n }
        removeFirst(n)
    }

    /// Removes the oldest `n` samples undelivered, counting them as dropped.
    public mutating func discardFirst(_ n: Int) {
        let removed = min(n, count)
        dropped += removed
        removeFirst(removed)
    }
}

/// What became of one report.
enum HostAgentSendResult: Sendable {
    /// Acknowledged by the central (HTTP 200) or the broker (PUBACK).
    case delivered
    /// Refused for good (HTTP 400 or 413): the samples cannot be delivered.
    case rejected(String)
    /// Not delivered now (no connection, a timeout, 401, 429, 5xx): try again later.
    case unavailable(String)
}

/// How reports leave the agent.
protocol HostAgentTransport: Sendable {
    var services: [any Service] { get }
    func send(_ report: HostReport) async -> HostAgentSendResult
    func sayOffline(_ report: HostReport) async
}

/// Runs `operation`, or fails with `nil` after `timeout`.
func withTimeout<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
}

/// Reports to `<prefix>/<name>/metrics` at QoS 1; retained `online`/`offline` on `<prefix>/<name>/status`,
/// with `offline` as the Last Will.
final class MQTTAgentTransport: HostAgentTransport {
    let client: MQTTClient
    let metricsTopic: String
    let statusTopic: String
    let timeout: Duration
    let logger: Logger

    init(configuration: HostAgentConfiguration, url: String, logger: Logger) throws {
        let base = "\(configuration.topicPrefix)/\(configuration.name)"
        metricsTopic = base + "/metrics"
        statusTopic = base + "/status"
        timeout = configuration.sendTimeout
        self.logger = logger
        var settings = try MQTTClientConfiguration(url: url, clientID: "vigil-agent-\(configuration.name)")
        settings.will = MQTTWill(topic: statusTopic, payload: ByteBuffer(string: "offline"), qos: .atLeastOnce, retain: true)
        settings.cleanSession = true
        settings.offlineQueueLimit = 16
        settings.maxInflight = 8
        settings.receiveMaximum = 8
        settings.reconnect = MQTTReconnectPolicy(initialDelay: .milliseconds(500), maximumDelay: .seconds(30), jitter: 0.2)
        client = MQTTClient(configuration: settings, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger, name: "agent")
    }

    var services: [any Service] { [client, OnlineAnnouncer(client: client, topic: statusTopic, logger: logger)] }

    func send(_ report: HostReport) async -> HostAgentSendResult {
        guard client.isConnected else { return .unavailable("not connected to the broker") }
        let payload = ByteBuffer(bytes: report.encoded())
        guard payload.readableBytes <= HostReportLimits.maxBytes else { return .rejected("report larger than the central accepts") }
        do {
            let done: Void? = try await withTimeout(timeout) { [client, metricsTopic] in
                try await client.publish(to: metricsTopic, payload: payload, qos: .atLeastOnce)
            }
            return done == nil ? .unavailable("no PUBACK within \(timeout)") : .delivered
        } catch {
            return .unavailable("\(error)")
        }
    }

    func sayOffline(_ report: HostReport) async {
        guard client.isConnected else { return }
        _ = try? await withTimeout(.seconds(2)) { [client, statusTopic] in
            try await client.publish(to: statusTopic, payload: ByteBuffer(string: "offline"), qos: .atLeastOnce, retain: true)
        }
    }

    /// Publishes the retained `online` after every connection (the Will replaces it when the agent dies).
    struct OnlineAnnouncer: Service {
        let client: MQTTClient
        let topic: String
        let logger: Logger
        let events: AsyncStream<MQTTConnectionEvent>

        init(client: MQTTClient, topic: String, logger: Logger) {
            self.client = client
            self.topic = topic
            self.logger = logger
            self.events = client.connectionEvents
        }

        func run() async throws {
            for await event in events.cancelOnGracefulShutdown() {
                guard case .connected = event else {
                    logger.info("Broker connection: \(event)")
                    continue
                }
                logger.info("Connected to the broker")
                try? await client.publish(to: topic, payload: ByteBuffer(string: "online"), qos: .atLeastOnce, retain: true)
            }
        }
    }
}

/// Reports as `POST` bodies with `Authorization: Bearer <token>`.
final class HTTPAgentTransport: HostAgentTransport {
    let client: HTTPClient
    let url: String
    let token: String?
    let timeout: Duration

    init(configuration: HostAgentConfiguration, url: String) {
        self.url = url
        self.token = configuration.token
        self.timeout = configuration.sendTimeout
        var settings = HTTPClient.Configuration()
        settings.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1)
        settings.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: settings)
    }

    var services: [any Service] { [ClientCloser(client: client)] }

    func send(_ report: HostReport) async -> HostAgentSendResult {
        await post(report, timeout: timeout)
    }

    func sayOffline(_ report: HostReport) async {
        _ = await post(report, timeout: .seconds(2))
    }

    private func post(_ report: HostReport, timeout: Duration) async -> HostAgentSendResult {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(bytes: report.encoded()))
        do {
            let response = try await client.execute(request, timeout: TimeAmount(timeout))
            let body = try await response.body.collect(upTo: 64 * 1024)
            switch response.status.code {
            case 200..<300: return .delivered
            case 400, 413: return .rejected("\(response.status.code): \(String(buffer: body).prefix(200))")
            default: return .unavailable("\(response.status.code): \(String(buffer: body).prefix(200))")
            }
        } catch {
            return .unavailable("\(error)")
        }
    }

    /// Shuts the HTTP client down when the agent stops.
    struct ClientCloser: Service {
        let client: HTTPClient

        func run() async throws {
            try? await gracefulShutdown()
            try? await client.shutdown()
        }
    }
}
