//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilCore

/// Drives ``FailoverStateMachine`` through every rule of seed 000 with time passed by hand.
@Suite("Failover state machine")
struct FailoverStateMachineTests {
    typealias Machine = FailoverStateMachine

    /// gxy1..gxy3 primaries, gxy12 and gxy13 spares, 5 s wait, everything online at t=0.
    func onlineFleet(spares: [String] = ["gxy12", "gxy13"], skipOfflineSpares: Bool = true) -> Machine {
        var machine = Machine(primaries: ["gxy1", "gxy2", "gxy3"], spares: spares, waitTime: 5, skipOfflineSpares: skipOfflineSpares)
        for server in ["gxy1", "gxy2", "gxy3"] + spares {
            #expect(machine.statusChanged(server: server, online: true, now: 0).isEmpty)
        }
        return machine
    }

    func events(_ outputs: [Machine.Output]) -> [String] {
        outputs.compactMap {
            guard case .event(let event) = $0 else { return nil }
            return "\(event.kind.rawValue) \(event.failedServer)->\(event.failoverServer)"
        }
    }

    @Test("Offline primary: timer, then triggered and completed to the first spare")
    func completedFailover() {
        var machine = onlineFleet()
        let started = machine.statusChanged(server: "gxy1", online: false, now: 10)
        #expect(started == [.timerStarted(server: "gxy1", deadline: 15)])
        #expect(machine.nextDeadline == 15)
        #expect(machine.advance(to: 14.9).isEmpty)
        let fired = machine.advance(to: 15)
        #expect(events(fired) == ["triggered gxy1->", "completed gxy1->gxy12"])
        #expect(fired.last == .mappingChanged(failedServer: "gxy1", mapping: .spare("gxy12")))
        #expect(machine.mappings == ["gxy1": .spare("gxy12")])
        #expect(machine.pool == ["gxy13"])
        #expect(machine.failedServer(servedBy: "gxy12") == "gxy1")
        #expect(machine.nextDeadline == nil)
        // Repeated offline messages do not start anything new.
        #expect(machine.statusChanged(server: "gxy1", online: false, now: 20).isEmpty)
    }

    @Test("Coming back before the wait time cancels the timer and emits nothing else")
    func cancelledTimer() {
        var machine = onlineFleet()
        _ = machine.statusChanged(server: "gxy2", online: false, now: 1)
        #expect(machine.statusChanged(server: "gxy2", online: true, now: 3) == [.timerCancelled(server: "gxy2")])
        #expect(machine.advance(to: 100).isEmpty)
        #expect(machine.pool == ["gxy12", "gxy13"])
        #expect(machine.mappings.isEmpty)
    }

    @Test("At a takeover, a primary the previous owner saw online fails on its first offline status; known statuses stay")
    func assumedOnline() {
        var machine = Machine(primaries: ["gxy1", "gxy2", "gxy3"], spares: ["gxy12"], waitTime: 5)
        _ = machine.statusChanged(server: "gxy3", online: false, now: 0)
        machine.assumeOnline(["gxy1", "gxy3", "gxy99"])
        #expect(machine.online["gxy99"] == nil)
        #expect(machine.online["gxy3"] == false)
        #expect(machine.statusChanged(server: "gxy1", online: false, now: 1) == [.timerStarted(server: "gxy1", deadline: 6)])
        // Not assumed: still needs to be seen online first.
        #expect(machine.statusChanged(server: "gxy2", online: false, now: 1).isEmpty)
    }

    @Test("Only an explicit online to offline transition of a primary fails it")
    func onlyExplicitTransitions() {
        var machine = Machine(primaries: ["gxy1", "gxy2"], spares: ["gxy12"], waitTime: 5)
        // Never seen online: an offline message is not a failure.
        #expect(machine.statusChanged(server: "gxy1", online: false, now: 0).isEmpty)
        // Spares and unknown servers never start a timer.
        _ = machine.statusChanged(server: "gxy12", online: true, now: 0)
        #expect(machine.statusChanged(server: "gxy12", online: false, now: 1).isEmpty)
        #expect(machine.statusChanged(server: "gxy99", online: true, now: 1).isEmpty)
        #expect(machine.statusChanged(server: "gxy99", online: false, now: 2).isEmpty)
        #expect(machine.online["gxy99"] == nil)
        // Once online, offline counts.
        _ = machine.statusChanged(server: "gxy1", online: true, now: 3)
        #expect(machine.statusChanged(server: "gxy1", online: false, now: 4) == [.timerStarted(server: "gxy1", deadline: 9)])
    }

    @Test("The pool is FIFO in configuration order and recovery returns the spare to its end")
    func poolOrderAndRecovery() {
        var machine = onlineFleet()
        _ = machine.statusChanged(server: "gxy1", online: false, now: 0)
        _ = machine.advance(to: 5)
        #expect(machine.pool == ["gxy13"])
        let recovered = machine.statusChanged(server: "gxy1", online: true, now: 8)
        #expect(events(recovered) == ["recovered gxy1->gxy12"])
        #expect(recovered.last == .mappingChanged(failedServer: "gxy1", mapping: nil))
        #expect(machine.pool == ["gxy13", "gxy12"])
        #expect(machine.mappings.isEmpty)
        // The next failure takes the head of the pool: gxy13, not the returned gxy12.
        _ = machine.statusChanged(server: "gxy2", online: false, now: 10)
        #expect(events(machine.advance(to: 15)) == ["triggered gxy2->", "completed gxy2->gxy13"])
        // Seeing gxy1 online again without a mapping is not a recovery.
        #expect(machine.statusChanged(server: "gxy1", online: true, now: 16).isEmpty)
    }

    @Test("No spare left: no_failover, then distributed round-robin over online primaries")
    func distributed() {
        var machine = onlineFleet(spares: ["gxy12"])
        _ = machine.statusChanged(server: "gxy1", online: false, now: 0)
        #expect(events(machine.advance(to: 5)) == ["triggered gxy1->", "completed gxy1->gxy12"])
        _ = machine.statusChanged(server: "gxy2", online: false, now: 6)
        let fired = machine.advance(to: 11)
        #expect(events(fired) == ["triggered gxy2->", "no_failover gxy2->", "distributed gxy2->gxy3"])
        #expect(machine.mappings["gxy2"] == .distributed(["gxy3"]))
        #expect(fired.last == .mappingChanged(failedServer: "gxy2", mapping: .distributed(["gxy3"])))
        // gxy2 back: recovered from the distribution; nothing goes to the pool.
        #expect(events(machine.statusChanged(server: "gxy2", online: true, now: 12)) == ["recovered gxy2->gxy3"])
        #expect(machine.pool.isEmpty)
    }

    @Test("Successive distributions start one server further along")
    func roundRobin() {
        var machine = Machine(primaries: ["a", "b", "c", "d"], spares: [], waitTime: 1)
        for server in ["a", "b", "c", "d"] { _ = machine.statusChanged(server: server, online: true, now: 0) }
        _ = machine.statusChanged(server: "a", online: false, now: 0)
        _ = machine.advance(to: 1)
        #expect(machine.mappings["a"] == .distributed(["b", "c", "d"]))
        _ = machine.statusChanged(server: "a", online: true, now: 2)
        _ = machine.statusChanged(server: "d", online: false, now: 2)
        _ = machine.advance(to: 3)
        #expect(machine.mappings["d"] == .distributed(["b", "c", "a"]))
    }

    @Test("No spare and no online primary: failed")
    func failedFailover() {
        var machine = Machine(primaries: ["gxy1", "gxy2"], spares: [], waitTime: 2)
        _ = machine.statusChanged(server: "gxy1", online: true, now: 0)
        _ = machine.statusChanged(server: "gxy2", online: true, now: 0)
        _ = machine.statusChanged(server: "gxy2", online: false, now: 1)
        _ = machine.statusChanged(server: "gxy1", online: false, now: 1)
        let fired = machine.advance(to: 3)
        #expect(
            events(fired) == ["triggered gxy1->", "no_failover gxy1->", "failed gxy1->", "triggered gxy2->", "no_failover gxy2->", "failed gxy2->"]
        )
        #expect(machine.mappings.isEmpty)
        #expect(machine.unplaced == ["gxy1", "gxy2"])
        // Coming back without a mapping: no recovered event, no longer unplaced.
        #expect(machine.statusChanged(server: "gxy1", online: true, now: 4).isEmpty)
        #expect(machine.unplaced == ["gxy2"])
    }

    @Test("Offline spares are passed over unless configured like the original")
    func offlineSpares() {
        var skipping = onlineFleet()
        _ = skipping.statusChanged(server: "gxy12", online: false, now: 0)
        _ = skipping.statusChanged(server: "gxy1", online: false, now: 0)
        #expect(events(skipping.advance(to: 5)) == ["triggered gxy1->", "completed gxy1->gxy13"])
        #expect(skipping.pool == ["gxy12"])

        var original = onlineFleet(skipOfflineSpares: false)
        _ = original.statusChanged(server: "gxy12", online: false, now: 0)
        _ = original.statusChanged(server: "gxy1", online: false, now: 0)
        #expect(events(original.advance(to: 5)) == ["triggered gxy1->", "completed gxy1->gxy12"])
    }

    @Test("Deadlines fire earliest first in one advance")
    func orderedDeadlines() {
        var machine = onlineFleet()
        _ = machine.statusChanged(server: "gxy3", online: false, now: 1)
        _ = machine.statusChanged(server: "gxy1", online: false, now: 2)
        let fired = machine.advance(to: 10)
        #expect(events(fired) == ["triggered gxy3->", "completed gxy3->gxy12", "triggered gxy1->", "completed gxy1->gxy13"])
    }

    @Test("A snapshot restores mappings, pool and pending timers; the next online is a recovery")
    func snapshotRestore() {
        var machine = onlineFleet()
        _ = machine.statusChanged(server: "gxy1", online: false, now: 0)
        _ = machine.advance(to: 5)
        _ = machine.statusChanged(server: "gxy2", online: false, now: 6)
        let snapshot = machine.snapshot
        #expect(snapshot.pending == ["gxy2": 11])

        // A new process: spare gxy14 was added to the configuration meanwhile.
        var restarted = Machine(primaries: ["gxy1", "gxy2", "gxy3"], spares: ["gxy12", "gxy13", "gxy14"], waitTime: 5)
        restarted.restore(snapshot)
        #expect(restarted.mappings == ["gxy1": .spare("gxy12")])
        #expect(restarted.pool == ["gxy13", "gxy14"])
        #expect(restarted.nextDeadline == 11)
        // Its first status of gxy1 (online) is a recovery even though this process never saw it offline.
        #expect(events(restarted.statusChanged(server: "gxy1", online: true, now: 7)) == ["recovered gxy1->gxy12"])
        #expect(restarted.pool == ["gxy13", "gxy14", "gxy12"])
        // The pending failover of gxy2 still fires.
        #expect(events(restarted.advance(to: 11)) == ["triggered gxy2->", "completed gxy2->gxy13"])
    }

    @Test("Servers listed as both primary and spare are primaries")
    func overlappingLists() {
        let machine = Machine(primaries: ["a", "b"], spares: ["b", "c", "c"], waitTime: 1)
        #expect(machine.spares == ["c"])
        #expect(machine.pool == ["c"])
    }

    @Test("Every event kind has the label value of the original")
    func labels() {
        #expect(Machine.EventKind.allCases.map(\.rawValue) == ["triggered", "completed", "failed", "no_failover", "distributed", "recovered"])
        #expect(Machine.Mapping.distributed(["a", "b"]).label == "a,b")
    }
}
