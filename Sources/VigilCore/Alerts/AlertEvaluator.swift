//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// A rule's condition found to hold for one target (and, for sample rules, one series).
public struct AlertMatch: Sendable, Hashable {
    /// The rule's position in the evaluator's rule list.
    public var rule: Int
    /// The target.
    public var target: TargetID
    /// The series (the sample's value key) for sample rules, empty otherwise.
    public var series: String
    /// The value that made it hold, when it is a number.
    public var value: Double?
    /// The target's status word, for summaries.
    public var status: TargetStatus
    /// Labels taken from the target's attributes (`instance`, `host`).
    public var targetLabels: [String: String]
}

/// Finds which rules hold for which targets, in one pass over the latest states.
///
/// Rules are indexed by kind and by sample name, so a pass costs about one dictionary lookup per
/// sample value plus the rules of each target's kind, not rules × series. Rate rules keep the
/// previous value of each series they watch, and only for series seen in the last pass.
public struct AlertEvaluator: Sendable {
    /// The rules, in order.
    public let rules: [AlertRule]
    /// Per kind (and for rules without a kind, under nil): rules that read no sample.
    private var targetRules: [TargetKind?: [Int]] = [:]
    /// Per sample name: the rules that read that sample.
    private var sampleRules: [String: SampleRules] = [:]
    /// Rules about absent samples (checked per target of their kind).
    private var absentRules: [Int] = []
    private var previous: [SeriesRef: (time: Double, value: Double)] = [:]

    /// A threshold rule reduced to what the hot loop reads (no reference-counted fields).
    private struct Threshold {
        var rule: Int
        var bound: Double
        var kind: TargetKind?
        /// Whether the rule has target patterns or attribute filters (checked only on a match).
        var filtered: Bool
    }

    /// The rules of one sample name. Threshold rules are sorted by bound, so the ones a value
    /// crosses are a contiguous run found by binary search: a value costs a lookup plus its matches,
    /// not one comparison per rule.
    private struct SampleRules {
        /// `below` rules, by ascending bound: a value matches every rule from the first bound above it.
        var below: [Threshold] = []
        /// `above` rules, by descending bound: a value matches every rule up to the last bound under it.
        var above: [Threshold] = []
        /// Rate rules.
        var rate: [Int] = []
    }

    private struct SeriesRef: Hashable {
        var rule: Int
        var target: TargetID
        var series: String
    }

    /// Creates an evaluator over rules.
    public init(rules: [AlertRule]) {
        self.rules = rules
        for (index, rule) in rules.enumerated() {
            let filtered = !rule.targets.isEmpty || !rule.matchAttributes.isEmpty || !rule.excludeAttributes.isEmpty
            switch rule.condition {
            case .status, .attribute, .stale: targetRules[rule.kind, default: []].append(index)
            case .threshold(let sample, let comparison, let bound):
                let threshold = Threshold(rule: index, bound: bound, kind: rule.kind, filtered: filtered)
                switch comparison {
                case .below: sampleRules[sample, default: SampleRules()].below.append(threshold)
                case .above: sampleRules[sample, default: SampleRules()].above.append(threshold)
                }
            case .rate(let sample, _, _): sampleRules[sample, default: SampleRules()].rate.append(index)
            case .absent: absentRules.append(index)
            }
        }
        for key in sampleRules.keys {
            sampleRules[key]!.below.sort { ($0.bound, $0.rule) < ($1.bound, $1.rule) }
            sampleRules[key]!.above.sort { ($0.bound, $1.rule) > ($1.bound, $0.rule) }
        }
    }

    /// Every rule that holds at `now`, over the given states.
    public mutating func evaluate(_ states: some Sequence<TargetState>, now: Double) -> [AlertMatch] {
        var matches: [AlertMatch] = []
        var nextPrevious: [SeriesRef: (time: Double, value: Double)] = [:]
        nextPrevious.reserveCapacity(previous.count)
        let anyKind = targetRules[nil] ?? []
        for state in states {
            var labels: [String: String]?
            func targetLabels() -> [String: String] {
                if let labels { return labels }
                var made: [String: String] = [:]
                for key in Self.labelAttributes { if let value = state.attributes[key]?.string { made[key] = value } }
                labels = made
                return made
            }
            func checkTarget(_ index: Int) {
                guard rules[index].watches(state) else { return }
                var value: Double?
                switch rules[index].condition {
                case .status(let statuses):
                    guard statuses.contains(state.status) else { return }
                case .attribute(let path, let values):
                    guard let text = Self.attribute(path, in: state)?.string, values.contains(text) else { return }
                case .stale(let seconds):
                    let age = now - state.updatedAt
                    guard age > seconds else { return }
                    value = age
                default:
                    return
                }
                matches.append(
                    AlertMatch(rule: index, target: state.target, series: "", value: value, status: state.status, targetLabels: targetLabels())
                )
            }
            for index in targetRules[state.target.kind] ?? [] { checkTarget(index) }
            for index in anyKind { checkTarget(index) }
            if !sampleRules.isEmpty {
                for (key, sampleValue) in state.values {
                    // Only a labelled series (`name{…}`) needs its name cut out.
                    let entry = key.utf8.contains(UInt8(ascii: "{")) ? sampleRules[String(key[..<key.firstIndex(of: "{")!])] : sampleRules[key]
                    guard let entry else { continue }
                    func matched(_ threshold: Threshold) {
                        if let kind = threshold.kind, kind != state.target.kind { return }
                        if threshold.filtered, !rules[threshold.rule].watches(state) { return }
                        matches.append(
                            AlertMatch(
                                rule: threshold.rule,
                                target: state.target,
                                series: key,
                                value: sampleValue,
                                status: state.status,
                                targetLabels: targetLabels()
                            )
                        )
                    }
                    if !entry.below.isEmpty, !sampleValue.isNaN {
                        // The first rule whose bound is above the value; it and every later one match.
                        var low = 0
                        var high = entry.below.count
                        while low < high {
                            let middle = (low + high) / 2
                            if entry.below[middle].bound > sampleValue { high = middle } else { low = middle + 1 }
                        }
                        for position in low..<entry.below.count { matched(entry.below[position]) }
                    }
                    if !entry.above.isEmpty, !sampleValue.isNaN {
                        var low = 0
                        var high = entry.above.count
                        while low < high {
                            let middle = (low + high) / 2
                            if entry.above[middle].bound < sampleValue { high = middle } else { low = middle + 1 }
                        }
                        for position in low..<entry.above.count { matched(entry.above[position]) }
                    }
                    for index in entry.rate {
                        guard rules[index].watches(state), case .rate(_, let comparison, let bound) = rules[index].condition else { continue }
                        let ref = SeriesRef(rule: index, target: state.target, series: key)
                        let last = previous[ref]
                        // Keep the older reading while the target has not reported again, so a
                        // slow reporter still yields a rate over its own interval.
                        if let last, state.updatedAt <= last.time {
                            nextPrevious[ref] = last
                            continue
                        }
                        nextPrevious[ref] = (state.updatedAt, sampleValue)
                        guard let last, state.updatedAt > last.time else { continue }
                        let rate = (sampleValue - last.value) / (state.updatedAt - last.time)
                        guard rate.isFinite, comparison.holds(rate, bound) else { continue }
                        matches.append(
                            AlertMatch(
                                rule: index,
                                target: state.target,
                                series: key,
                                value: rate,
                                status: state.status,
                                targetLabels: targetLabels()
                            )
                        )
                    }
                }
            }
            for index in absentRules {
                let rule = rules[index]
                guard case .absent(let sample) = rule.condition, rule.watches(state) else { continue }
                let present = state.values.keys.contains { $0 == sample || $0.hasPrefix(sample + "{") }
                if !present {
                    matches.append(
                        AlertMatch(rule: index, target: state.target, series: sample, value: nil, status: state.status, targetLabels: targetLabels())
                    )
                }
            }
        }
        previous = nextPrevious
        return matches
    }

    /// Target attributes that become alert labels (inhibition matches on them).
    static let labelAttributes = ["instance", "host"]

    /// The value at a path of attribute names (the first is the attribute, the rest object fields).
    static func attribute(_ path: [String], in state: TargetState) -> JSONValue? {
        guard let first = path.first, var value = state.attributes[first] else { return nil }
        for field in path.dropFirst() {
            guard case .object(let object) = value, let next = object[field] else { return nil }
            value = next
        }
        return value
    }
}
