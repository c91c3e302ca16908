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

@Suite("Device table: routing, hellos, states, expiry")
struct DevicesTests {
    static let definitions = [
        DeviceDefinition(
            name: "esp04",
            watchTimeout: 60,
            helloTopic: "home/esp04",
            watchTopics: ["home/esp04/sensors/#"],
            stateTopics: ["home/esp04/actuators/#"]
        ),
        DeviceDefinition(
            name: "esp05",
            watchTimeout: 10,
            helloTopic: "home/esp05",
            watchTopics: ["home/esp05/#"],
            stateTopics: ["home/esp05/state/+"]
        ),
        DeviceDefinition(name: "ledbox", kind: .agent, watchTimeout: 30, watchTopics: ["home/agents/ledbox/#"]),
        DeviceDefinition(name: "quiet", stateTopics: ["home/quiet/state"]),
    ]

    private func receive(
        _ table: inout DeviceTable,
        _ topic: String,
        _ payload: String = "1",
        retained: Bool = false,
        at now: Double
    ) -> [DeviceTableAction] {
        var actions: [DeviceTableAction] = []
        table.receive(topic: topic, payload: ByteBuffer(string: payload), retained: retained, at: now, into: &actions)
        return actions
    }

    @Test("A watch message re-arms only its device; unrelated topics are ignored")
    func routing() {
        var table = DeviceTable(definitions: Self.definitions, at: 0)
        #expect(receive(&table, "home/esp04/sensors/temp", at: 5).isEmpty)
        #expect(table.lastContact(of: 0) == 5)
        #expect(table.lastContact(of: 1) == nil)
        var actions: [DeviceTableAction] = []
        #expect(!table.receive(topic: "elsewhere/x", payload: ByteBuffer(), retained: false, at: 6, into: &actions))
        var expired: [(device: Int, lastContact: Double)] = []
        table.expire(at: 30, into: &expired)
        // esp05 (10 s, never seen) and ledbox (30 s) expire; esp04 was seen at 5 with 60 s.
        #expect(expired.map(\.device) == [1, 2])
        #expect(expired.map(\.lastContact) == [0, 0])
        #expect(!table.isWatched(3))
        #expect(table.expiredCount == 2)
    }

    @Test("A takeover inherits: deadlines carry over, an expired device stays expired silently, an overdue one is reported once")
    func inheritedContacts() {
        // Taken over at 100: esp04 (60 s) last heard at 90, esp05 (10 s) expired before, ledbox
        // (30 s) last heard at 50 and overdue since 80 (its owner died before announcing it).
        var table = DeviceTable(
            definitions: Self.definitions,
            at: 100,
            inherited: [
                0: .init(lastContact: 90, expired: false),
                1: .init(lastContact: 70, expired: true),
                2: .init(lastContact: 50, expired: false),
            ]
        )
        #expect(table.isExpired(1))
        #expect(table.isExpired(2))
        #expect(!table.isExpired(0))
        #expect(table.lastContact(of: 0) == 90)
        var expired: [(device: Int, lastContact: Double)] = []
        table.expire(at: 100, into: &expired)
        #expect(expired.map(\.device) == [2])
        #expect(expired.first?.lastContact == 50)
        expired.removeAll()
        table.expire(at: 149, into: &expired)
        #expect(expired.isEmpty)
        table.expire(at: 150, into: &expired)
        #expect(expired.map(\.device) == [0])
        // The inherited expiry recovers like any other.
        #expect(receive(&table, "home/esp05/x", at: 151) == [.recovered(device: 1)])
        // A stamp from the future (a clock step on the old owner) is clamped to now.
        let future = DeviceTable(definitions: Self.definitions, at: 100, inherited: [0: .init(lastContact: 500, expired: false)])
        #expect(future.lastContact(of: 0) == 100)
    }

    @Test("Retained messages neither prove life nor count as hellos, but are stored as states")
    func retained() {
        var table = DeviceTable(definitions: Self.definitions, at: 0)
        #expect(receive(&table, "home/esp04/sensors/temp", retained: true, at: 5).isEmpty)
        #expect(receive(&table, "home/esp04", retained: true, at: 5).isEmpty)
        #expect(table.lastContact(of: 0) == nil)
        #expect(table.helloCount(of: 0) == 0)
        let actions = receive(&table, "home/esp04/actuators/relay", "on", retained: true, at: 5)
        #expect(actions == [.stateChanged(topic: "home/esp04/actuators/relay", payload: Array("on".utf8))])
    }

    @Test("A hello counts once and the device's states are exactly its own")
    func hello() {
        var table = DeviceTable(definitions: Self.definitions, at: 0)
        _ = receive(&table, "home/esp04/actuators/relay", "on", at: 1)
        _ = receive(&table, "home/esp04/actuators/led", "red", at: 1)
        _ = receive(&table, "home/esp05/state/mode", "auto", at: 1)
        // Same payload again: nothing to store.
        #expect(receive(&table, "home/esp04/actuators/relay", "on", at: 2).isEmpty)
        let actions = receive(&table, "home/esp04", "hello", at: 3)
        #expect(actions == [.hello(device: 0, count: 1)])
        #expect(table.states(of: 0).map(\.topic) == ["home/esp04/actuators/led", "home/esp04/actuators/relay"])
        #expect(table.states(of: 0).map { String(decoding: $0.payload, as: UTF8.self) } == ["red", "on"])
        #expect(table.states(of: 1).map(\.topic) == ["home/esp05/state/mode"])
        #expect(table.lastContact(of: 0) == 3)
        // esp05's hello also matches its own watch filter home/esp05/#: one hello, one contact.
        #expect(receive(&table, "home/esp05", at: 4) == [.hello(device: 1, count: 1)])
        #expect(Set(table.drainReports()) == [0, 1])
        #expect(table.drainReports().isEmpty)
    }

    @Test("An empty payload removes a stored state")
    func emptyPayloadRemoves() {
        var table = DeviceTable(definitions: Self.definitions, at: 0)
        _ = receive(&table, "home/quiet/state", "x", at: 1)
        #expect(receive(&table, "home/quiet/state", "", at: 2) == [.stateChanged(topic: "home/quiet/state", payload: nil)])
        #expect(table.states(of: 3).isEmpty)
        #expect(table.stateCount == 0)
    }

    @Test("An expired device recovers with its next message")
    func recovery() {
        var table = DeviceTable(definitions: Self.definitions, at: 0)
        _ = receive(&table, "home/esp05/x", at: 1)
        var expired: [(device: Int, lastContact: Double)] = []
        table.expire(at: 11, into: &expired)
        #expect(expired.map(\.device) == [1])
        #expect(expired.first?.lastContact == 1)
        #expect(table.isExpired(1))
        #expect(receive(&table, "home/esp05/x", at: 20) == [.recovered(device: 1)])
        #expect(!table.isExpired(1))
    }

    @Test("Restored states attach to the devices whose filters match; others are dropped")
    func restore() {
        var table = DeviceTable(definitions: Self.definitions, at: 0)
        var actions: [DeviceTableAction] = []
        let claimed = table.restoreState(topic: "home/esp05/state/mode", payload: Array("manual".utf8), into: &actions)
        let dropped = table.restoreState(topic: "home/gone/state", payload: [1], into: &actions)
        #expect(actions.isEmpty)
        #expect(claimed)
        #expect(!dropped)
        #expect(table.allStates.map(\.topic) == ["home/esp05/state/mode"])
        #expect(table.states(of: 1).count == 1)
    }

    @Test("Subscriptions leave out filters another filter covers")
    func minimalFilters() {
        let table = DeviceTable(definitions: Self.definitions, at: 0)
        #expect(
            table.subscriptionFilters == [
                "home/agents/ledbox/#", "home/esp04", "home/esp04/actuators/#", "home/esp04/sensors/#", "home/esp05/#", "home/quiet/state",
            ]
        )
        #expect(DeviceTable.minimalFilters(["a/#", "a", "a/+/c", "+/b", "x/+", "x/#/"]).contains("+/b"))
        #expect(DeviceTable.covers("a/#", "a"))
        #expect(DeviceTable.covers("+/b", "a/b"))
        #expect(!DeviceTable.covers("a/+", "a/#"))
        #expect(!DeviceTable.covers("a/b", "a/+"))
        #expect(DeviceTable.minimalFilters(["a/#", "a", "a/+/c", "b/+", "b/c"]) == ["a/#", "b/+"])
    }

    @Test("Topic names of the iotmonitor publications")
    func topics() {
        var configuration = DeviceMonitorConfiguration(baseTopic: "home/monitoring")
        #expect(configuration.expireTopic("esp04") == "home/monitoring/expire/esp04")
        configuration.expireSubtopic = "expired"
        #expect(configuration.expireTopic("esp04") == "home/monitoring/expired/esp04")
        #expect(configuration.helloCountTopic("esp04") == "home/monitoring/helloTopicCount/esp04")
        #expect(configuration.upTopic == "home/monitoring/up")
        #expect(configuration.startedProcessTopic("ledbox") == "home/monitoring/startedprocess/ledbox")
    }
}
