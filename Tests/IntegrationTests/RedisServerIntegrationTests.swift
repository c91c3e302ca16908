//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import Testing
import VigilRedis

@Suite("Redis client against a private redis-server", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct RedisServerIntegrationTests {
    @Test("Password and ACL user authentication through HELLO 3 AUTH")
    func authentication() async throws {
        let server = try PrivateRedisServer(password: "s3cret")
        try await server.start()

        // No password: HELLO is refused with NOAUTH.
        await #expect {
            try await RedisConnection.withConnection(configuration: server.configuration, logger: RedisTest.logger) { _ in }
        } throws: { error in
            (error as? RedisClientError)?.serverErrorPrefix == "NOAUTH"
        }
        // Wrong password.
        var wrong = server.configuration
        wrong.password = "nope"
        await #expect {
            try await RedisConnection.withConnection(configuration: wrong, logger: RedisTest.logger) { _ in }
        } throws: { error in
            (error as? RedisClientError)?.serverErrorPrefix == "WRONGPASS"
        }
        // The right password, as a URL.
        let right = try RedisConfiguration(url: "redis://:s3cret@127.0.0.1:\(server.port)/1")
        try await RedisConnection.withConnection(configuration: right, logger: RedisTest.logger) { connection in
            #expect(try await connection.execute(["ACL", "WHOAMI"]).string == "default")
            _ = try await connection.execute(["ACL", "SETUSER", "vigil", "on", ">userpw", "~*", "&*", "+@all"])
        }
        // An ACL user.
        let user = try RedisConfiguration(url: "redis://vigil:userpw@127.0.0.1:\(server.port)")
        try await withRedisClient(user) { client in
            let whoami = try await client.execute(["ACL", "WHOAMI"])
            #expect(whoami.string == "vigil")
        }
    }

    @Test("The client reconnects after the server is killed and restarted, and subscribes again")
    func reconnect() async throws {
        let server = try PrivateRedisServer()
        try await server.start()
        try await withRedisClient(server.configuration) { client in
            let subscription = try await client.subscribe(to: ["vigil.changes"])
            try await client.set("k", to: "before")
            #expect(try await client.publish("m1", to: "vigil.changes") == 1)
            let first = try await collect(1, from: subscription)
            #expect(first.map(\.payload) == [ByteBuffer(string: "m1")])

            server.kill()
            // A command during the outage fails with a clear code rather than hanging.
            await #expect {
                try await client.get("k")
            } throws: { error in
                let code = (error as? RedisClientError)?.errorCode
                return code == .connectionClosed || code == .notConnected || code == .connectFailed
            }
            try await server.start()

            // Once reconnected (the data is gone: the server keeps nothing on disk), commands and
            // the subscription work again.
            var reconnected = false
            for _ in 0..<250 where !reconnected {
                reconnected = (try? await client.ping()) != nil
                if !reconnected { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(reconnected)
            var receivers = 0
            for _ in 0..<250 where receivers == 0 {
                receivers = try await client.publish("m2", to: "vigil.changes")
                if receivers == 0 { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(receivers == 1)
            let second = try await collect(1, from: subscription)
            #expect(second.map(\.payload) == [ByteBuffer(string: "m2")])
        }
    }
}
