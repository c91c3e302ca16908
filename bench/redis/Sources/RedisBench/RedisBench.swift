//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import NIOCore
import VigilRedis

/// SET and GET on one connection, measured the way `redis-benchmark -c 1 -P P` does it: send P
/// commands in one write, wait for all P replies, repeat until N requests are done.
///
/// At depth 1 each request is one `execute`, as an application sends a single command; deeper,
/// each round is one `pipeline`. The loop runs off the main actor, on the connection's event loop
/// (its task executor), which is how an application's Redis-heavy task would run.
///
/// Usage: RedisBench --port PORT [--requests N] [--pipeline P] [--size BYTES]
/// Prints one CSV line per test: `"SET","requests per second","failures"`.
@main
struct RedisBench {
    /// Synchronous on purpose: an `async` main parks the main thread in `dispatch_main()`, whose
    /// `sigsuspend` with a read-only signal mask crashes valgrind 3.19 (bench/callgrind/run.sh).
    static func main() {
        let finished = DispatchSemaphore(value: 0)
        // The one bridge from the synchronous entry point to the benchmark's async code.
        Task.detached {
            do { try await run() } catch { fatalError("RedisBench: \(error)") }
            finished.signal()
        }
        finished.wait()
    }

    static func run() async throws {
        var options: [String: String] = [:]
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        while let name = arguments.next(), let value = arguments.next() { options[name] = value }
        let port = Int(options["--port"] ?? "") ?? 6379
        let requests = Int(options["--requests"] ?? "") ?? 100_000
        let pipeline = max(1, Int(options["--pipeline"] ?? "") ?? 16)
        let size = Int(options["--size"] ?? "") ?? 3
        for line in try await run(port: port, requests: requests, pipeline: pipeline, size: size) { print(line) }
    }

    /// Connects and measures both tests; returns the CSV lines.
    @concurrent
    static func run(port: Int, requests: Int, pipeline: Int, size: Int) async throws -> [String] {
        var logger = Logger(label: "vigil.redis.bench")
        logger.logLevel = .error
        let configuration = RedisConfiguration(host: "127.0.0.1", port: port)
        let value = ByteBuffer(repeating: UInt8(ascii: "x"), count: size)
        return try await RedisConnection.withConnection(configuration: configuration, logger: logger) { connection in
            try await withTaskExecutorPreference(connection.taskExecutor) {
                var lines: [String] = []
                let set = RedisCommand("SET", "key:__rand_int__", value)
                let get = RedisCommand("GET", "key:__rand_int__")
                for (name, command) in [("SET", set), ("GET", get)] {
                    // Warm up, then measure.
                    _ = try await measure(connection, command, requests: min(requests, 1000), pipeline: pipeline)
                    let (seconds, failures) = try await measure(connection, command, requests: requests, pipeline: pipeline)
                    lines.append("\"\(name)\",\"\(String(format: "%.2f", Double(requests) / seconds))\",\"\(failures)\"")
                }
                return lines
            }
        }
    }

    /// Sends `requests` commands, `pipeline` at a time; returns the seconds taken and the failures.
    static func measure(
        _ connection: RedisConnection,
        _ command: RedisCommand,
        requests: Int,
        pipeline: Int
    ) async throws -> (Double, Int) {
        let batch = Array(repeating: command, count: pipeline)
        let clock = ContinuousClock()
        let start = clock.now
        var done = 0
        var failures = 0
        if pipeline == 1 {
            while done < requests {
                do { _ = try await connection.execute(command) } catch is RedisClientError { failures += 1 }
                done += 1
            }
        } else {
            while done < requests {
                let results = await connection.pipeline(done + pipeline <= requests ? batch : Array(batch.prefix(requests - done)))
                for case .failure in results { failures += 1 }
                done += results.count
            }
        }
        let elapsed = clock.now - start
        return (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, failures)
    }
}
