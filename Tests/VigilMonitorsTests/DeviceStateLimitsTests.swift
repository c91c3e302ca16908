//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import Testing
import VigilCore

@testable import VigilMonitors

@Suite("Device table: state topics stay within their limits")
struct DeviceStateLimitsTests {
    static let definitions = [
        DeviceDefinition(name: "flood", helloTopic: "f/hello", stateTopics: ["f/#"]),
        DeviceDefinition(name: "other", stateTopics: ["o/state/+"]),
        // Shares f/shared/… with "flood".
        DeviceDefinition(name: "sharer", stateTopics: ["f/shared/+"]),
    ]

    private func receive(_ table: inout DeviceTable, _ topic: String, _ payload: String = "1") -> [DeviceTableAction] {
        var actions: [DeviceTableAction] = []
        table.receive(topic: topic, payload: ByteBuffer(string: payload), retained: false, at: 1, into: &actions)
        return actions
    }

    private func removed(_ actions: [DeviceTableAction]) -> [String] {
        actions.compactMap { if case .stateChanged(let topic, nil) = $0 { topic } else { nil } }
    }

    @Test("Beyond the topic cap the least recently written state is evicted, once reported")
    func topicCap() {
        var table = DeviceTable(definitions: Self.definitions, at: 0, limits: DeviceStateLimits(maxTopics: 3))
        for name in ["a", "b", "c"] { #expect(removed(receive(&table, "f/\(name)")).isEmpty) }
        // Rewriting a makes b the oldest.
        _ = receive(&table, "f/a", "2")
        let first = receive(&table, "f/d")
        #expect(removed(first) == ["f/b"])
        #expect(first.contains(.stateLimitReached(device: 0)))
        let second = receive(&table, "f/e")
        #expect(removed(second) == ["f/c"])
        #expect(!second.contains(.stateLimitReached(device: 0)))
        #expect(table.states(of: 0).map(\.topic) == ["f/a", "f/d", "f/e"])
        #expect(table.stateLimitCounts(of: 0) == (evicted: 2, refused: 0))
        #expect(table.stateCount == 3)
    }

    @Test("A flood of distinct topics keeps each device within its topic and byte caps")
    func floodStaysBounded() {
        let limits = DeviceStateLimits(maxTopics: 50, maxBytes: 2_000, maxPayload: 100)
        var table = DeviceTable(definitions: Self.definitions, at: 0, limits: limits)
        _ = receive(&table, "o/state/keep", "kept")
        var evicted = 0
        for index in 0..<10_000 {
            evicted += removed(receive(&table, "f/flood/\(index)", String(repeating: "x", count: 1 + index % 90))).count
            let usage = table.stateUsage(of: 0)
            #expect(usage.count <= 50 && usage.bytes <= 2_000)
            if usage.count > 50 || usage.bytes > 2_000 { break }
        }
        let usage = table.stateUsage(of: 0)
        #expect(table.stateCount == usage.count + 1)
        #expect(evicted == 10_000 - usage.count)
        #expect(table.stateLimitCounts(of: 0).evicted == evicted)
        // The newest survive; the other device is untouched.
        #expect(table.states(of: 0).map(\.topic).contains("f/flood/9999"))
        #expect(table.states(of: 1).map(\.topic) == ["o/state/keep"])
    }

    @Test("Rewriting one topic many times evicts nothing and keeps the byte count exact")
    func rewrites() {
        var table = DeviceTable(definitions: Self.definitions, at: 0, limits: DeviceStateLimits(maxTopics: 2, maxBytes: 1_000, maxPayload: 100))
        _ = receive(&table, "f/one", "1")
        for index in 0..<5_000 { #expect(removed(receive(&table, "f/two", "\(index % 10)")).isEmpty) }
        #expect(table.stateUsage(of: 0).count == 2)
        #expect(table.stateUsage(of: 0).bytes == "f/one".utf8.count + 1 + "f/two".utf8.count + 1)
        #expect(table.stateLimitCounts(of: 0).evicted == 0)
    }

    @Test("A payload over the size cap is refused and the topic's older state dropped")
    func payloadCap() {
        var table = DeviceTable(definitions: Self.definitions, at: 0, limits: DeviceStateLimits(maxPayload: 8))
        _ = receive(&table, "f/big", "small")
        let actions = receive(&table, "f/big", String(repeating: "x", count: 9))
        #expect(actions.contains(.stateChanged(topic: "f/big", payload: nil)))
        #expect(actions.contains(.stateLimitReached(device: 0)))
        #expect(table.states(of: 0).isEmpty)
        #expect(table.stateLimitCounts(of: 0) == (evicted: 0, refused: 1))
        // Exactly at the cap is fine.
        #expect(receive(&table, "f/big", "12345678") == [.stateChanged(topic: "f/big", payload: Array("12345678".utf8))])
    }

    @Test("A state shared by two devices stays while one of them keeps it")
    func sharedTopic() {
        var table = DeviceTable(definitions: Self.definitions, at: 0, limits: DeviceStateLimits(maxTopics: 1))
        _ = receive(&table, "f/shared/x", "on")
        // "flood" evicts f/shared/x, but "sharer" still keeps it: no removal.
        #expect(removed(receive(&table, "f/y")).isEmpty)
        #expect(table.states(of: 0).map(\.topic) == ["f/y"])
        #expect(table.states(of: 2).map(\.topic) == ["f/shared/x"])
        // Now "sharer" evicts it too, and flood evicts f/y.
        let actions = receive(&table, "f/shared/z")
        #expect(Set(removed(actions)) == ["f/shared/x", "f/y"])
        #expect(table.stateCount == 1)
    }

    @Test("Restored states beyond lowered limits are dropped and reported for removal from the store")
    func restoreWithinLimits() {
        var table = DeviceTable(definitions: Self.definitions, at: 0, limits: DeviceStateLimits(maxTopics: 2, maxPayload: 4))
        var actions: [DeviceTableAction] = []
        for name in ["a", "b", "c", "d"] { table.restoreState(topic: "f/\(name)", payload: [1], into: &actions) }
        table.restoreState(topic: "f/huge", payload: [1, 2, 3, 4, 5], into: &actions)
        #expect(removed(actions) == ["f/a", "f/b", "f/huge"])
        #expect(table.allStates.map(\.topic) == ["f/c", "f/d"])
        #expect(!table.restoreState(topic: "nobody/x", payload: [1], into: &actions))
    }

    @Test("An empty payload frees the device's budget")
    func emptyPayloadFrees() {
        var table = DeviceTable(definitions: Self.definitions, at: 0, limits: DeviceStateLimits(maxTopics: 2))
        _ = receive(&table, "f/a")
        _ = receive(&table, "f/b")
        #expect(receive(&table, "f/a", "") == [.stateChanged(topic: "f/a", payload: nil)])
        #expect(removed(receive(&table, "f/c")).isEmpty)
        #expect(table.stateUsage(of: 0).count == 2)
    }
}
