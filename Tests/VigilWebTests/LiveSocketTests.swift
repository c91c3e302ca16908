//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import HummingbirdWSTesting
import Logging
import NIOWebSocket
import Synchronization
import Testing
import VigilCore
import VigilWeb

#if canImport(Glibc)
import Glibc
#endif

@Suite("Live WebSocket feed")
struct LiveSocketTests {
    struct Fixture {
        let hub = Hub(stores: MemoryStore().stores)
        var configuration = WebConfiguration(live: LiveConfiguration(sampleInterval: .milliseconds(100)))

        var app: some ApplicationProtocol {
            buildWebApplication(
                WebDependencies(hub: hub, exporters: [], readiness: Readiness(), version: "9.9.9", configuration: configuration),
                logger: Logger(label: "test")
            )
        }
    }

    typealias Messages = WebSocketInboundMessageStream.AsyncIterator

    /// The next JSON message that is not a heartbeat.
    static func next(_ messages: inout Messages) async throws -> [String: Any] {
        while true {
            guard let message = try await messages.next() else { throw TestFailure("the feed closed") }
            guard case .text(let text) = message else { throw TestFailure("binary message") }
            let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            if json["type"] as? String != "heartbeat" { return json }
        }
    }

    struct TestFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Runs `body`, failing instead of hanging when it takes longer than `seconds`.
    static func withTimeout(_ seconds: Int = 20, _ body: @escaping @Sendable () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await body()
                return true
            }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return false
            }
            let finished = try await group.next() ?? false
            group.cancelAll()
            if !finished { throw TestFailure("timed out after \(seconds) s") }
        }
    }

    @Test("Snapshot on connect, then a state change without asking, filtered by kind")
    func snapshotThenChanges() async throws {
        let fixture = Fixture()
        let hub = fixture.hub
        await hub.apply(Observation(target: TargetID(.device, "esp"), time: 1, status: .up, attributes: ["state": .string("ok")]))
        await hub.apply(Observation(target: TargetID(.host, "web1"), time: 1, status: .up))
        await hub.record(Event(time: 1, target: TargetID(.device, "esp"), type: "seen", message: "esp seen"))
        try await Self.withTimeout {
            try await fixture.app.test(.live) { client in
                _ = try await client.ws("/api/v1/live?kind=device") { inbound, _, _ in
                    var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                    let snapshot = try await Self.next(&messages)
                    #expect(snapshot["type"] as? String == "snapshot")
                    let states = try #require(snapshot["states"] as? [[String: Any]])
                    #expect(states.map { ($0["target"] as? [String: String])?["name"] } == ["esp"])
                    #expect((snapshot["events"] as? [[String: Any]])?.count == 1)

                    // A host change does not pass the filter; the device change that follows does.
                    await hub.apply(Observation(target: TargetID(.host, "web1"), time: 2, status: .down))
                    await hub.apply(Observation(target: TargetID(.device, "esp"), time: 2, status: .down, attributes: ["state": .string("expired")]))
                    let update = try await Self.next(&messages)
                    #expect(update["type"] as? String == "state")
                    let state = try #require(update["state"] as? [String: Any])
                    #expect((state["target"] as? [String: String])?["name"] == "esp")
                    #expect(state["status"] as? String == "down")

                    await hub.record(Event(time: 3, target: TargetID(.device, "esp"), type: "expired", message: "esp expired"))
                    let event = try await Self.next(&messages)
                    #expect(event["type"] as? String == "event")
                    #expect((event["event"] as? [String: Any])?["message"] as? String == "esp expired")
                }
            }
        }
    }

    @Test("A subscribe message changes the filter and brings a new snapshot; bad messages get an error reply")
    func subscribe() async throws {
        let fixture = Fixture()
        let hub = fixture.hub
        await hub.apply(Observation(target: TargetID(.device, "esp"), time: 1, status: .up))
        await hub.apply(Observation(target: TargetID(.host, "web1"), time: 1, status: .up))
        try await Self.withTimeout {
            try await fixture.app.test(.live) { client in
                _ = try await client.ws("/api/v1/live?kind=device") { inbound, outbound, _ in
                    var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                    _ = try await Self.next(&messages)
                    try await outbound.write(.text(#"{"type":"subscribe","targets":["host/web1"],"events":false}"#))
                    let subscribed = try await Self.next(&messages)
                    #expect(subscribed["type"] as? String == "subscribed")
                    #expect((subscribed["filter"] as? [String: Any])?["targets"] as? [String] == ["host/web1"])
                    let snapshot = try await Self.next(&messages)
                    #expect(snapshot["type"] as? String == "snapshot")
                    #expect((snapshot["states"] as? [[String: Any]])?.count == 1)

                    try await outbound.write(.text(#"{"type":"subscribe","kinds":["toaster"]}"#))
                    let failure = try await Self.next(&messages)
                    #expect(failure["type"] as? String == "error")
                    #expect((failure["error"] as? String)?.contains("toaster") == true)
                    try await outbound.write(.text("not json"))
                    let reply = try await Self.next(&messages)
                    #expect(reply["type"] as? String == "error")

                    // The filter from the first subscribe still holds.
                    await hub.apply(Observation(target: TargetID(.device, "esp"), time: 2, status: .down))
                    await hub.apply(Observation(target: TargetID(.host, "web1"), time: 2, status: .down))
                    let update = try await Self.next(&messages)
                    #expect(((update["state"] as? [String: Any])?["target"] as? [String: String])?["name"] == "web1")
                }
            }
        }
    }

    @Test("Sample-only updates reach the client at a bounded rate, newest value last")
    func sampleRate() async throws {
        let fixture = Fixture()
        let hub = fixture.hub
        let target = TargetID(.stream, "cam1")
        await hub.apply(Observation(target: target, time: 1, status: .up, samples: [Sample("readers", 0)]))
        try await Self.withTimeout {
            try await fixture.app.test(.live) { client in
                _ = try await client.ws("/api/v1/live?kind=stream&events=false") { inbound, _, _ in
                    var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                    _ = try await Self.next(&messages)
                    for value in 1...50 {
                        await hub.apply(Observation(target: target, time: 2, samples: [Sample("readers", Double(value))]))
                    }
                    var received: [Double] = []
                    while received.last != 50 {
                        let update = try await Self.next(&messages)
                        let values = try #require((update["state"] as? [String: Any])?["values"] as? [String: Double])
                        received.append(try #require(values["readers"]))
                    }
                    #expect(received.count < 50, "got \(received.count) updates for 50 samples")
                }
            }
        }
    }

    @Test("With a token, the feed needs it (header or query); without it the upgrade is refused")
    func token() async throws {
        var fixture = Fixture()
        fixture.configuration.token = "s3cret"
        let app = fixture.app
        try await Self.withTimeout {
            try await app.test(.live) { client in
                await #expect(throws: (any Error).self) {
                    try await client.ws("/api/v1/live") { _, _, _ in }
                }
                await #expect(throws: (any Error).self) {
                    try await client.ws("/api/v1/live?token=wrong") { _, _, _ in }
                }
                try await client.ws("/api/v1/live?token=s3cret") { inbound, _, _ in
                    var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                    let reply = try await Self.next(&messages)
                    #expect(reply["type"] as? String == "snapshot")
                }
                try await client.ws("/api/v1/live", configuration: .init(additionalHeaders: [.authorization: "Bearer s3cret"])) { inbound, _, _ in
                    var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                    let reply = try await Self.next(&messages)
                    #expect(reply["type"] as? String == "snapshot")
                }
            }
        }
    }

    @Test("A bad filter in the query refuses the upgrade; a plain GET gets 400 or 426")
    func badFilter() async throws {
        let app = Fixture().app
        try await Self.withTimeout {
            try await app.test(.live) { client in
                await #expect(throws: (any Error).self) {
                    try await client.ws("/api/v1/live?kind=toaster") { _, _, _ in }
                }
                try await client.execute(uri: "/api/v1/live", method: .get) { response in
                    #expect(response.status == .upgradeRequired)
                }
                try await client.execute(uri: "/api/v1/live?kind=toaster", method: .get) { response in
                    #expect(response.status == .badRequest)
                    #expect(String(buffer: response.body).contains("toaster"))
                }
            }
        }
    }

    @Test("A snapshot larger than one frame arrives whole")
    func largeSnapshot() async throws {
        let fixture = Fixture()
        let hub = fixture.hub
        for index in 0..<300 {
            await hub.apply(
                Observation(
                    target: TargetID(.stream, "camera-\(index)"),
                    time: 1,
                    status: .up,
                    attributes: ["address": .string("rtsp://10.0.0.\(index)/stream")]
                )
            )
        }
        try await Self.withTimeout {
            try await fixture.app.test(.live) { client in
                _ = try await client.ws("/api/v1/live") { inbound, _, _ in
                    var messages = inbound.messages(maxSize: 1 << 22).makeAsyncIterator()
                    let snapshot = try await Self.next(&messages)
                    #expect((snapshot["states"] as? [[String: Any]])?.count == 300)
                }
            }
        }
    }

    // MARK: - Bounds, tried over a real socket

    /// Connects until the feed admits the client (a refused one is closed at once) and returns
    /// whether a snapshot arrived.
    static func snapshotWithRetries(_ client: some TestClientProtocol) async throws -> Bool {
        for _ in 0..<50 {
            let admitted = Mutex(false)
            try await client.ws("/api/v1/live") { inbound, _, _ in
                var messages = inbound.messages(maxSize: 1 << 22).makeAsyncIterator()
                if let message = try await messages.next(), case .text(let text) = message, text.contains(#""type":"snapshot""#) {
                    admitted.withLock { $0 = true }
                }
            }
            if admitted.withLock({ $0 }) { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    @Test("Past live_max_clients a new client is closed at once with 1013 and a reason")
    func tooManyClients() async throws {
        var fixture = Fixture()
        fixture.configuration.live.maxClients = 1
        let app = fixture.app
        try await Self.withTimeout {
            try await app.test(.live) { client in
                try await client.ws("/api/v1/live") { inbound, _, _ in
                    var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                    #expect(try await Self.next(&messages)["type"] as? String == "snapshot")
                    let refused = try await client.ws("/api/v1/live") { inbound, _, _ in
                        for try await _ in inbound.messages(maxSize: 1 << 20) {}
                    }
                    #expect(refused?.closeCode == .unknown(1013))
                    #expect(refused?.reason?.contains("too many live clients") == true)
                }
                // The slot is free again once the first client has gone.
                let admitted = try await Self.snapshotWithRetries(client)
                #expect(admitted)
            }
        }
    }

    @Test("A client that floods messages is closed with 1008 'too many messages'")
    func messageFlood() async throws {
        var fixture = Fixture()
        fixture.configuration.live.maxRequestsPerSecond = 2
        let app = fixture.app
        try await Self.withTimeout {
            try await app.test(.live) { client in
                let close = try await client.ws("/api/v1/live") { inbound, outbound, _ in
                    for _ in 0..<50 {
                        try? await outbound.write(.text(#"{"type":"subscribe"}"#))
                    }
                    for try await _ in inbound.messages(maxSize: 1 << 22) {}
                }
                #expect(close?.closeCode == .policyViolation)
                #expect(close?.reason?.contains("too many messages") == true)
            }
        }
    }

    @Test(
        "A client that asks for snapshots and never reads is closed once its queue passes live_max_queued_bytes",
        .disabled(
            "hangs now and then when run in parallel with the other suites (passes alone); the bound is covered by LiveBoundsTests and Tests/system/live-abuse.sh"
        )
    )
    func neverReads() async throws {
        var fixture = Fixture()
        fixture.configuration.live.maxRequestsPerSecond = 10_000
        fixture.configuration.live.maxQueuedBytes = 64 * 1024
        fixture.configuration.live.maxClients = 1
        let hub = fixture.hub
        // About 20 KB per snapshot.
        for index in 0..<100 {
            await hub.apply(
                Observation(
                    target: TargetID(.stream, "camera-\(index)"),
                    time: 1,
                    status: .up,
                    attributes: ["address": .string("rtsp://10.0.0.\(index % 250)/a-rather-long-stream-path-\(index)")]
                )
            )
        }
        let app = fixture.app
        try await Self.withTimeout(60) {
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let abuser = try await RawWebSocketClient.connect(port: port)
                // 2,000 snapshots (40 MB) are far more than the socket buffers and the queue hold.
                try await abuser.send(text: #"{"type":"subscribe"}"#, times: 2_000)
                // Without reading a byte from it: the feed lets go of it, and the only slot is free again.
                let admitted = try await Self.snapshotWithRetries(client)
                #expect(admitted)
                // Its close frame names the bound when it reached the socket before the connection
                // was cut off (a client that reads nothing cannot be sure to get it).
                let end = String(decoding: try await abuser.readToEnd(), as: UTF8.self)
                if end.contains("too slow") {
                    #expect(end.contains("bytes queued"))
                }
            }
        }
    }
}
