//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Metrics
import MetricsTestKit
import Synchronization
import Testing
import VigilCore

@Suite("Hub")
struct HubTests {
    let host = TargetID(.host, "alpha")

    @Test("Observations update latest state, status changes move 'since'")
    func latestState() async throws {
        let store = MemoryStore()
        let hub = Hub(stores: store.stores)
        await hub.apply(Observation(target: host, time: 10, status: .up, attributes: ["os": "linux"], samples: [Sample("load1", 0.5)]))
        await hub.apply(Observation(target: host, time: 20, attributes: ["os": nil], samples: [Sample("load1", 0.7)]))
        let state = try #require(await hub.state(of: host))
        #expect(state.status == .up)
        #expect(state.since == 10)
        #expect(state.updatedAt == 20)
        #expect(state.attributes["os"] == nil)
        #expect(state.values["load1"] == 0.7)

        await hub.apply(Observation(target: host, time: 30, status: .down))
        #expect(await hub.state(of: host)?.since == 30)
    }

    @Test("History and latest state are written in batches on flush")
    func batching() async throws {
        let store = MemoryStore()
        let hub = Hub(stores: store.stores)
        for second in 0..<5 {
            await hub.apply(Observation(target: host, time: Double(second), samples: [Sample("load1", Double(second)), Sample("hidden", 1, recordHistory: false)]))
        }
        #expect(try await store.states(kind: nil).isEmpty)
        await hub.flush()
        let points = try await store.query(series: "host/alpha/load1", from: 0, to: 10, step: 0)
        #expect(points.map(\.value) == [0, 1, 2, 3, 4])
        #expect(try await store.series(prefix: "host/alpha/") == ["host/alpha/load1"])
        #expect(try await store.states(kind: .host).count == 1)
    }

    @Test("Samples become vigil_<kind>_<name> metrics; removing a target removes its series")
    func metrics() async throws {
        let metrics = TestMetrics()
        let hub = Hub(stores: MemoryStore().stores, metricsFactory: metrics)
        let stream = TargetID(.stream, "cam1")
        await hub.apply(Observation(target: stream, time: 1, samples: [
            Sample("bitrate_bytes_per_second", 100), Sample("bytes_total", 50, kind: .counter),
        ]))
        await hub.apply(Observation(target: stream, time: 2, samples: [Sample("bytes_total", 80, kind: .counter)]))
        #expect(try metrics.expectGauge("vigil_stream_bitrate_bytes_per_second", [("stream", "cam1")]).lastValue == 100)
        // A running total that grew from 50 to 80 has been counted as 80 in all.
        // (TestMetrics has no floating-point counters: swift-metrics accumulates them into an integer counter.)
        #expect(try metrics.expectCounter("vigil_stream_bytes_total", [("stream", "cam1")]).totalValue == 80)

        await hub.remove(stream)
        #expect(throws: (any Error).self) { try metrics.expectGauge("vigil_stream_bitrate_bytes_per_second", [("stream", "cam1")]) }
        #expect(throws: (any Error).self) { try metrics.expectCounter("vigil_stream_bytes_total", [("stream", "cam1")]) }
        #expect(await hub.state(of: stream) == nil)
    }

    @Test("A restored hub knows the states a previous run saved")
    func restore() async throws {
        let store = MemoryStore()
        let first = Hub(stores: store.stores)
        await first.apply(Observation(target: host, time: 5, status: .up))
        await first.flush()
        let second = Hub(stores: store.stores)
        try await second.restore()
        #expect(await second.state(of: host)?.status == .up)
    }

    @Test("Events get ids and reach live subscribers; state changes are published")
    func events() async throws {
        let store = MemoryStore()
        let hub = Hub(stores: store.stores)
        let updates = hub.bus.subscribe(bufferSize: 16)
        await hub.apply(Observation(target: host, time: 1, status: .up))
        let recorded = await hub.record(Event(time: 2, target: host, type: "test", message: "hello"))
        #expect(recorded.id == 1)
        var iterator = updates.makeAsyncIterator()
        guard case .state(let state) = await iterator.next() else { Issue.record("expected a state update"); return }
        #expect(state.status == .up)
        guard case .event(let event) = await iterator.next() else { Issue.record("expected an event"); return }
        #expect(event.message == "hello")
        #expect(try await hub.events(afterID: 0).count == 1)
    }

    @Test("Removing a known target publishes its removal once; an unknown one publishes nothing")
    func removalIsPublished() async throws {
        let hub = Hub(stores: MemoryStore().stores)
        let updates = hub.bus.subscribe(bufferSize: 16)
        let stream = TargetID(.stream, "cam1")
        await hub.apply(Observation(target: stream, time: 1, status: .up))
        await hub.remove(stream)
        await hub.remove(stream)
        await hub.remove(TargetID(.stream, "never-seen"))
        await hub.record(Event(time: 2, type: "end", message: "end"))
        var seen: [HubUpdate] = []
        for await update in updates {
            seen.append(update)
            if case .event = update { break }
        }
        #expect(seen.count == 3)
        #expect(seen[1] == .removed(stream))
    }
}

@Suite("EventBus")
struct EventBusTests {
    @Test("A slow subscriber loses the oldest updates, not the newest, and others are unaffected")
    func slowSubscriber() async {
        let bus = EventBus()
        let slow = bus.subscribe(bufferSize: 2)
        let fast = bus.subscribe(bufferSize: 100)
        for index in 0..<5 {
            bus.publish(.event(Event(time: Double(index), type: "n", message: "\(index)")))
        }
        #expect(bus.droppedUpdates == 3)
        var slowMessages: [String] = []
        for await update in slow {
            if case .event(let event) = update { slowMessages.append(event.message) }
            if slowMessages.count == 2 { break }
        }
        #expect(slowMessages == ["3", "4"])
        var fastCount = 0
        for await _ in fast {
            fastCount += 1
            if fastCount == 5 { break }
        }
        #expect(fastCount == 5)
    }
}

@Suite("Downsampling")
struct DownsampleTests {
    @Test("Averages points into buckets that start at 'from'")
    func buckets() {
        let points = [0.0, 1, 2, 10, 11, 25].map { HistoryPoint(series: "s", time: $0, value: $0) }
        let result = downsample(points, from: 0, step: 10)
        #expect(result.map(\.time) == [0, 10, 20])
        #expect(result.map(\.value) == [1, 10.5, 25])
    }

    @Test("A zero step returns the points unchanged")
    func zeroStep() {
        let points = [HistoryPoint(series: "s", time: 1, value: 2)]
        #expect(downsample(points, from: 0, step: 0) == points)
    }
}
