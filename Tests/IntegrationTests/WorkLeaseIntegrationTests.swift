//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import ServiceLifecycle
import Synchronization
import Testing
import VigilCore
import VigilMonitors
import VigilRedis
import VigilStorage

@testable import VigilApp

/// Leases with fencing tokens on once-only work (issue 15), on the real Redis server and cluster
/// started by `scripts/test`.
@Suite("Work leases and fenced writes (real Redis)", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct WorkLeaseIntegrationTests {
    static func keys() -> RedisStoreKeys {
        RedisStoreKeys(prefix: "vt-\(RedisTest.uniqueKey("lease").suffix(12)):")
    }

    func exercise(_ redis: any RedisCommandExecutor) async throws {
        let keys = Self.keys()
        let leases = RedisWorkLeases(redis: redis, keys: keys)
        let state = RedisStateStore(redis: redis, hashKey: keys.state)

        // A short grant to A; B is refused while it lasts.
        let a = try #require(try await leases.acquire(work: "gateways", holder: "a", ttl: .milliseconds(400)))
        #expect(try await leases.acquire(work: "gateways", holder: "b", ttl: .seconds(10)) == nil)
        try await leases.setValue([1], forKey: "failover", fencedBy: a)
        #expect(try await state.value(forKey: "failover") == [1])
        #expect(try await leases.renew(a, ttl: .milliseconds(400)))

        // A is frozen past its grant: B gets the lease with a larger token.
        try await Task.sleep(for: .milliseconds(700))
        let b = try #require(try await leases.acquire(work: "gateways", holder: "b", ttl: .seconds(10)))
        #expect(b.token > a.token)
        #expect(try await leases.holder(of: "gateways") == b)
        #expect(try await leases.holder(of: "devices") == nil)
        try await leases.setValue([2], forKey: "failover", fencedBy: b)

        // A wakes up: its renewal and its writes are refused, and B's row stays.
        #expect(try await leases.renew(a, ttl: .seconds(10)) == false)
        await #expect(throws: WorkLeaseLostError.self) { try await leases.setValue([1], forKey: "failover", fencedBy: a) }
        await #expect(throws: WorkLeaseLostError.self) { try await leases.removeValue(forKey: "failover", fencedBy: a) }
        let fenced = FencedStateStore(base: state, leases: leases, lease: a)
        await #expect(throws: WorkLeaseLostError.self) { try await fenced.setValue([3], forKey: "failover") }
        #expect(try await fenced.value(forKey: "failover") == [2])

        // A's release does not end B's grant; B's does, and the next grant's token grows again.
        try await leases.release(a)
        #expect(try await leases.acquire(work: "gateways", holder: "c", ttl: .seconds(10)) == nil)
        try await leases.release(b)
        let c = try #require(try await leases.acquire(work: "gateways", holder: "c", ttl: .seconds(10)))
        #expect(c.token == b.token + 1)
        try await leases.removeValue(forKey: "failover", fencedBy: c)
        #expect(try await state.value(forKey: "failover") == nil)
        _ = try await redis.del([keys.lease("gateways"), keys.leaseFence("gateways")])
    }

    @Test("Grants, refusals, renewal, expiry, fenced writes and growing tokens: single server")
    func singleServer() async throws {
        try await withRedisClient(try RedisTest.configuration()) { try await exercise($0) }
    }

    @Test("The same through the cluster client (the lease keys share the state hash's slot)")
    func cluster() async throws {
        let keys = Self.keys()
        #expect(RedisClusterSlot.slot(for: keys.lease("devices")) == RedisClusterSlot.slot(for: keys.state))
        try await withRedisClusterClient(try RedisClusterTest.configuration()) { try await exercise($0) }
    }

    @Test("Two instances that both believe they own the work never run it at once; a holder cut off from Redis stops before its grant ends")
    func ownedServiceExclusion() async throws {
        try await withRedisClient(try RedisTest.configuration()) { redis in
            let keys = Self.keys()
            let shared = RedisWorkLeases(redis: redis, keys: keys)
            let log = RunLog()
            // B's lease store goes dark on demand (a partition between B and Redis).
            let cut = CuttableLeases(base: shared)
            func owned(_ name: String, leases: any WorkLeaseStore) -> OwnedService {
                // Neither knows the other: each owns every key (the disagreement window).
                let ownership = WorkOwnership(instanceID: name)
                ownership.settle()
                var service = OwnedService(
                    key: "devices",
                    ownership: ownership,
                    logger: Logger(label: "vigil.test.\(name)"),
                    store: RedisStateStore(redis: redis, hashKey: keys.state),
                    make: { store in RecordingService(name: name, log: log, store: store) }
                )
                service.leases = leases
                service.leaseTTL = .milliseconds(1500)
                service.leaseRetry = .milliseconds(50)
                service.checkInterval = .milliseconds(20)
                return service
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await owned("b", leases: cut).run() }
                try await eventually("b runs") { log.running == ["b"] }
                let a = Task { try await owned("a", leases: shared).run() }
                try await Task.sleep(for: .seconds(2))
                #expect(log.running == ["b"])
                #expect(log.starts["a"] == nil)

                // B loses Redis: it stops on its own within two thirds of the TTL, A starts once
                // B's grant has run out on the server, and the two never overlap.
                cut.cut()
                try await eventually("a takes over", timeout: .seconds(5)) { log.running == ["a"] }
                #expect(log.maximumConcurrent == 1)
                #expect(log.starts["a"] == 1)
                // B's writes made before the cut all landed under its lease; A's go on under A's.
                #expect(log.refusedWrites == 0)
                a.cancel()
                _ = await a.result
                group.cancelAll()
            }
            _ = try? await redis.del([keys.state, keys.lease("devices"), keys.leaseFence("devices")])
        }
    }

    @Test("A gateway monitor whose lease was taken over stores nothing and publishes no failover mapping")
    func fencedFailover() async throws {
        try await withRedisClient(try RedisTest.configuration()) { redis in
            let keys = Self.keys()
            let leases = RedisWorkLeases(redis: redis, keys: keys)
            let state = RedisStateStore(redis: redis, hashKey: keys.state)
            // This monitor's grant, then another instance's after it (a freeze past expiry).
            let stale = try #require(try await leases.acquire(work: "gateways", holder: "a", ttl: .milliseconds(200)))
            try await Task.sleep(for: .milliseconds(400))
            _ = try #require(try await leases.acquire(work: "gateways", holder: "b", ttl: .seconds(60)))

            let bed = GatewayTestBed()
            let configuration = try bed.configuration(primaries: ["gxy1", "gxy2"], spares: ["gxy12"], waitTime: .milliseconds(300))
            try await bed.withMonitor(configuration, stateStore: FencedStateStore(base: state, leases: leases, lease: stale)) { _ in
                try await bed.eventually("monitor subscribed") { !bed.logs.entries("Subscribed to gateway status").isEmpty }
                try await Task.sleep(for: .milliseconds(200))
                try bed.start(["gxy1", "gxy2", "gxy12"])
                _ = try await bed.waitOnline(["gxy1", "gxy2", "gxy12"], timeout: .seconds(3))
                try await bed.gateway("gxy1").kill9()
                // The decision is taken (and counted) here, then refused by the store.
                try await bed.eventually("failover decided", timeout: .seconds(4)) {
                    bed.metric("galaxy_failover_events_total", [("event", "completed"), ("failed_server", "gxy1"), ("failover_server", "gxy12")]) == 1
                }
                #expect(!bed.logs.entries("Another instance has taken failover over; not publishing this decision").isEmpty)
                try await Task.sleep(for: .milliseconds(200))
                #expect(try await bed.retainedMapping(of: "gxy1", wait: .seconds(1)) == nil)
                #expect(try await state.value(forKey: GatewayMonitor.stateKey) == nil)
            }
            _ = try? await redis.del([keys.state, keys.lease("gateways"), keys.leaseFence("gateways")])
        }
    }
}

/// Which instances run the work now, and how often each started.
private final class RunLog: Sendable {
    private struct State {
        var running: [String] = []
        var starts: [String: Int] = [:]
        var maximumConcurrent = 0
        var refusedWrites = 0
    }
    private let state = Mutex(State())

    var running: [String] { state.withLock { $0.running } }
    var starts: [String: Int] { state.withLock { $0.starts } }
    var maximumConcurrent: Int { state.withLock { $0.maximumConcurrent } }
    var refusedWrites: Int { state.withLock { $0.refusedWrites } }

    func started(_ name: String) {
        state.withLock {
            $0.running.append(name)
            $0.starts[name, default: 0] += 1
            $0.maximumConcurrent = max($0.maximumConcurrent, $0.running.count)
        }
    }

    func stopped(_ name: String) { state.withLock { $0.running.removeAll { $0 == name } } }

    func refused() { state.withLock { $0.refusedWrites += 1 } }
}

/// Once-only work: writes a row every 50 ms through the store it is given until cancelled.
private struct RecordingService: Service {
    let name: String
    let log: RunLog
    let store: any StateStore

    func run() async throws {
        log.started(name)
        defer { log.stopped(name) }
        var count = 0
        while !Task.isCancelled {
            count += 1
            do {
                try await store.setValue(Array("\(name)-\(count)".utf8), forKey: "work")
            } catch is WorkLeaseLostError {
                log.refused()
            } catch {
                // The cut-off instance's writes fail like its renewals.
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// A lease store whose every call fails after ``cut()``, as for an instance cut off from Redis.
private final class CuttableLeases: WorkLeaseStore {
    let base: RedisWorkLeases
    private let isCut = Atomic(false)

    init(base: RedisWorkLeases) { self.base = base }

    func cut() { isCut.store(true, ordering: .releasing) }

    private func check() throws {
        if isCut.load(ordering: .acquiring) { throw RedisClientError(.connectionClosed, message: "cut off (test)") }
    }

    func acquire(work: String, holder: String, ttl: Duration) async throws -> WorkLease? {
        try check()
        return try await base.acquire(work: work, holder: holder, ttl: ttl)
    }

    func renew(_ lease: WorkLease, ttl: Duration) async throws -> Bool {
        try check()
        return try await base.renew(lease, ttl: ttl)
    }

    func release(_ lease: WorkLease) async throws {
        try check()
        try await base.release(lease)
    }

    func holder(of work: String) async throws -> WorkLease? {
        try check()
        return try await base.holder(of: work)
    }

    func setValue(_ value: [UInt8], forKey key: String, fencedBy lease: WorkLease) async throws {
        try check()
        try await base.setValue(value, forKey: key, fencedBy: lease)
    }

    func removeValue(forKey key: String, fencedBy lease: WorkLease) async throws {
        try check()
        try await base.removeValue(forKey: key, fencedBy: lease)
    }
}

/// Polls `condition` every 20 ms until it holds; fails after `timeout`.
private func eventually(_ what: String, timeout: Duration = .seconds(5), _ condition: @Sendable () async throws -> Bool) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("timed out after \(timeout) waiting for: \(what)")
    throw TimeoutError(duration: timeout)
}
