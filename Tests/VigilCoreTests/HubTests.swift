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

    @Test("Merged states of other instances join the view and the bus, are not stored again; older ones are ignored")
    func mergeRemoteStates() async throws {
        let store = MemoryStore()
        let hub = Hub(stores: store.stores)
        let feed = hub.bus.subscribe(name: "test")
        var iterator = feed.makeAsyncIterator()
        let remote = TargetState(target: TargetID(.device, "far"), status: .up, since: 5, updatedAt: 10, attributes: [:], values: ["v": 1])
        #expect(await hub.merge(remote))
        #expect(await hub.state(of: remote.target) == remote)
        #expect(await iterator.next() == .state(remote))
        var older = remote
        older.updatedAt = 9
        older.status = .down
        #expect(await hub.merge(older) == false)
        #expect(await hub.merge(remote) == false)
        await hub.flush()
        #expect(try await store.states(kind: nil).isEmpty)
        #expect(await hub.mergeRemoval(of: remote.target))
        #expect(await iterator.next() == .removed(remote.target))
        #expect(await hub.state(of: remote.target) == nil)
        #expect(await hub.mergeRemoval(of: remote.target) == false)
    }

    @Test("History and latest state are written in batches on flush")
    func batching() async throws {
        let store = MemoryStore()
        let hub = Hub(stores: store.stores)
        for second in 0..<5 {
            await hub.apply(
                Observation(
                    target: host,
                    time: Double(second),
                    samples: [Sample("load1", Double(second)), Sample("hidden", 1, recordHistory: false)]
                )
            )
        }
        #expect(try await store.states(kind: nil).isEmpty)
        await hub.flush()
        let points = try await store.query(series: "host/alpha/load1", from: 0, to: 10, step: 0)
        #expect(points.map(\.value) == [0, 1, 2, 3, 4])
        #expect(try await store.series(prefix: "host/alpha/") == ["host/alpha/load1"])
        #expect(try await store.states(kind: .host).count == 1)
    }

    @Test("A full history buffer is written before the observation that filled it returns")
    func bufferBound() async throws {
        let store = MemoryStore()
        let hub = Hub(stores: store.stores, configuration: HubConfiguration(flushInterval: .seconds(3_600), maxBufferedPoints: 10))
        for second in 0..<9 {
            await hub.apply(Observation(target: host, time: Double(second), samples: [Sample("load1", Double(second))]))
        }
        #expect(try await store.query(series: "host/alpha/load1", from: 0, to: 100, step: 0).isEmpty)
        await hub.apply(Observation(target: host, time: 9, samples: [Sample("load1", 9)]))
        #expect(try await store.query(series: "host/alpha/load1", from: 0, to: 100, step: 0).count == 10)
        // A batch never holds more than the bound between writes either.
        let batch = (10..<35).map { Observation(target: host, time: Double($0), samples: [Sample("load1", Double($0))]) }
        await hub.apply(batch)
        #expect(try await store.query(series: "host/alpha/load1", from: 0, to: 100, step: 0).count == 30)
    }

    @Test("Samples become vigil_<kind>_<name> metrics; removing a target removes its series")
    func metrics() async throws {
        let metrics = TestMetrics()
        let hub = Hub(stores: MemoryStore().stores, metricsFactory: metrics)
        let stream = TargetID(.stream, "cam1")
        await hub.apply(
            Observation(
                target: stream,
                time: 1,
                samples: [
                    Sample("bitrate_bytes_per_second", 100), Sample("bytes_total", 50, kind: .counter),
                ]
            )
        )
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
        let updates = hub.bus.subscribe()
        await hub.apply(Observation(target: host, time: 1, status: .up))
        let recorded = await hub.record(Event(time: 2, target: host, type: "test", message: "hello"))
        #expect(recorded.id == 1)
        var iterator = updates.makeAsyncIterator()
        guard case .state(let state) = await iterator.next() else {
            Issue.record("expected a state update")
            return
        }
        #expect(state.status == .up)
        guard case .event(let event) = await iterator.next() else {
            Issue.record("expected an event")
            return
        }
        #expect(event.message == "hello")
        #expect(try await hub.events(afterID: 0).count == 1)
    }

    @Test("A report that repeats the known state is neither published nor written again")
    func unchangedReportsAreQuiet() async throws {
        let store = MemoryStore()
        let hub = Hub(stores: store.stores)
        let updates = hub.bus.subscribe()
        let device = TargetID(.device, "d1")
        let report = { (time: Double, contact: Double) in
            Observation(target: device, time: time, status: .up, attributes: ["last_contact": .number(contact)], samples: [Sample(.up, 1)])
        }
        var iterator = updates.makeAsyncIterator()
        await hub.apply(report(1, 1))
        await hub.flush()
        guard case .state = await iterator.next() else {
            Issue.record("expected the first state")
            return
        }
        let written = try #require(try await store.states(kind: .device).first)
        // Same status, attributes and values: only the observation time moves.
        await hub.apply(report(2, 1))
        await hub.flush()
        await hub.record(Event(time: 2, type: "marker", message: "marker"))
        guard case .event = await iterator.next() else {
            Issue.record("an unchanged report was published")
            return
        }
        #expect(try await store.states(kind: .device).first == written)
        #expect(await hub.state(of: device)?.updatedAt == 2)
        // A new contact time is a change.
        await hub.apply(report(3, 3))
        guard case .state(let state) = await iterator.next() else {
            Issue.record("expected the changed state")
            return
        }
        #expect(state.attributes["last_contact"] == .number(3))
    }

    @Test("Per-target series stop at the kind's limit; the rest are counted per status and refused series counted")
    func seriesLimit() async throws {
        let metrics = TestMetrics()
        let hub = Hub(
            stores: MemoryStore().stores,
            configuration: HubConfiguration(seriesTargetLimits: [.device: 2]),
            metricsFactory: metrics
        )
        for index in 1...3 {
            await hub.apply(
                Observation(
                    target: TargetID(.device, "d\(index)"),
                    time: 1,
                    status: .up,
                    samples: [Sample(.up, 1), Sample("hello_total", 2, kind: .counter)]
                )
            )
        }
        await hub.apply(Observation(target: TargetID(.device, "d3"), time: 2, status: .down, samples: [Sample(.up, 0)]))
        await hub.apply(Observation(target: host, time: 1, status: .up, samples: [Sample("load1", 1)]))
        #expect(try metrics.expectGauge("vigil_device_up", [("device", "d1")]).lastValue == 1)
        #expect(try metrics.expectGauge("vigil_device_up", [("device", "d2")]).lastValue == 1)
        #expect(throws: (any Error).self) { try metrics.expectGauge("vigil_device_up", [("device", "d3")]) }
        // Counted once per series, however often the refused target reports.
        #expect(try metrics.expectCounter("vigil_hub_series_refused_total", [("kind", "device")]).totalValue == 2)
        #expect(try metrics.expectGauge("vigil_targets", [("kind", "device"), ("status", "up")]).lastValue == 2)
        #expect(try metrics.expectGauge("vigil_targets", [("kind", "device"), ("status", "down")]).lastValue == 1)
        #expect(try metrics.expectGauge("vigil_host_load1", [("host", "alpha")]).lastValue == 1)
        // The refused device still has its state and values.
        #expect(await hub.state(of: TargetID(.device, "d3"))?.values["up"] == 0)

        // Removing a target with series frees its place.
        await hub.remove(TargetID(.device, "d1"))
        #expect(try metrics.expectGauge("vigil_targets", [("kind", "device"), ("status", "up")]).lastValue == 1)
        await hub.apply(Observation(target: TargetID(.device, "d4"), time: 3, status: .up, samples: [Sample(.up, 1)]))
        #expect(try metrics.expectGauge("vigil_device_up", [("device", "d4")]).lastValue == 1)
    }

    @Test("Removing a known target publishes its removal once; an unknown one publishes nothing")
    func removalIsPublished() async throws {
        let hub = Hub(stores: MemoryStore().stores)
        let updates = hub.bus.subscribe()
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
        // The removal took the place of the state still queued for the same target.
        #expect(seen.count == 2)
        #expect(seen[0] == .removed(stream))
    }
}

@Suite("EventBus")
struct EventBusTests {
    static func state(_ name: String, _ value: Double) -> HubUpdate {
        .state(TargetState(target: TargetID(.device, name), status: .up, since: 0, updatedAt: value, values: ["v": value]))
    }

    static func event(_ message: String) -> HubUpdate {
        .event(Event(time: 1, type: "n", message: message))
    }

    /// Reads `count` updates.
    static func read(_ subscription: EventBus.Subscription, count: Int) async -> [HubUpdate] {
        var updates: [HubUpdate] = []
        guard count > 0 else { return updates }
        for await update in subscription {
            updates.append(update)
            if updates.count == count { break }
        }
        return updates
    }

    @Test("A flood of states never pushes events out: states coalesce per target, events all arrive in order")
    func eventsSurviveStateFlood() async throws {
        let metrics = TestMetrics()
        let bus = EventBus(metricsFactory: metrics)
        let updates = bus.subscribe(name: "live", limits: .init(maxPendingEvents: 100))
        for index in 0..<100_000 {
            bus.publish(Self.state("d\(index % 10)", Double(index)))
            if index % 1_000 == 0 { bus.publish(Self.event("e\(index / 1_000)")) }
        }
        let received = await Self.read(updates, count: 110)
        let events = received.compactMap { update -> String? in
            if case .event(let event) = update { return event.message }
            return nil
        }
        #expect(events == (0..<100).map { "e\($0)" })
        let states = received.compactMap { update -> Double? in
            if case .state(let state) = update { return state.values["v"] }
            return nil
        }
        #expect(states.sorted() == (99_990..<100_000).map(Double.init), "the newest state of each of the 10 targets")
        #expect(bus.droppedUpdates == 0)
        #expect(try metrics.expectCounter("vigil_events_dropped_total", [("subscriber", "live"), ("kind", "event")]).totalValue == 0)
    }

    @Test("Queued states keep their first place, events keep their order, a removal replaces a state")
    func order() async {
        let bus = EventBus()
        let updates = bus.subscribe()
        bus.publish(Self.state("a", 1))
        bus.publish(Self.event("e1"))
        bus.publish(Self.state("b", 1))
        bus.publish(Self.state("a", 2))
        bus.publish(Self.event("e2"))
        bus.publish(.removed(TargetID(.device, "b")))
        let received = await Self.read(updates, count: 4)
        #expect(received == [Self.state("a", 2), Self.event("e1"), .removed(TargetID(.device, "b")), Self.event("e2")])
    }

    @Test("A stuck subscriber loses its oldest events, counted per subscriber; others are unaffected")
    func stuckSubscriber() async throws {
        let metrics = TestMetrics()
        let bus = EventBus(metricsFactory: metrics)
        let slow = bus.subscribe(name: "slow", limits: .init(maxPendingEvents: 2))
        let fast = bus.subscribe(name: "fast", limits: .init(maxPendingEvents: 100))
        for index in 0..<5 { bus.publish(Self.event("\(index)")) }
        #expect(bus.droppedUpdates == 3)
        #expect(try metrics.expectCounter("vigil_events_dropped_total", [("subscriber", "slow"), ("kind", "event")]).totalValue == 3)
        #expect(try metrics.expectCounter("vigil_events_dropped_total", [("subscriber", "fast"), ("kind", "event")]).totalValue == 0)
        #expect(await Self.read(slow, count: 2) == [Self.event("3"), Self.event("4")])
        #expect(await Self.read(fast, count: 5).count == 5)
    }

    @Test("States of more distinct targets than the bound are dropped and counted")
    func tooManyTargets() async throws {
        let metrics = TestMetrics()
        let bus = EventBus(metricsFactory: metrics)
        let updates = bus.subscribe(name: "s", limits: .init(maxPendingTargets: 3))
        for name in ["a", "b", "c", "d", "e"] { bus.publish(Self.state(name, 1)) }
        // A target already queued still coalesces.
        bus.publish(Self.state("a", 2))
        #expect(try metrics.expectCounter("vigil_events_dropped_total", [("subscriber", "s"), ("kind", "state")]).totalValue == 2)
        #expect(await Self.read(updates, count: 3) == [Self.state("a", 2), Self.state("b", 1), Self.state("c", 1)])
    }

    @Test("A consumer that keeps reading gets every event, in order, even with a small bound")
    func consumerKeepsUp() async {
        let bus = EventBus()
        let updates = bus.subscribe(limits: .init(maxPendingEvents: 4))
        var iterator = updates.makeAsyncIterator()
        var received: [HubUpdate] = []
        for round in 0..<250 {
            for index in 0..<4 {
                bus.publish(Self.event("\(round * 4 + index)"))
                bus.publish(Self.state("d\(index)", Double(round)))
            }
            for _ in 0..<8 {
                if let update = await iterator.next() { received.append(update) }
            }
        }
        #expect(bus.droppedUpdates == 0)
        let events = received.compactMap { update -> String? in
            if case .event(let event) = update { return event.message }
            return nil
        }
        #expect(events == (0..<1_000).map { "\($0)" })
    }

    @Test("Cancelling the consumer ends the sequence; dropping the subscription unsubscribes")
    func endOfSubscription() async {
        let bus = EventBus()
        do {
            let updates = bus.subscribe()
            #expect(bus.subscriberCount == 1)
            let task = Task {
                var count = 0
                for await _ in updates { count += 1 }
                return count
            }
            task.cancel()
            #expect(await task.value == 0)
        }
        #expect(bus.subscriberCount == 0)
        do {
            let updates = bus.subscribe()
            bus.publish(Self.event("x"))
            #expect(await Self.read(updates, count: 1) == [Self.event("x")])
        }
        #expect(bus.subscriberCount == 0)
        bus.publish(Self.event("nobody listens"))
        #expect(bus.droppedUpdates == 0)
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
