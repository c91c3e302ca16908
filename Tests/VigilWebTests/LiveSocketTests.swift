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
import Testing
import VigilCore
import VigilWeb

@Suite("Live WebSocket feed")
struct LiveSocketTests {
    struct Fixture {
        let hub = Hub(stores: MemoryStore().stores, now: { 2000 })
        var configuration = WebConfiguration(live: LiveConfiguration(sampleInterval: .milliseconds(100)))

        var app: some ApplicationProtocol {
            buildWebApplication(
                WebDependencies(hub: hub, exporters: [], readiness: Readiness(), version: "9.9.9", configuration: configuration, now: { 2000 }),
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
            group.addTask { try await body(); return true }
            group.addTask { try await Task.sleep(for: .seconds(seconds)); return false }
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
            await hub.apply(Observation(target: TargetID(.stream, "camera-\(index)"), time: 1, status: .up, attributes: ["address": .string("rtsp://10.0.0.\(index)/stream")]))
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
}
