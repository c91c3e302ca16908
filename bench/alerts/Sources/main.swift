//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

// Alert evaluation benchmark (bench/alerts/run.sh): the cost of one alerting round over a fleet,
// as AlertingService runs it: the hub's states, the evaluator, the book's update and what one
// receiver is due.
//
//   vigil-alerts-bench rules   RULES SAMPLES     prints the rules as Prometheus rules (the peer's)
//   vigil-alerts-bench metrics TARGETS SAMPLES   prints the series as Prometheus text (the peer's)
//   vigil-alerts-bench vigil   TARGETS SAMPLES RULES ROUNDS
//                                                prints the median CPU seconds of one round

import Foundation
import VigilCore

#if canImport(Glibc)
import Glibc
#endif

/// The same value as `metrics` serves, for target `t` and sample `s`: spread over [0, 1e6).
func value(target: Int, sample: Int) -> Double {
    Double((target &* 7919 &+ sample &* 104_729) % 1_000_000)
}

/// Rule `r` watches sample `r % samples` and fires below a bound in [0, BOUNDS) (environment,
/// default 2000): with the default about 0.1 % of the series of that sample match, so 1,000 rules over
/// 100,000 series keep about 10,000 alerts firing; BOUNDS=20 keeps about 100.
func rule(_ index: Int, samples: Int) -> (sample: String, bound: Double) {
    let bounds = ProcessInfo.processInfo.environment["BOUNDS"].flatMap { Int($0) }.map { max(1, $0) } ?? 2000
    return ("s\(index % samples)", Double((index * 37) % bounds))
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
        + Double(usage.ru_stime.tv_usec) / 1e6
}

let arguments = CommandLine.arguments.dropFirst().map { $0 }
guard let mode = arguments.first else {
    print("usage: vigil-alerts-bench rules|metrics|vigil …")
    exit(2)
}
let numbers = arguments.dropFirst().compactMap { Int($0) }

switch mode {
case "rules":
    let (rules, samples) = (numbers[0], numbers[1])
    var text = "groups:\n  - name: bench\n    interval: 10s\n    rules:\n"
    for index in 0..<rules {
        let (sample, bound) = rule(index, samples: samples)
        text += "      - alert: R\(index)\n        expr: vigil_stream_\(sample) < \(Int(bound))\n"
    }
    print(text, terminator: "")
case "metrics":
    let (targets, samples) = (numbers[0], numbers[1])
    var text = ""
    text.reserveCapacity(targets * samples * 48)
    for sample in 0..<samples {
        text += "# TYPE vigil_stream_s\(sample) gauge\n"
        for target in 0..<targets { text += "vigil_stream_s\(sample){stream=\"t\(target)\"} \(Int(value(target: target, sample: sample)))\n" }
    }
    print(text, terminator: "")
case "vigil":
    let (targets, samples, ruleCount, rounds) = (numbers[0], numbers[1], numbers[2], numbers[3])
    let rules = (0..<ruleCount).map { index in
        let (sample, bound) = rule(index, samples: samples)
        return AlertRule(name: "R\(index)", kind: .stream, condition: .threshold(sample: sample, comparison: .below, bound: bound))
    }
    let hub = Hub(stores: MemoryStore().stores)
    for target in 0..<targets {
        let values = (0..<samples).map { Sample("s\($0)", value(target: target, sample: $0), recordHistory: false) }
        await hub.apply(Observation(target: TargetID(.stream, "t\(target)"), time: 1, status: .up, samples: values))
    }
    var evaluator = AlertEvaluator(rules: rules)
    var book = AlertBook(rules: rules, capacity: 100_000)
    var costs: [Double] = []
    var firing = 0
    for round in 0..<rounds {
        let now = 100 + Double(round) * 10
        let started = cpuSeconds()
        let states = await hub.states()
        _ = book.update(evaluator.evaluate(states, now: now), now: now)
        let due = book.due(for: "bench", repeatInterval: 3600, now: now)
        book.markNotified(due.firing.map(\.id), receiver: "bench", now: now)
        costs.append(cpuSeconds() - started)
        firing = book.alerts.count
    }
    costs.sort()
    print(String(format: "vigil round_cpu_seconds=%.4f min=%.4f max=%.4f alerts=%d", costs[costs.count / 2], costs.first!, costs.last!, firing))
default:
    print("unknown mode \(mode)")
    exit(2)
}
