//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilCore

@Suite("Alert engine")
struct AlertEngineTests {
    func gateway(_ name: String, _ status: TargetStatus, updatedAt: Double = 0, failover: String? = nil) -> TargetState {
        var attributes: [String: JSONValue] = [:]
        if let failover { attributes["failover"] = .object(["state": .string(failover)]) }
        return TargetState(target: TargetID(.gateway, name), status: status, since: 0, updatedAt: updatedAt, attributes: attributes)
    }

    func stream(_ name: String, bitrate: Double, at time: Double) -> TargetState {
        TargetState(target: TargetID(.stream, name), status: .up, since: 0, updatedAt: time, values: ["inbound_bytes_per_second": bitrate])
    }

    @Test("A status rule is pending for its 'for' duration, then fires, then resolves")
    func lifeCycle() {
        var evaluator = AlertEvaluator(rules: AlertRule.builtIn)
        var book = AlertBook(rules: evaluator.rules)
        let down = [gateway("gw1", .down), gateway("gw2", .up)]

        var changes = book.update(evaluator.evaluate(down, now: 100), now: 100)
        #expect(changes.fired.isEmpty)
        #expect(book.alerts["GatewayDown|gateway/gw1"]?.state == .pending)
        #expect(book.due(for: "am", repeatInterval: 60, now: 100).firing.isEmpty)

        changes = book.update(evaluator.evaluate(down, now: 131), now: 131)
        #expect(changes.fired == ["GatewayDown|gateway/gw1"])
        let alert = try! #require(book.alerts["GatewayDown|gateway/gw1"])
        #expect(alert.labels == ["alertname": "GatewayDown", "severity": "critical", "gateway": "gw1"])
        #expect(alert.summary == "Janus gateway gw1 is down")
        #expect(alert.startsAt == 131)

        let due = book.due(for: "am", repeatInterval: 60, now: 131)
        #expect(due.firing.map(\.id) == ["GatewayDown|gateway/gw1"])
        book.markNotified(due.firing.map(\.id), receiver: "am", now: 131)
        #expect(book.due(for: "am", repeatInterval: 60, now: 150).firing.isEmpty)
        #expect(book.due(for: "am", repeatInterval: 60, now: 191).firing.count == 1)
        // Another receiver has its own schedule.
        #expect(book.due(for: "webhook", repeatInterval: 3600, now: 150).firing.count == 1)

        changes = book.update(evaluator.evaluate([gateway("gw1", .up)], now: 200), now: 200)
        #expect(changes.resolved == ["GatewayDown|gateway/gw1"])
        #expect(book.due(for: "am", repeatInterval: 60, now: 200).resolved.map(\.endsAt) == [200])
        // A receiver that never heard of it is not told of its end.
        #expect(book.due(for: "webhook", repeatInterval: 60, now: 200).resolved.isEmpty)
        book.markResolutionSent(["GatewayDown|gateway/gw1"], receiver: "am")
        _ = book.update([], now: 210)
        #expect(book.alerts.isEmpty)
    }

    @Test("'for' and repeat intervals run on the monotonic reading: a wall-clock step neither fires early nor delays a repeat")
    func clockSteps() throws {
        var evaluator = AlertEvaluator(rules: AlertRule.builtIn)
        var book = AlertBook(rules: evaluator.rules)
        let down = [gateway("gw1", .down)]
        let id = "GatewayDown|gateway/gw1"
        _ = book.update(evaluator.evaluate(down, now: 100), now: 100, monotonic: 10)
        // The wall clock jumps an hour ahead, 10 s of real time later: still pending (for = 30 s).
        var changes = book.update(evaluator.evaluate(down, now: 3_700), now: 3_700, monotonic: 20)
        #expect(changes.fired.isEmpty)
        #expect(book.alerts[id]?.state == .pending)
        changes = book.update(evaluator.evaluate(down, now: 3_721), now: 3_721, monotonic: 41)
        #expect(changes.fired == [id])
        book.markNotified([id], receiver: "am", now: 3_721, monotonic: 41)
        // The wall clock steps back a day: the repeat still comes 60 s of real time later.
        #expect(book.due(for: "am", repeatInterval: 60, now: -82_000, monotonic: 90).firing.isEmpty)
        #expect(book.due(for: "am", repeatInterval: 60, now: -81_990, monotonic: 101).firing.map(\.id) == [id])

        // Restored from the store (no monotonic stamps): 'for' counts from the stored wall stamp.
        var restored = AlertBook(rules: evaluator.rules)
        var pending = book
        _ = pending.update(evaluator.evaluate([gateway("gw2", .down)], now: 5_000), now: 5_000, monotonic: 500)
        restored.restore(pending.snapshot)
        changes = restored.update(evaluator.evaluate([gateway("gw2", .down)], now: 5_020), now: 5_020, monotonic: 7)
        #expect(changes.fired.isEmpty)
        changes = restored.update(evaluator.evaluate([gateway("gw2", .down)], now: 5_031), now: 5_031, monotonic: 18)
        #expect(changes.fired == ["GatewayDown|gateway/gw2"])
    }

    @Test("A pending alert whose condition stops holding is dropped without a notice")
    func pendingDropped() {
        var evaluator = AlertEvaluator(rules: AlertRule.builtIn)
        var book = AlertBook(rules: evaluator.rules)
        _ = book.update(evaluator.evaluate([gateway("gw1", .stale)], now: 0), now: 0)
        let changes = book.update(evaluator.evaluate([gateway("gw1", .up)], now: 10), now: 10)
        #expect(changes.resolved.isEmpty)
        #expect(changes.changed)
        #expect(book.alerts.isEmpty)
    }

    @Test("Attribute, threshold, rate, stale and absent conditions")
    func conditions() {
        let rules = [
            AlertRule(name: "FailedOver", kind: .gateway, condition: .attribute(path: ["failover", "state"], values: ["failed_over"])),
            AlertRule(name: "LowBitrate", kind: .stream, condition: .threshold(sample: "inbound_bytes_per_second", comparison: .below, bound: 1000)),
            AlertRule(name: "Falling", kind: .stream, condition: .rate(sample: "inbound_bytes_per_second", comparison: .below, bound: -100)),
            AlertRule(name: "Silent", kind: .gateway, condition: .stale(seconds: 60)),
            AlertRule(name: "NoSessions", kind: .gateway, targets: ["gw*"], condition: .absent(sample: "sessions")),
        ]
        var evaluator = AlertEvaluator(rules: rules)
        let first = evaluator.evaluate(
            [gateway("gw1", .up, updatedAt: 0, failover: "failed_over"), gateway("other", .up, updatedAt: 95), stream("cam", bitrate: 5000, at: 90)],
            now: 100
        )
        let names = Set(first.map { "\(rules[$0.rule].name) \($0.target.name)" })
        #expect(names == ["FailedOver gw1", "Silent gw1", "NoSessions gw1"])
        #expect(first.first { rules[$0.rule].name == "Silent" }?.value == 100)

        // 5000 → 500 in 10 s: below 1000 and falling by 450 per second.
        let second = evaluator.evaluate([stream("cam", bitrate: 500, at: 100)], now: 101)
        #expect(Set(second.map { rules[$0.rule].name }) == ["LowBitrate", "Falling"])
        #expect(second.first { rules[$0.rule].name == "Falling" }?.value == -450)
        #expect(second.first { rules[$0.rule].name == "LowBitrate" }?.series == "inbound_bytes_per_second")

        // No new report: no new rate, and the older reading is kept for the next one.
        let third = evaluator.evaluate([stream("cam", bitrate: 500, at: 100)], now: 111)
        #expect(third.map { rules[$0.rule].name } == ["LowBitrate"])
    }

    @Test("Indexed threshold rules match exactly what checking every rule against every value matches")
    func thresholdIndexAgreesWithBruteForce() {
        var generator = SplitMix64(seed: 42)
        var rules: [AlertRule] = []
        for index in 0..<300 {
            let sample = "s\(generator.next() % 4)"
            let bound = Double(generator.next() % 1000)
            let comparison: AlertComparison = generator.next() % 2 == 0 ? .below : .above
            let kind: TargetKind? = generator.next() % 3 == 0 ? nil : .stream
            let targets = generator.next() % 5 == 0 ? ["t1*"] : []
            rules.append(
                AlertRule(
                    name: "R\(index)",
                    kind: kind,
                    targets: targets,
                    condition: .threshold(sample: sample, comparison: comparison, bound: bound)
                )
            )
        }
        var states: [TargetState] = []
        for target in 0..<60 {
            var values: [String: Double] = [:]
            for sample in 0..<4 where generator.next() % 4 != 0 {
                // Whole numbers, so that values often equal a bound (which must not match).
                values["s\(sample)" + (sample == 3 ? "{side=a}" : "")] = Double(generator.next() % 1000)
            }
            let kind: TargetKind = target % 7 == 0 ? .host : .stream
            states.append(TargetState(target: TargetID(kind, "t\(target)"), status: .up, since: 0, updatedAt: 0, values: values))
        }
        var evaluator = AlertEvaluator(rules: rules)
        let indexed = Set(evaluator.evaluate(states, now: 0).map { "\($0.rule) \($0.target) \($0.series)" })
        var expected = Set<String>()
        for state in states {
            for (key, value) in state.values {
                let name = String(key.prefix { $0 != "{" })
                for (index, rule) in rules.enumerated() where rule.watches(state) {
                    guard case .threshold(let sample, let comparison, let bound) = rule.condition, sample == name,
                        comparison.holds(value, bound)
                    else { continue }
                    expected.insert("\(index) \(state.target) \(key)")
                }
            }
        }
        #expect(!expected.isEmpty)
        #expect(indexed == expected)
    }

    @Test("Attribute filters separate MediaMTX instances from their paths")
    func attributeFilters() {
        var evaluator = AlertEvaluator(rules: AlertRule.builtIn)
        let instance = TargetState(target: TargetID(.stream, "mtx1"), status: .down, since: 0, updatedAt: 0, attributes: ["type": "instance"])
        let path = TargetState(target: TargetID(.stream, "mtx1/cam"), status: .down, since: 0, updatedAt: 0, attributes: ["instance": "mtx1"])
        let matches = evaluator.evaluate([instance, path], now: 0)
        let byRule = Dictionary(uniqueKeysWithValues: matches.map { (evaluator.rules[$0.rule].name, $0) })
        #expect(byRule["MediaServerDown"]?.target.name == "mtx1")
        #expect(byRule["StreamDown"]?.target.name == "mtx1/cam")
        #expect(byRule["StreamDown"]?.targetLabels == ["instance": "mtx1"])
    }

    @Test("Silences and inhibitions mute notifications but keep the alert")
    func muting() throws {
        var evaluator = AlertEvaluator(rules: AlertRule.builtIn)
        var book = AlertBook(rules: evaluator.rules)
        let states = [gateway("gw1", .down, failover: "failed_over"), gateway("gw2", .up, failover: "failed_over")]
        _ = book.update(evaluator.evaluate(states, now: 0), now: 0)
        _ = book.update(evaluator.evaluate(states, now: 40), now: 40)
        // gw1 is down: its failover alert is inhibited; gw2's is not.
        let due = book.due(for: "am", repeatInterval: 60, now: 40).firing.map(\.id)
        #expect(due == ["GatewayDown|gateway/gw1", "GatewayFailedOver|gateway/gw2"])
        let inhibited = try #require(book.alerts["GatewayFailedOver|gateway/gw1"])
        #expect(book.inhibitor(of: inhibited)?.id == "GatewayDown|gateway/gw1")

        book.setSilence(Silence(id: "s1", matchers: ["gateway": "gw*", "alertname": "GatewayDown"], startsAt: 0, endsAt: 100))
        #expect(book.due(for: "am", repeatInterval: 60, now: 50).firing.map(\.id) == ["GatewayFailedOver|gateway/gw2"])
        // The silence ends: the alert is due again.
        #expect(book.due(for: "am", repeatInterval: 60, now: 100).firing.count == 2)
        let expired = book.expireSilences(before: 101)
        #expect(expired)
        #expect(book.silences.isEmpty)
    }

    @Test("A snapshot restores alerts and notification marks: no repeat, the resolution still due")
    func restore() throws {
        var evaluator = AlertEvaluator(rules: AlertRule.builtIn)
        var book = AlertBook(rules: evaluator.rules)
        _ = book.update(evaluator.evaluate([gateway("gw1", .down)], now: 0), now: 0)
        _ = book.update(evaluator.evaluate([gateway("gw1", .down)], now: 30), now: 30)
        book.markNotified(["GatewayDown|gateway/gw1"], receiver: "am", now: 30)
        book.setSilence(Silence(id: "api-1", matchers: ["device": "x"], startsAt: 0, endsAt: 1000))
        book.setSilence(Silence(id: "cfg-1", matchers: ["device": "y"], startsAt: 0, endsAt: 1000))

        var restored = AlertBook(rules: AlertRule.builtIn)
        restored.restore(book.snapshot)
        #expect(restored.silences.keys.sorted() == ["api-1"])
        #expect(restored.due(for: "am", repeatInterval: 60, now: 40).firing.isEmpty)
        var fresh = AlertEvaluator(rules: AlertRule.builtIn)
        let changes = restored.update(fresh.evaluate([gateway("gw1", .up)], now: 50), now: 50)
        #expect(changes.resolved == ["GatewayDown|gateway/gw1"])
        #expect(restored.due(for: "am", repeatInterval: 60, now: 50).resolved.count == 1)
    }

    @Test("The book refuses alerts beyond its capacity and counts them")
    func capacity() {
        var evaluator = AlertEvaluator(rules: AlertRule.builtIn)
        var book = AlertBook(rules: evaluator.rules, capacity: 3)
        let states = (0..<10).map { gateway("gw\($0)", .down) }
        _ = book.update(evaluator.evaluate(states, now: 0), now: 0)
        #expect(book.alerts.count == 3)
        #expect(book.refused == 7)
    }

    @Test(
        "Glob patterns",
        arguments: [
            ("gw*", "gw1", true), ("gw*", "xgw1", false), ("*-eu", "cam-eu", true), ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false), ("*", "", true), ("exact", "exact", true), ("exact", "exactly", false),
        ]
    )
    func glob(pattern: String, name: String, expected: Bool) {
        #expect(AlertRule.glob(pattern, matches: name) == expected)
    }
}
