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

/// Pipelined SET and GET on one connection, measured the way `redis-benchmark -c 1 -P P` does it:
/// send P commands in one write, wait for all P replies, repeat until N requests are done.
///
/// Usage: RedisBench --port PORT [--requests N] [--pipeline P] [--size BYTES]
/// Prints one CSV line per test: `"SET","requests per second"`, as `redis-benchmark --csv` does.
@main
struct RedisBench {
    static func main() async throws {
        var options: [String: String] = [:]
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        while let name = arguments.next(), let value = arguments.next() { options[name] = value }
        let port = Int(options["--port"] ?? "") ?? 6379
        let requests = Int(options["--requests"] ?? "") ?? 100_000
        let pipeline = max(1, Int(options["--pipeline"] ?? "") ?? 16)
        let size = Int(options["--size"] ?? "") ?? 3

        var logger = Logger(label: "vigil.redis.bench")
        logger.logLevel = .error
        let configuration = RedisConfiguration(host: "127.0.0.1", port: port)
        let value = ByteBuffer(repeating: UInt8(ascii: "x"), count: size)
        try await RedisConnection.withConnection(configuration: configuration, logger: logger) { connection in
            let set = RedisCommand("SET", "key:__rand_int__", value)
            let get = RedisCommand("GET", "key:__rand_int__")
            for (name, command) in [("SET", set), ("GET", get)] {
                // Warm up, then measure.
                _ = await connection.pipeline(Array(repeating: command, count: pipeline))
                let batch = Array(repeating: command, count: pipeline)
                let clock = ContinuousClock()
                var done = 0
                var failures = 0
                let elapsed = await clock.measure {
                    while done < requests {
                        let results = await connection.pipeline(done + pipeline <= requests ? batch : Array(batch.prefix(requests - done)))
                        for case .failure in results { failures += 1 }
                        done += results.count
                    }
                }
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                print("\"\(name)\",\"\(String(format: "%.2f", Double(done) / seconds))\",\"\(failures)\"")
            }
        }
    }
}
