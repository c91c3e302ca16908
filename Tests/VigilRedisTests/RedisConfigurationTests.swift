//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilClientSupport

@testable import VigilRedis

@Suite("Redis configuration")
struct RedisConfigurationTests {
    @Test("A full URL sets user, password, host, port and database")
    func fullURL() throws {
        let configuration = try RedisConfiguration(url: "redis://vigil:p%40ss@cache.example:6380/3")
        #expect(configuration.username == "vigil")
        #expect(configuration.password == "p@ss")
        #expect(configuration.host == "cache.example")
        #expect(configuration.port == 6380)
        #expect(configuration.database == 3)
        #expect(configuration.tls == nil)
    }

    @Test("A minimal URL uses the defaults; rediss enables TLS; a password alone has no user")
    func minimalURL() throws {
        let plain = try RedisConfiguration(url: "redis://127.0.0.1")
        #expect(plain.port == 6379)
        #expect(plain.database == 0)
        #expect(plain.username == nil)
        #expect(plain.password == nil)
        let tls = try RedisConfiguration(url: "rediss://:secret@h/")
        #expect(tls.tls != nil)
        #expect(tls.username == nil)
        #expect(tls.password == "secret")
    }

    @Test("Bad URLs are rejected with invalidURL", arguments: ["http://h", "redis://", "redis://h/x", "redis://h/1/2", "not a url", "redis://h:0"])
    func badURL(url: String) {
        #expect {
            _ = try RedisConfiguration(url: url)
        } throws: { ($0 as? RedisClientError)?.errorCode == .invalidURL }
    }

    @Test("Errors about a URL never quote its password", arguments: ["http://u:Pw0rd@h", "redis://u:Pw0rd@", "rediss://:Pw0rd@/0"])
    func errorsHidePassword(url: String) {
        let error = #expect(throws: RedisClientError.self) { try RedisConfiguration(url: url) }
        #expect(error.map { !"\($0)".contains("Pw0rd") } == true, "\(String(describing: error))")
    }

    @Test("Backoff doubles from the initial delay, is capped, and is jittered between half and all")
    func backoff() {
        let policy = RedisReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(1), jitter: 0.5)
        #expect(RedisConfiguration().reconnect == RedisReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(10), jitter: 0.5))
        #expect(policy.delay(forAttempt: 1, random: 1) == .milliseconds(100))
        #expect(policy.delay(forAttempt: 2, random: 1) == .milliseconds(200))
        #expect(policy.delay(forAttempt: 3, random: 0) == .milliseconds(200))
        #expect(policy.delay(forAttempt: 10, random: 1) == .seconds(1))
        #expect(policy.delay(forAttempt: 1_000, random: 0.5) == .milliseconds(750))
    }
}
