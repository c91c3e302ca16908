//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import Synchronization
import VigilCore
import VigilMQTT
import VigilMonitors

#if canImport(Glibc)
import Glibc
#endif

/// `WatchdogBench generate FILE [devices] [seconds]` writes a traffic recording;
/// `WatchdogBench engine|timers FILE [timeout]` replays it through one watchdog and prints one
/// JSON line: messages/s (as fast as possible), RSS per device, and expiry lateness percentiles
/// (real-time replay).
@main
struct WatchdogBench {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 3 else {
            print("usage: WatchdogBench generate FILE [devices] [seconds] | engine FILE [timeout] | timers FILE [timeout]")
            exit(2)
        }
        switch arguments[1] {
        case "generate":
            let devices = arguments.count > 3 ? Int(arguments[3])! : 100_000
            let seconds = arguments.count > 4 ? Double(arguments[4])! : 20
            try Traffic.generate(path: arguments[2], devices: devices, seconds: seconds)
        case "engine", "timers":
            let timeout = arguments.count > 3 ? Double(arguments[3])! : 5
            let traffic = try Traffic.load(path: arguments[2])
            let result = arguments[1] == "engine" ? await EngineRun.run(traffic, timeout: timeout) : await TimerRun.run(traffic, timeout: timeout)
            print(result.json)
        default:
            print("unknown mode \(arguments[1])")
            exit(2)
        }
    }
}

// MARK: - Traffic

/// A recording: for each message, its time (seconds from the start) and device.
struct Traffic: Sendable {
    var devices: Int
    var seconds: Double
    var times: [Double]
    var senders: [Int32]

    static func topic(_ device: Int) -> String { "site/dev\(device)/sensors/temp" }
    static func filter(_ device: Int) -> String { "site/dev\(device)/#" }

    /// Devices report every 1–4 s (random per device); one in ten falls silent at a random time in
    /// the first half of the recording and never comes back.
    static func generate(path: String, devices: Int, seconds: Double) throws {
        var random = SeededRandom(seed: 2026)
        var events: [(Double, Int32)] = []
        for device in 0..<devices {
            let period = 1 + 3 * random.unit()
            let silentAt = random.unit() < 0.1 ? 1 + random.unit() * seconds / 2 : .infinity
            var time = random.unit() * period
            while time < min(seconds, silentAt) {
                events.append((time, Int32(device)))
                time += period * (0.9 + 0.2 * random.unit())
            }
        }
        events.sort { $0.0 < $1.0 }
        var text = "# vigil watchdog traffic: devices=\(devices) seconds=\(seconds)\n"
        text.reserveCapacity(events.count * 16)
        for (time, device) in events {
            text += "\(Int(time * 1_000_000)) \(device)\n"
        }
        guard let file = fopen(path, "w") else { throw BenchError("cannot write \(path)") }
        defer { fclose(file) }
        fputs(text, file)
    }

    static func load(path: String) throws -> Traffic {
        guard let file = fopen(path, "r") else { throw BenchError("cannot read \(path)") }
        defer { fclose(file) }
        var traffic = Traffic(devices: 0, seconds: 0, times: [], senders: [])
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        while getline(&line, &capacity, file) > 0 {
            let text = String(cString: line!)
            if text.hasPrefix("#") {
                for field in text.split(separator: " ") {
                    if field.hasPrefix("devices=") { traffic.devices = Int(field.dropFirst(8))! }
                    if field.hasPrefix("seconds=") { traffic.seconds = Double(field.dropFirst(8).trimmingSuffix())! }
                }
                continue
            }
            let parts = text.split(separator: " ")
            guard parts.count == 2, let micros = Int(parts[0]), let device = Int32(parts[1].trimmingSuffix()) else { continue }
            traffic.times.append(Double(micros) / 1_000_000)
            traffic.senders.append(device)
        }
        free(line)
        return traffic
    }
}

extension Substring {
    func trimmingSuffix() -> Substring {
        var text = self
        while let last = text.last, last == "\n" || last == " " { text = text.dropLast() }
        return text
    }
}

// MARK: - Results

struct BenchResult {
    var name: String
    var devices: Int
    var messages: Int
    var messagesPerSecond: Double
    var bytesPerDevice: Double
    var engineBytesPerDevice: Double?
    var expiries: Int
    var expectedExpiries: Int
    var lateness: [Double]
    var cpuSeconds: Double

    func percentile(_ p: Double) -> Double {
        guard !lateness.isEmpty else { return .nan }
        let sorted = lateness.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
    }

    var json: String {
        let engine = engineBytesPerDevice.map { rounded($0, 1) } ?? "null"
        return """
            {"name":"\(name)","devices":\(devices),"messages":\(messages),"messages_per_second":\(Int(messagesPerSecond)),\
            "rss_bytes_per_device":\(rounded(bytesPerDevice, 1)),"engine_bytes_per_device":\(engine),\
            "expiries":\(expiries),"expected_expiries":\(expectedExpiries),\
            "lateness_ms_p50":\(rounded(percentile(0.5) * 1000, 1)),"lateness_ms_p99":\(rounded(percentile(0.99) * 1000, 1)),\
            "lateness_ms_max":\(rounded(percentile(1) * 1000, 1)),"replay_cpu_seconds":\(rounded(cpuSeconds, 2))}
            """
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Resident memory of this process in bytes.
func residentBytes() -> Double {
    guard let file = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(file) }
    var size = 0
    var resident = 0
    _ = withUnsafeMutablePointer(to: &size) { sizePointer in
        withUnsafeMutablePointer(to: &resident) { residentPointer in
            withVaList([sizePointer, residentPointer]) { vfscanf(file, "%d %d", $0) }
        }
    }
    return Double(resident) * Double(sysconf(Int32(_SC_PAGESIZE)))
}

/// CPU time (user + system) of this process in seconds.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Expected expiries of a real-time replay: devices whose last message (or the start, if none) is
/// followed by `timeout` of silence before the end of the recording.
func expectedExpiries(_ traffic: Traffic, timeout: Double) -> Int {
    var last = [Double](repeating: 0, count: traffic.devices)
    var expired = 0
    var lastSeen = [Double](repeating: 0, count: traffic.devices)
    for (time, device) in zip(traffic.times, traffic.senders) {
        let index = Int(device)
        if time - lastSeen[index] >= timeout { expired += 1 }
        lastSeen[index] = time
        last[index] = time
    }
    for index in 0..<traffic.devices where traffic.seconds - last[index] >= timeout { expired += 1 }
    return expired
}

// MARK: - Vigil's engine

enum EngineRun {
    static func run(_ traffic: Traffic, timeout: Double) async -> BenchResult {
        let topics = (0..<traffic.devices).map(Traffic.topic)
        let payload = ByteBuffer(string: "21.5")
        let definitions = (0..<traffic.devices).map {
            DeviceDefinition(name: "dev\($0)", watchTimeout: timeout, watchTopics: [Traffic.filter($0)])
        }
        // Memory: the whole table (definitions, topic trie, engine) per device.
        let before = residentBytes()
        var table = DeviceTable(definitions: definitions, at: 0)
        let after = residentBytes()
        var engine = WatchdogEngine(capacity: traffic.devices)
        for _ in 0..<traffic.devices { engine.add(timeout: timeout, at: 0) }
        let engineBytes = Double(engine.approximateMemoryBytes) / Double(traffic.devices)

        // Throughput: the recording as fast as possible, time from the recording, expiry checked
        // every 100 ms of recorded time.
        var actions: [DeviceTableAction] = []
        var expired: [(device: Int, lastContact: Double)] = []
        actions.reserveCapacity(16)
        var nextCheck = 0.1
        let clock = ContinuousClock()
        let started = clock.now
        for (time, device) in zip(traffic.times, traffic.senders) {
            if time >= nextCheck {
                expired.removeAll(keepingCapacity: true)
                table.expire(at: time, into: &expired)
                nextCheck = time + 0.1
            }
            actions.removeAll(keepingCapacity: true)
            table.receive(topic: topics[Int(device)], payload: payload, retained: false, at: time, into: &actions)
        }
        let elapsed = clock.now - started
        let rate = Double(traffic.times.count) / elapsed.secondsDouble

        // Real time: a feeder and an expiry loop share the table under a lock, as in the service.
        let box = SharedTable(DeviceTable(definitions: definitions, at: 0))
        let cpuBefore = cpuSeconds()
        let start = clock.now
        let end = traffic.seconds
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var index = 0
                var actions: [DeviceTableAction] = []
                while index < traffic.times.count {
                    let now = (clock.now - start).secondsDouble
                    box.table.withLock { table in
                        while index < traffic.times.count && traffic.times[index] <= now {
                            actions.removeAll(keepingCapacity: true)
                            table.receive(topic: topics[Int(traffic.senders[index])], payload: payload, retained: false, at: now, into: &actions)
                            index += 1
                        }
                    }
                    try? await Task.sleep(for: .milliseconds(2))
                }
            }
            group.addTask {
                var expired: [(device: Int, lastContact: Double)] = []
                var late: [Double] = []
                while true {
                    let now = (clock.now - start).secondsDouble
                    if now > end { break }
                    expired.removeAll(keepingCapacity: true)
                    let next: Double? = box.table.withLock { table in
                        table.expire(at: now, into: &expired)
                        return table.nextDeadline
                    }
                    for (_, lastContact) in expired { late.append(now - (lastContact + timeout)) }
                    let wake = min(next ?? .infinity, now + 1, end + 0.001)
                    let delay = max(wake - (clock.now - start).secondsDouble, 0)
                    try? await Task.sleep(until: start + .microseconds(Int64((now + delay) * 1_000_000)), clock: clock)
                }
                box.lateness.withLock { $0 = late }
            }
        }
        let late = box.lateness.withLock { $0 }
        return BenchResult(
            name: "vigil-engine",
            devices: traffic.devices,
            messages: traffic.times.count,
            messagesPerSecond: rate,
            bytesPerDevice: (after - before) / Double(traffic.devices),
            engineBytesPerDevice: engineBytes,
            expiries: late.count,
            expectedExpiries: expectedExpiries(traffic, timeout: timeout),
            lateness: late,
            cpuSeconds: cpuSeconds() - cpuBefore
        )
    }
}

/// The table and results shared by the feeder and the expiry loop.
final class SharedTable: Sendable {
    let table: Mutex<DeviceTable>
    let lateness = Mutex<[Double]>([])
    init(_ table: DeviceTable) { self.table = Mutex(table) }
}

// MARK: - Peer: one timer task per device

/// The straightforward watchdog: every message cancels the device's timer task and starts a new
/// one that sleeps until the new deadline (what `setTimeout`/`clearTimeout` or asyncio's
/// `call_later` + `cancel` code does). Routing uses the same topic trie.
enum TimerRun {
    final class Timers: Sendable {
        let tasks: Mutex<[Task<Void, Never>?]>
        let lateness = Mutex<[Double]>([])

        init(count: Int) { tasks = Mutex(Array(repeating: nil, count: count)) }

        func arm(_ device: Int, deadline: ContinuousClock.Instant, start: ContinuousClock.Instant) {
            // One unstructured task per device and message: that is the design being measured.
            let task = Task {
                do {
                    try await Task.sleep(until: deadline, clock: .continuous)
                } catch {
                    return
                }
                let late = (ContinuousClock.now - deadline).secondsDouble
                self.lateness.withLock { $0.append(late) }
            }
            let previous = tasks.withLock { tasks in
                defer { tasks[device] = task }
                return tasks[device]
            }
            previous?.cancel()
        }

        func cancelAll() {
            let all = tasks.withLock { tasks in
                defer { for index in tasks.indices { tasks[index] = nil } }
                return tasks
            }
            for task in all { task?.cancel() }
        }
    }

    static func run(_ traffic: Traffic, timeout: Double) async -> BenchResult {
        let topics = (0..<traffic.devices).map(Traffic.topic)
        var trie = MQTTTopicTrie<Int32>()
        for device in 0..<traffic.devices { trie.insert(filter: Traffic.filter(device), value: Int32(device)) }
        let clock = ContinuousClock()
        let timeoutDuration = Duration.microseconds(Int64(timeout * 1_000_000))

        // Memory: one armed timer per device (deadline far away).
        let before = residentBytes()
        let idle = Timers(count: traffic.devices)
        let far = clock.now + .seconds(3600)
        for device in 0..<traffic.devices { idle.arm(device, deadline: far, start: far) }
        try? await Task.sleep(for: .milliseconds(500))
        let after = residentBytes()

        // Throughput: every message re-arms its device's timer (deadlines far in the future).
        let started = clock.now
        for device in traffic.senders {
            trie.forEachMatch(topic: topics[Int(device)]) { target in
                idle.arm(Int(target), deadline: far, start: far)
            }
        }
        let elapsed = clock.now - started
        let rate = Double(traffic.times.count) / elapsed.secondsDouble
        idle.cancelAll()
        try? await Task.sleep(for: .milliseconds(500))

        // Real time.
        let timers = Timers(count: traffic.devices)
        let cpuBefore = cpuSeconds()
        let start = clock.now
        for device in 0..<traffic.devices { timers.arm(device, deadline: start + timeoutDuration, start: start) }
        var index = 0
        while index < traffic.times.count {
            let now = clock.now
            let offset = (now - start).secondsDouble
            while index < traffic.times.count && traffic.times[index] <= offset {
                trie.forEachMatch(topic: topics[Int(traffic.senders[index])]) { target in
                    timers.arm(Int(target), deadline: now + timeoutDuration, start: start)
                }
                index += 1
            }
            try? await Task.sleep(for: .milliseconds(2))
        }
        try? await Task.sleep(until: start + .microseconds(Int64(traffic.seconds * 1_000_000)), clock: clock)
        timers.cancelAll()
        let late = timers.lateness.withLock { $0 }
        return BenchResult(
            name: "per-device-timer",
            devices: traffic.devices,
            messages: traffic.times.count,
            messagesPerSecond: rate,
            bytesPerDevice: (after - before) / Double(traffic.devices),
            engineBytesPerDevice: nil,
            expiries: late.count,
            expectedExpiries: expectedExpiries(traffic, timeout: timeout),
            lateness: late,
            cpuSeconds: cpuSeconds() - cpuBefore
        )
    }
}

// MARK: - Utilities

/// A number with `digits` decimals, as text (no Foundation needed).
func rounded(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "null" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    return "\((value * scale).rounded() / scale)"
}

extension Duration {
    var secondsDouble: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// xorshift64*: a small seeded generator so every run replays the same traffic.
struct SeededRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    mutating func unit() -> Double {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return Double((state &* 2_685_821_657_736_338_717) >> 11) / Double(1 << 53)
    }
}
