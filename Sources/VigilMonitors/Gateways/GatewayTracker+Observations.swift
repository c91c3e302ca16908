//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import VigilCore

/// What the hub sees of a gateway: its observation, status and status events.
extension GatewayTracker {
    /// Reports a gateway to the hub, with an event when its status changed.
    mutating func report(_ name: String, now: ClockReading) -> [Effect] {
        guard var gateway = gateways[name] else { return [] }
        if gateway.stale,
            !GatewayStaleness.evaluate(online: gateway.online, lastSeen: gateway.lastSeen, now: now.seconds, threshold: staleThreshold).isStale
        {
            gateway.stale = false
            gateways[name]?.stale = false
            logger.info("Gateway heard from again", metadata: ["gateway": "\(name)"])
        }
        var effects: [Effect] = [.observe(observation(name, now: now))]
        let status = Self.status(of: gateway)
        if status != gateway.reported {
            gateways[name]?.reported = status
            // A peer can create and flip discovered servers at will: they make no events.
            if gateway.role != .discovered, gateway.reported != nil || status != .unknown {
                effects.append(.record(statusEvent(gateway, status: status, now: now)))
            }
        }
        return effects
    }

    static func status(of gateway: Gateway) -> TargetStatus {
        switch gateway.online {
        case nil: .unknown
        case false?: .down
        case true?: gateway.stale ? .stale : gateway.lastError != nil ? .error : .up
        }
    }

    func statusEvent(_ gateway: Gateway, status: TargetStatus, now: ClockReading) -> Event {
        let name = gateway.name
        let (message, severity): (String, Event.Severity) =
            switch status {
            case .up: ("Gateway \(name) is online", .info)
            case .down: ("Gateway \(name) is offline", gateway.role == .discovered ? .info : .warning)
            case .stale: ("Gateway \(name) has not been heard from for more than \(formatSeconds(staleThreshold))", .warning)
            case .error: ("Gateway \(name) reports an error: \(gateway.lastError ?? "")", .warning)
            case .unknown: ("Gateway \(name) state is unknown", .info)
            }
        var fields = ["role": gateway.role.rawValue]
        if let error = gateway.lastError { fields["last_error"] = error }
        return Event(
            time: now.wallClockSeconds,
            target: TargetID(.gateway, name),
            type: "gateway_\(status.rawValue)",
            severity: severity,
            message: message,
            fields: fields
        )
    }

    /// The hub observation of a gateway: status, every attribute the API shows, and sessions.
    func observation(_ name: String, now: ClockReading) -> Observation {
        let gateway = gateways[name] ?? Gateway(name: name, role: .discovered)
        var attributes: [String: JSONValue?] = [
            "name": .string(name),
            AttributeName.role.rawValue: .string(gateway.role.rawValue),
            AttributeName.online.rawValue: gateway.online.map { .bool($0) } ?? .null,
            AttributeName.sessions.rawValue: gateway.sessions.map { .number(Double($0)) } ?? .null,
            AttributeName.lastSeen.rawValue: gateway.lastSeen.map { .number(now.wallClockSeconds(atMonotonic: $0)) } ?? .null,
            "last_error": gateway.lastError.map { .string($0) } ?? .null,
            "stale": .bool(gateway.stale),
            AttributeName.failover.rawValue: failoverAttribute(name) ?? .null,
        ]
        if gateway.stale, let lastSeen = gateway.lastSeen {
            attributes["since_last_seen"] = .number((now.seconds - lastSeen).rounded())
        } else {
            attributes["since_last_seen"] = .null
        }
        var samples: [Sample] = []
        if let sessions = gateway.sessions, gateway.lastError == nil || gateway.online == true {
            samples.append(Sample(.sessions, Double(sessions)))
        }
        // Through the hub, like every monitor's values: vigil_gateway_online{gateway} and
        // vigil_gateway_last_seen_seconds{gateway}. Discovered servers get no series: a peer could
        // otherwise create them at will.
        if gateway.role != .discovered {
            if let online = gateway.online { samples.append(Sample(.online, online ? 1 : 0, recordHistory: false)) }
            if let lastSeen = gateway.lastSeen {
                samples.append(Sample(.lastSeenSeconds, now.wallClockSeconds(atMonotonic: lastSeen), recordHistory: false))
            }
            samples += seedSamples(gateway)
        }
        return Observation(
            target: TargetID(.gateway, name),
            time: now.wallClockSeconds,
            status: Self.status(of: gateway),
            attributes: attributes,
            samples: samples
        )
    }

    /// The seed's `galaxy_*` series of a configured gateway: its last session count (kept while it
    /// is offline, as gxydb-api did) and, for a failed primary, its failover series.
    func seedSamples(_ gateway: Gateway) -> [Sample] {
        var samples: [Sample] = []
        if let sessions = gateway.sessions {
            samples.append(Sample(.galaxyGatewaysSessions, Double(sessions), labels: [Label("type", "rooms")]))
            if configuration.gxydbMetricsAlias {
                samples.append(Sample(.gxydbGatewaySessions, Double(sessions), labels: [Label("type", "rooms")]))
            }
        }
        guard let series = failoverSeries[gateway.name] else { return samples }
        for (spare, active) in series.active.sorted(by: { $0.key < $1.key }) {
            samples.append(Sample(.galaxyFailoverActive, active ? 1 : 0, labels: [Label("failover_server", spare)]))
        }
        for (key, total) in series.events.sorted(by: { $0.key < $1.key }) {
            let labels = [Label("event", key.event), Label("failed_server", gateway.name), Label("failover_server", key.failoverServer)]
            samples.append(Sample(.galaxyFailoverEventsTotal, Double(total), kind: .counter, labels: labels))
        }
        return samples
    }

    /// The `failover` attribute: the failover state of a primary, or the duty of a spare.
    func failoverAttribute(_ name: String) -> JSONValue? {
        if let mapping = machine.mappings[name] {
            var object: [String: JSONValue] = [
                AttributeName.failoverServers.rawValue: .array(mapping.servers.map { .string($0) }),
                AttributeName.failoverServer.rawValue: .string(mapping.label),
                AttributeName.since.rawValue: machine.mappedAt[name].map { .number(stamp($0)) } ?? .null,
            ]
            switch mapping {
            case .spare: object[AttributeName.state.rawValue] = "failed_over"
            case .distributed: object[AttributeName.state.rawValue] = "distributed"
            }
            return .object(object)
        }
        if let deadline = machine.pending[name] {
            return .object([AttributeName.state.rawValue: "pending", AttributeName.deadline.rawValue: .number(stamp(deadline))])
        }
        if machine.unplaced.contains(name) {
            return .object([AttributeName.state.rawValue: "failed"])
        }
        if let failed = machine.failedServer(servedBy: name) {
            return .object([AttributeName.state.rawValue: "serving", AttributeName.failedServer.rawValue: .string(failed)])
        }
        if let position = machine.pool.firstIndex(of: name) {
            return .object([AttributeName.state.rawValue: "standby", AttributeName.poolPosition.rawValue: .number(Double(position + 1))])
        }
        return nil
    }
}
