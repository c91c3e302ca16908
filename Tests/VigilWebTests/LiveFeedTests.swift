//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Hummingbird
import Synchronization
import Testing
import VigilCore

@testable import VigilWeb

@Suite("Live feed policy")
struct LiveFeedTests {
    static func state(_ name: String, _ status: TargetStatus, value: Double = 0, kind: TargetKind = .device) -> TargetState {
        TargetState(target: TargetID(kind, name), status: status, since: 0, updatedAt: 0, values: ["v": value])
    }

    static func strings(_ batch: LiveClientQueue.Batch) -> [String]? {
        guard case .messages(let list) = batch else { return nil }
        return list.map { String(buffer: $0) }
    }

    @Test("Filters parse from the query and pass by kind or target")
    func filterParsing() throws {
        let filter = try LiveFilter.parse(query: [("kind", "devices,agent"), ("target", "gateway/gxy1"), ("events", "false")])
        #expect(filter.kinds == [.device, .agent])
        #expect(filter.targets == [TargetID(.gateway, "gxy1")])
        #expect(filter.events == false)
        #expect(filter.passes(.state(Self.state("esp", .up))))
        #expect(filter.passes(.state(Self.state("gxy1", .up, kind: .gateway))))
        #expect(!filter.passes(.state(Self.state("gxy2", .up, kind: .gateway))))
        #expect(!filter.passes(.event(Event(time: 1, target: TargetID(.device, "esp"), type: "x", message: "m"))))
        let all = LiveFilter()
        #expect(all.passes(.event(Event(time: 1, type: "x", message: "m"))))
        #expect(try LiveFilter.parseTarget("stream/mediamtx/main/cam1") == TargetID(.stream, "mediamtx/main/cam1"))
    }

    @Test(
        "Bad filters are rejected with a message",
        arguments: [
            [("kind", "toaster")], [("target", "device")], [("target", "/x")], [("target", "device/")], [("events", "maybe")],
        ]
    )
    func badFilters(query: [(String, String)]) {
        #expect(throws: LiveFilter.ParseError.self) { try LiveFilter.parse(query: query.map { (name: $0.0, value: $0.1) }) }
    }

    @Test("States coalesce per target in place; events keep their order")
    func coalescing() async {
        let queue = LiveClientQueue()
        let a = TargetID(.device, "a")
        let b = TargetID(.device, "b")
        #expect(queue.push(state: a, message: ByteBuffer(string: "a1")) == .queued)
        #expect(queue.push(message: ByteBuffer(string: "e1")) == .queued)
        #expect(queue.push(state: b, message: ByteBuffer(string: "b1")) == .queued)
        #expect(queue.push(state: a, message: ByteBuffer(string: "a2")) == .coalesced)
        #expect(queue.push(message: ByteBuffer(string: "e2")) == .queued)
        #expect(Self.strings(await queue.next()) == ["a2", "e1", "b1", "e2"])
        #expect(queue.count == 0)
    }

    @Test("Too many queued events overflow the queue; it then refuses everything")
    func overflow() async {
        let queue = LiveClientQueue(limits: .init(maxPendingEvents: 3))
        for index in 0..<3 { #expect(queue.push(message: ByteBuffer(string: "e\(index)")) == .queued) }
        #expect(queue.push(message: ByteBuffer(string: "e3")) == .overflow)
        #expect(queue.push(state: TargetID(.host, "h"), message: ByteBuffer(string: "s")) == .overflow)
        #expect(queue.isOverflowed)
        guard case .overflow = await queue.next() else {
            Issue.record("expected overflow")
            return
        }
    }

    @Test("States alone never overflow while targets are few; heartbeats do not pile up")
    func statesAndHeartbeats() async {
        let queue = LiveClientQueue(limits: .init(maxPendingEvents: 2))
        for index in 0..<10_000 {
            queue.push(state: TargetID(.stream, "s\(index % 10)"), message: ByteBuffer(string: "\(index)"))
        }
        queue.pushHeartbeat(ByteBuffer(string: "h1"))
        queue.pushHeartbeat(ByteBuffer(string: "h2"))
        #expect(!queue.isOverflowed)
        #expect(Self.strings(await queue.next()) == (9990..<10_000).map(String.init) + ["h2"])
    }

    @Test("A closed queue ends the writer; a waiting writer wakes up on push and on close")
    func wakeUp() async {
        let queue = LiveClientQueue()
        async let first = queue.next()
        queue.push(message: ByteBuffer(string: "x"))
        #expect(Self.strings(await first) == ["x"])
        async let second = queue.next()
        queue.close()
        guard case .closed = await second else {
            Issue.record("expected closed")
            return
        }
        #expect(queue.push(message: ByteBuffer(string: "y")) == .closed)
    }

    @Test("Cancelling the waiting writer closes the queue")
    func cancellation() async {
        let queue = LiveClientQueue()
        let task = Task { await queue.next() }
        task.cancel()
        guard case .closed = await task.value else {
            Issue.record("expected closed")
            return
        }
    }

    @Test("Sample-only updates are limited per target; status changes pass at once; the newest held one is sent")
    func sampleLimiter() {
        var limiter = LiveSampleLimiter(interval: 1)
        #expect(limiter.offer(Self.state("a", .up, value: 1), now: 100) != nil)
        #expect(limiter.offer(Self.state("a", .up, value: 2), now: 100.2) == nil)
        #expect(limiter.offer(Self.state("a", .up, value: 3), now: 100.5) == nil)
        #expect(limiter.offer(Self.state("b", .up, value: 1), now: 100.5) != nil)
        #expect(limiter.due(now: 100.9).isEmpty)
        #expect(limiter.due(now: 101.0).map { $0.values["v"] } == [3])
        #expect(limiter.heldCount == 0)
        #expect(limiter.offer(Self.state("a", .up, value: 4), now: 101.1) == nil)
        // A status change goes out at once and replaces the held sample.
        #expect(limiter.offer(Self.state("a", .down, value: 5), now: 101.2)?.values["v"] == 5)
        #expect(limiter.heldCount == 0)
        var unlimited = LiveSampleLimiter(interval: 0)
        #expect(unlimited.offer(Self.state("a", .up), now: 1) != nil)
        #expect(unlimited.offer(Self.state("a", .up), now: 1) != nil)
    }

    @Test("The feed queues updates per client filter and disconnects a client that overflows")
    func feedDispatch() async throws {
        let hub = Hub(stores: MemoryStore().stores, clock: ManualClock(wallClockSeconds: 50))
        let feed = LiveFeed(
            hub: hub,
            version: "t",
            configuration: .init(sampleInterval: .zero, maxPendingEvents: 2),
            clock: ManualClock(wallClockSeconds: 50)
        )
        let devices = try #require(feed.connect(filter: LiveFilter(kinds: [.device])) { _ in })
        let aborted = AbortFlag()
        let everything = try #require(feed.connect(filter: LiveFilter()) { _ in aborted.set() })
        #expect(feed.clientCount == 2)
        feed.dispatch(.state(Self.state("esp", .up)))
        feed.dispatch(.state(Self.state("web1", .up, kind: .host)))
        let deviceBatch = try #require(Self.strings(await devices.queue.next()))
        #expect(deviceBatch.count == 1)
        #expect(deviceBatch[0].contains(#""type":"state""#) && deviceBatch[0].contains(#""name":"esp""#))
        for index in 0..<3 { feed.dispatch(.event(Event(id: Int64(index + 1), time: 1, type: "t", message: "m\(index)"))) }
        #expect(aborted.value)
        if case .messages = await everything.queue.next() {
            Issue.record("an aborted client's writer must stop")
        }
        feed.disconnect(devices)
        feed.disconnect(everything)
        #expect(feed.clientCount == 0)
    }

    @Test("A removal replaces a queued state of its target and forgets a held sample")
    func removal() async throws {
        let hub = Hub(stores: MemoryStore().stores, clock: ManualClock(wallClockSeconds: 50))
        let feed = LiveFeed(hub: hub, version: "t", configuration: .init(sampleInterval: .seconds(3600)), clock: ManualClock(wallClockSeconds: 50))
        let client = try #require(feed.connect(filter: LiveFilter(kinds: [.stream])) { _ in })
        feed.dispatch(.state(Self.state("cam1", .up, value: 1, kind: .stream)))
        // Held by the sample limiter (same status, within the interval) ...
        feed.dispatch(.state(Self.state("cam1", .up, value: 2, kind: .stream)))
        feed.dispatch(.removed(TargetID(.stream, "cam1")))
        let batch = try #require(Self.strings(await client.queue.next()))
        #expect(batch.count == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(batch[0].utf8)) as? [String: Any])
        #expect(json["type"] as? String == "removed")
        #expect(json["target"] as? [String: String] == ["kind": "stream", "name": "cam1"])
        // ... and never sent after the removal: the limiter forgot it, so a new state goes out at once.
        feed.dispatch(.state(Self.state("cam1", .up, value: 3, kind: .stream)))
        let next = try #require(Self.strings(await client.queue.next()))
        #expect(next.count == 1 && next[0].contains(#""v":3"#))
        feed.disconnect(client)
    }

    @Test("Updates are JSON with the type first")
    func updateEncoding() throws {
        for (update, type) in [(HubUpdate.state(Self.state("esp", .up)), "state"), (.event(Event(id: 3, time: 1, type: "x", message: "m")), "event")]
        {
            let text = String(buffer: LiveMessage.encode(update))
            #expect(text.hasPrefix("{\"type\":\"\(type)\",\"\(type)\":{"))
            let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            #expect(json["type"] as? String == type)
            #expect(json[type] is [String: Any])
        }
    }

    @Test("The snapshot carries filtered states, recent events and the last event id")
    func snapshot() async throws {
        let hub = Hub(stores: MemoryStore().stores, clock: ManualClock(wallClockSeconds: 50))
        await hub.apply(Observation(target: TargetID(.device, "esp"), time: 1, status: .up))
        await hub.apply(Observation(target: TargetID(.host, "web1"), time: 1, status: .up))
        await hub.record(Event(time: 2, target: TargetID(.device, "esp"), type: "expired", message: "esp expired"))
        await hub.record(Event(time: 3, target: TargetID(.host, "web1"), type: "x", message: "host thing"))
        let feed = LiveFeed(hub: hub, version: "9.9", clock: ManualClock(wallClockSeconds: 50))
        let buffer = await feed.snapshot(filter: LiveFilter(kinds: [.device]))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any])
        #expect(json["type"] as? String == "snapshot")
        #expect(json["version"] as? String == "9.9")
        #expect((json["states"] as? [[String: Any]])?.count == 1)
        #expect((json["events"] as? [[String: Any]])?.map { $0["message"] as? String } == ["esp expired"])
        #expect(json["last_event_id"] as? Int == 1)
    }
}

/// A flag set from a `@Sendable` closure.
final class AbortFlag: Sendable {
    private let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    var value: Bool { flag.withLock { $0 } }
}
