//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import NIOCore
import VigilMQTT

/// Subscribes with a Vigil client, receives `--count` messages and reports when the last one arrived.
///
/// Payloads start with a decimal sequence number (`0000000042 ...`); the report counts missing and
/// duplicate sequence numbers so that a QoS 1 run can show that nothing was lost.
///
/// Usage: `MQTTBench --port P --topic T --count N [--qos 0|1] [--host H] [--timeout S]`.
/// Prints `READY` once subscribed, then one result line:
/// `vigil received=N missing=M duplicates=D end=EPOCH_SECONDS first_to_last=SECONDS`.
@main
struct MQTTBench {
    /// Synchronous on purpose: an `async` main parks the main thread in `dispatch_main()`, whose
    /// `sigsuspend` with a read-only signal mask crashes valgrind 3.19 (bench/callgrind/run.sh).
    static func main() {
        let finished = DispatchSemaphore(value: 0)
        // The one bridge from the synchronous entry point to the benchmark's async code.
        Task.detached {
            do { try await run() } catch { fatalError("MQTTBench: \(error)") }
            finished.signal()
        }
        finished.wait()
    }

    static func run() async throws {
        var options: [String: String] = [:]
        var arguments = CommandLine.arguments.dropFirst()
        while let key = arguments.popFirst() {
            guard key.hasPrefix("--"), let value = arguments.popFirst() else {
                FileHandle.standardError.write(Data("usage: MQTTBench --port P --topic T --count N [--qos 0|1]\n".utf8))
                exit(2)
            }
            options[String(key.dropFirst(2))] = value
        }
        let host = options["host"] ?? "127.0.0.1"
        guard let port = options["port"].flatMap(Int.init), let topic = options["topic"], let count = options["count"].flatMap(Int.init) else {
            FileHandle.standardError.write(Data("missing --port, --topic or --count\n".utf8))
            exit(2)
        }
        let qos = MQTTQoS(rawValue: UInt8(options["qos"] ?? "0") ?? 0) ?? .atMostOnce
        let timeout = Duration.seconds(Int(options["timeout"] ?? "120") ?? 120)

        var logger = Logger(label: "vigil.mqtt.bench")
        logger.logLevel = .warning
        // Vigil's production MQTT settings (VigilConfiguration+Devices): MQTT 5, a persistent
        // session, receive maximum 64 (the defaults) and the watchdog's subscription buffer.
        var configuration = try MQTTClientConfiguration(url: "mqtt://\(host):\(port)", clientID: "vigil-bench-\(getpid())")
        configuration.cleanSession = false
        configuration.sessionExpiry = .seconds(60)
        let client = MQTTClient(configuration: configuration, logger: logger)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            try await client.waitUntilConnected()
            let report = try await client.subscribe(to: [MQTTSubscribeInfo(filter: topic, qos: qos)], bufferSize: 100_000) { subscription in
                print("READY")
                fflush(nil)
                return try await receive(count: count, topic: topic, from: subscription, timeout: timeout)
            }
            print(report)
            fflush(nil)
            group.cancelAll()
        }
    }

    static func receive(count: Int, topic: String, from subscription: MQTTSubscription, timeout: Duration) async throws -> String {
        try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask {
                var seen = [Bool](repeating: false, count: count)
                var received = 0
                var unique = 0
                var wrongTopic = 0
                var first: ContinuousClock.Instant?
                var last = ContinuousClock.now
                do {
                    for try await message in subscription {
                        if first == nil { first = .now }
                        received += 1
                        // A consumer routes by topic (the device watchdog looks it up in its trie):
                        // reading it is part of the receive path.
                        if message.topic != topic { wrongTopic += 1 }
                        if let sequence = sequenceNumber(message.payload), sequence < count, !seen[sequence] {
                            seen[sequence] = true
                            unique += 1
                        }
                        if unique == count { break }
                    }
                    last = .now
                } catch is CancellationError {
                    last = .now
                }
                let end = Date().timeIntervalSince1970
                let span = first.map { last - $0 } ?? .zero
                let seconds = Double(span.components.seconds) + Double(span.components.attoseconds) / 1e18
                return "vigil received=\(received) missing=\(count - unique + wrongTopic) duplicates=\(received - unique) "
                    + "end=\(String(format: "%.6f", end)) first_to_last=\(String(format: "%.6f", seconds))"
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            while let result = try await group.next() {
                if let result {
                    group.cancelAll()
                    return result
                }
                // The timeout fired first: cancel the receiver, which then reports what it has.
                group.cancelAll()
            }
            return "vigil received=0 missing=\(count) duplicates=0 end=0 first_to_last=0"
        }
    }

    /// Parses the leading decimal digits of a payload.
    static func sequenceNumber(_ payload: ByteBuffer) -> Int? {
        payload.withUnsafeReadableBytes { bytes in
            var value = 0
            var digits = 0
            for byte in bytes {
                guard byte >= 0x30, byte <= 0x39 else { break }
                value = value * 10 + Int(byte - 0x30)
                digits += 1
            }
            return digits > 0 ? value : nil
        }
    }
}
