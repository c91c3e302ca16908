//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import Testing

@testable import VigilMQTT

@Suite("MQTT topic filters and matching")
struct MQTTTopicTests {
    static let matchCases: [(String, String, Bool)] = [
        ("sport/tennis/player1/#", "sport/tennis/player1", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
        ("sport/#", "sport", true),
        ("#", "anything/at/all", true),
        ("#", "/", true),
        ("sport/tennis/+", "sport/tennis/player1", true),
        ("sport/tennis/+", "sport/tennis/player1/ranking", false),
        ("sport/+", "sport", false),
        ("sport/+", "sport/", true),
        ("+/+", "/finance", true),
        ("/+", "/finance", true),
        ("+", "/finance", false),
        ("+/tennis/#", "sport/tennis", true),
        ("a/b", "a/b", true),
        ("a/b", "a/b/c", false),
        ("a/b/c", "a/b", false),
        ("a//b", "a//b", true),
        ("a/+/b", "a//b", true),
        ("#", "$SYS/broker/uptime", false),
        ("+/monitor/Clients", "$SYS/monitor/Clients", false),
        ("$SYS/#", "$SYS/broker/uptime", true),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
        ("gateways/+/status", "gateways/gw-ü/status", true),
    ]

    @Test("mqttTopicMatches follows the specification's examples", arguments: matchCases)
    func matches(filter: String, topic: String, expected: Bool) {
        #expect(mqttTopicMatches(filter: filter, topic: topic) == expected, "\(filter) vs \(topic)")
    }

    @Test("The trie agrees with the simple matcher", arguments: matchCases)
    func trieMatches(filter: String, topic: String, expected: Bool) {
        var trie = MQTTTopicTrie<Int>()
        trie.insert(filter: filter, value: 1)
        trie.insert(filter: "unrelated/filter", value: 2)
        #expect(trie.matches(topic: topic) == (expected ? [1] : []), "\(filter) vs \(topic)")
    }

    @Test("The trie finds every matching filter among many, and removal prunes")
    func trieMany() throws {
        var trie = MQTTTopicTrie<String>()
        var filters: [String] = []
        for gateway in 0..<200 {
            filters.append("gateways/gw\(gateway)/status")
            filters.append("gateways/gw\(gateway)/+")
        }
        filters += ["gateways/#", "+/+/status", "#", "gateways/gw7/status/#"]
        for filter in filters { trie.insert(filter: filter, value: filter) }
        #expect(trie.count == filters.count)
        let topic = "gateways/gw7/status"
        let expected = filters.filter { mqttTopicMatches(filter: $0, topic: topic) }.sorted()
        #expect(trie.matches(topic: topic).sorted() == expected)
        #expect(expected.count == 6)

        // Copy-on-write: a copy keeps its entries when the original changes.
        let copy = trie
        for filter in filters { #expect(trie.remove(filter: filter, value: filter) == 1) }
        #expect(trie.isEmpty)
        #expect(trie.matches(topic: topic).isEmpty)
        #expect(copy.matches(topic: topic).count == 6)
    }

    @Test("Shared subscriptions match the topics of their filter")
    func shared() throws {
        let filter = try MQTTTopicFilter("$share/group1/sensors/+/temp")
        #expect(filter.shareGroup == "group1")
        #expect(filter.matchFilter == "sensors/+/temp")
        #expect(filter.matches(topic: "sensors/a/temp"))
        var trie = MQTTTopicTrie<Int>()
        trie.insert(filter: "$share/group1/sensors/+/temp", value: 1)
        #expect(trie.matches(topic: "sensors/a/temp") == [1])
        #expect(trie.remove(filter: "$share/group1/sensors/+/temp", value: 1) == 1)
    }

    @Test(
        "Invalid filters are rejected",
        arguments: ["", "a/#/b", "a#", "#a", "a/b+", "+a/b", "$share/", "$share/g", "$share//a", "$share/g+/a", "a\u{0}b"]
    )
    func invalidFilters(filter: String) {
        #expect(throws: MQTTClientError.self) { try MQTTTopicFilter(filter) }
    }

    @Test("Valid filters are accepted", arguments: ["#", "+", "/", "a/+/#", "+/+", "$SYS/#", "$share/g/#", "a//b", "ü/+"])
    func validFilters(filter: String) throws {
        #expect(try MQTTTopicFilter(filter).rawValue == filter)
    }

    @Test("Topic names for publishing are validated")
    func topicNames() {
        #expect(mqttTopicNameProblem("a/b") == nil)
        #expect(mqttTopicNameProblem("/") == nil)
        #expect(mqttTopicNameProblem("") != nil)
        #expect(mqttTopicNameProblem("a/+") != nil)
        #expect(mqttTopicNameProblem("a/#") != nil)
        #expect(mqttTopicNameProblem("a\u{0}") != nil)
        #expect(mqttTopicNameProblem(String(repeating: "x", count: 65_536)) != nil)
    }
}
