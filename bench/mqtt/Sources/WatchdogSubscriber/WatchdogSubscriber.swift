//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import NIOCore
import Synchronization
import VigilCore
import VigilMQTT

/// The device watchdog's message path, fed over MQTT: `MQTTClient` → `MQTTSubscription` →
/// `DeviceTable` under a `Mutex` with a clock read per message, and an expiry loop beside it,
/// line for line what `DeviceWatchdog.receiveLoop` and `tickLoop` do (the hub reports and MQTT
/// publications of expiries are left out: they happen per change, not per message).
///
/// Devices `dev0` … `devN-1` watch `site/devK/#` with `--timeout` seconds of silence. The run ends
/// when a message arrives on `site/end`, or after `--count` device messages.
///
/// Usage: `WatchdogSubscriber --port P --devices N [--timeout S] [--count N] [--host H]`.
/// Prints `READY` once subscribed, then one result line:
/// `vigil received=N expiries=E late_p50_ms=… late_p99_ms=… late_max_ms=…`.
@main
struct WatchdogSubscriber {
    static let endTopic = "site/end"

    /// Synchronous on purpose: an `async` main parks the main thread in `dispatch_main()`, whose
    /// `sigsuspend` with a read-only signal mask crashes valgrind 3.19 (bench/callgrind/run.sh).
    static func main() {
        let finished = DispatchSemaphore(value: 0)
        // The one bridge from the synchronous entry point to the benchmark's async code.
        Task.detached {
            do { try await run() } catch { fatalError("WatchdogSubscriber: \(error)") }
            finished.signal()
        }
        finished.wait()
    }

    static func run() async throws {
        var options: [String: String] = [:]
        var arguments = CommandLine.arguments.dropFirst()
        while let key = arguments.popFirst() {
            guard key.hasPrefix("--"), let value = arguments.popFirst() else {
                FileHandle.standardError.write(Data("usage: WatchdogSubscriber --port P --devices N [--timeout S]\n".utf8))
                exit(2)
            }
            options[String(key.dropFirst(2))] = value
        }
        let host = options["host"] ?? "127.0.0.1"
        guard let port = options["port"].flatMap(Int.init), let devices = options["devices"].flatMap(Int.init) else {
            FileHandle.standardError.write(Data("missing --port or --devices\n".utf8))
            exit(2)
        }
        let timeout = options["timeout"].flatMap(Double.init) ?? 5
        let count = options["count"].flatMap(Int.init) ?? .max

        var logger = Logger(label: "vigil.devices.bench")
        logger.logLevel = .warning
        var configuration = try MQTTClientConfiguration(url: "mqtt://\(host):\(port)", clientID: "vigil-watchdog-bench-\(getpid())")
        configuration.cleanSession = false
        configuration.sessionExpiry = .seconds(60)
        let client = MQTTClient(configuration: configuration, logger: logger)

        let clock = SystemClock()
        let definitions = (0..<devices).map { DeviceDefinition(name: "dev\($0)", watchTimeout: timeout, watchTopics: ["site/dev\($0)/#"]) }
        let filters = DeviceTable(definitions: definitions, at: 0).subscriptionFilters + [endTopic]
        let infos = filters.map { MQTTSubscribeInfo(filter: $0, qos: .atLeastOnce, noLocal: true) }

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            try await client.waitUntilConnected()
            let received = try await client.subscribe(to: infos, bufferSize: 100_000) { subscription in
                // Armed once subscribed (subscribing to 100,000 filters takes seconds), so that
                // no device expires before its first message could arrive.
                let shared = SharedTable(DeviceTable(definitions: definitions, at: clock.now.seconds))
                print("READY")
                fflush(nil)
                return try await withThrowingTaskGroup(of: Int.self) { inner in
                    inner.addTask {
                        var received = 0
                        var actions: [DeviceTableAction] = []
                        actions.reserveCapacity(16)
                        for try await message in subscription {
                            if message.topic == endTopic { break }
                            received += 1
                            let now = clock.now
                            actions.removeAll(keepingCapacity: true)
                            shared.table.withLock { table in
                                _ = table.receive(
                                    topic: message.topic,
                                    payload: message.payload,
                                    retained: message.retain,
                                    at: now.seconds,
                                    into: &actions
                                )
                            }
                            if received == count { break }
                        }
                        return received
                    }
                    inner.addTask {
                        try await expiryLoop(shared, clock: clock, timeout: timeout)
                        return -1
                    }
                    let received = try await inner.next()!
                    inner.cancelAll()
                    while let _ = try? await inner.next() {}
                    return received
                }
            }
            let late = Lateness.shared.withLock { $0 }.sorted()
            func percentile(_ p: Double) -> String {
                guard !late.isEmpty else { return "nan" }
                return String(format: "%.1f", late[min(late.count - 1, Int(Double(late.count - 1) * p))] * 1000)
            }
            print(
                "vigil received=\(received) expiries=\(late.count) late_p50_ms=\(percentile(0.5)) "
                    + "late_p99_ms=\(percentile(0.99)) late_max_ms=\(percentile(1))"
            )
            fflush(nil)
            group.cancelAll()
        }
    }

    /// `DeviceWatchdog.tickLoop`'s expiry part: expire what is due, then sleep until the next
    /// deadline (at least 5 ms, at most 1 s).
    static func expiryLoop(_ shared: SharedTable, clock: SystemClock, timeout: Double) async throws {
        var expired: [(device: Int, lastContact: Double)] = []
        while !Task.isCancelled {
            let time = clock.now.seconds
            expired.removeAll(keepingCapacity: true)
            shared.table.withLock { $0.expire(at: time, into: &expired) }
            if !expired.isEmpty {
                Lateness.shared.withLock { late in
                    for (_, lastContact) in expired { late.append(time - (lastContact + timeout)) }
                }
            }
            let deadline = shared.table.withLock { $0.nextDeadline } ?? .infinity
            let delay = min(max(deadline - clock.now.seconds, 0.005), 1)
            try await clock.sleep(for: .milliseconds(Int64(delay * 1000)))
        }
    }
}

/// The table, shared by the receive loop and the expiry loop as in `DeviceWatchdog`.
final class SharedTable: Sendable {
    let table: Mutex<DeviceTable>
    init(_ table: DeviceTable) { self.table = Mutex(table) }
}

/// Each expiry's firing time minus its deadline, in seconds.
enum Lateness {
    static let shared = Mutex<[Double]>([])
}
