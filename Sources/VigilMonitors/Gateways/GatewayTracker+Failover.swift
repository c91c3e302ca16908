//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import VigilCore

/// Failover: the state machine's outputs turned into publications, events, metrics and the
/// persisted snapshot, in wall time.
extension GatewayTracker {
    mutating func failoverOutputs(_ outputs: [FailoverStateMachine.Output], now: ClockReading) -> [Effect] {
        guard !outputs.isEmpty else { return [] }
        var effects: [Effect] = []
        // Published after the snapshot is stored: under a lease a refused store (another instance
        // has taken the work over) stops the publication of a decision that is no longer ours.
        var publications: [Effect] = []
        var touched: [String] = []
        for output in outputs {
            switch output {
            case .timerStarted(let server, let deadline):
                logger.warning(
                    "Primary server offline - failover timer started",
                    metadata: ["server": "\(server)", "wait_time": "\(formatSeconds(machine.waitTime))"]
                )
                effects.append(
                    .record(
                        Event(
                            time: now.wallClockSeconds(atMonotonic: deadline - machine.waitTime),
                            target: TargetID(.gateway, server),
                            type: "failover_pending",
                            severity: .warning,
                            message: "Primary gateway \(server) is offline; failover in \(formatSeconds(machine.waitTime)) unless it returns",
                            fields: ["failed_server": server, "wait_time": formatSeconds(machine.waitTime)]
                        )
                    )
                )
                touched.append(server)
            case .timerCancelled(let server):
                logger.info("Primary server back online - failover timer cancelled", metadata: ["server": "\(server)"])
                touched.append(server)
            case .event(let event):
                effects.append(.record(failoverEvent(event)))
                touched += [event.failedServer] + event.failoverServer.split(separator: ",").map(String.init)
            case .mappingChanged(let failed, let mapping):
                if let mapping {
                    if case .spare(let spare) = mapping {
                        failoverSeries[failed, default: .init()].active[spare] = true
                    }
                    publications.append(.publishMapping(failedServer: failed, payload: mappingPayload(failed, mapping)))
                } else {
                    publications.append(.publishMapping(failedServer: failed, payload: nil))
                }
                // The pool changed: every spare's position or duty may have moved.
                touched += [failed] + machine.spares
            }
        }
        effects.append(.persist(Self.rebased(machine.snapshot, by: now.wallClockSeconds - now.seconds)))
        effects += publications
        var seen: Set<String> = []
        for name in touched where seen.insert(name).inserted && gateways[name] != nil {
            effects.append(.observe(observation(name, now: now)))
        }
        return effects
    }

    /// Counts, logs and describes one failover event.
    mutating func failoverEvent(_ event: FailoverStateMachine.Event) -> Event {
        failoverSeries[event.failedServer, default: .init()].events[
            EventSeries(event: event.kind.rawValue, failoverServer: event.failoverServer),
            default: 0
        ] += 1
        let failed = event.failedServer
        let to = event.failoverServer
        let message: String
        let severity: Event.Severity
        switch event.kind {
        case .triggered:
            logger.warning("Server offline - failover triggered", metadata: ["server": "\(failed)"])
            message = "Failover triggered for \(failed)"
            severity = .warning
        case .completed:
            logger.info("Migrated room assignments", metadata: ["from": "\(failed)", "to": "\(to)"])
            logger.info("Failover completed successfully", metadata: ["failed_server": "\(failed)", "failover_server": "\(to)"])
            message = "Failover of \(failed) to \(to) completed"
            severity = .warning
        case .noFailover:
            logger.error("No failover servers available - will distribute to alive primary servers", metadata: ["server": "\(failed)"])
            message = "No failover server available for \(failed)"
            severity = .critical
        case .distributed:
            logger.warning("Distributed assignments to alive servers (emergency mode)", metadata: ["failed_server": "\(failed)", "servers": "\(to)"])
            message = "Assignments of \(failed) distributed to \(to) (emergency mode)"
            severity = .critical
        case .failed:
            logger.error("No alive primary servers available - cannot failover", metadata: ["server": "\(failed)"])
            message = "Failover of \(failed) failed: no spare and no online primary"
            severity = .critical
        case .recovered:
            logger.info(
                "Failed server recovered - new assignments will go to recovered server",
                metadata: ["server": "\(failed)", "failover_server": "\(to)"]
            )
            message = "\(failed) recovered; new assignments go to it again"
            severity = .info
            if !to.isEmpty, !to.contains(",") {
                failoverSeries[failed, default: .init()].active[to] = false
            }
        }
        return Event(
            time: reading.wallClockSeconds(atMonotonic: event.time),
            target: TargetID(.gateway, failed),
            type: "failover_\(event.kind.rawValue)",
            severity: severity,
            message: message,
            fields: ["event": event.kind.rawValue, "failed_server": failed, "failover_server": to]
        )
    }

    /// The retained JSON that describes where a failed server's load went.
    func mappingPayload(_ failed: String, _ mapping: FailoverStateMachine.Mapping) -> [UInt8] {
        var object: [String: JSONValue] = [
            "failed_server": .string(failed),
            "failover_servers": .array(mapping.servers.map { .string($0) }),
            "since": machine.mappedAt[failed].map { .number(stamp($0)) } ?? .null,
        ]
        switch mapping {
        case .spare(let spare):
            object["mode"] = "failover"
            object["failover_server"] = .string(spare)
        case .distributed:
            object["mode"] = "distributed"
            object["failover_server"] = .string(mapping.label)
        }
        return jsonBytes(.object(object))
    }

    /// The wall-clock stamp of a monotonic time kept here, as of the latest reading.
    func stamp(_ monotonicSeconds: Double) -> Double {
        reading.wallClockSeconds(atMonotonic: monotonicSeconds)
    }

    /// `snapshot` with every time moved by `offset` seconds: from the machine's monotonic axis to
    /// wall-clock stamps for the store (offset wall − monotonic), and back when restoring.
    static func rebased(_ snapshot: FailoverStateMachine.Snapshot, by offset: Double) -> FailoverStateMachine.Snapshot {
        var rebased = snapshot
        rebased.mappedAt = snapshot.mappedAt.mapValues { $0 + offset }
        rebased.pending = snapshot.pending.mapValues { $0 + offset }
        return rebased
    }
}
