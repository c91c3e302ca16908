//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import VigilCore

/// Servers that report on the status topic but are not configured: shown, bounded, forgotten
/// after their silence, never asked anything.
extension GatewayTracker {
    /// The status of a server that is not configured: shown as discovered while there is room,
    /// never sent anything, never given series or events.
    mutating func discoveredStatus(server: String, online: Bool, now: ClockReading) -> [Effect] {
        if gateways[server] == nil {
            // A name is shown in the API and the dashboard: no control characters, no novels.
            guard server.utf8.count <= Self.maxDiscoveredNameLength,
                !server.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
            else {
                metrics.countDiscoveredRefused()
                limiter.log(
                    logger,
                    .warning,
                    key: "discovered_bad_name",
                    "Ignoring the status of an unconfigured gateway with an unusable name",
                    metadata: ["server": "\(printable(server))"],
                    now: now.seconds
                )
                return []
            }
            guard discoveredCount < configuration.maxDiscovered else {
                metrics.countDiscoveredRefused()
                limiter.log(
                    logger,
                    .warning,
                    key: "discovered_refused",
                    "Ignoring the status of an unconfigured gateway: max_discovered reached",
                    metadata: ["server": "\(printable(server))", "max_discovered": "\(configuration.maxDiscovered)"],
                    now: now.seconds
                )
                return []
            }
            gateways[server] = Gateway(name: server, role: .discovered)
            discoveredCount += 1
            metrics.setDiscovered(discoveredCount)
            limiter.log(
                logger,
                .notice,
                key: "discovered",
                "Discovered gateway that is not configured; shown, never sent the admin key, not used for failover",
                metadata: ["server": "\(printable(server))"],
                now: now.seconds
            )
        }
        let wasOnline = gateways[server]?.online
        gateways[server]?.online = online
        gateways[server]?.lastSeen = now.seconds
        if wasOnline != online {
            limiter.log(
                logger,
                .info,
                key: "discovered_status",
                "Gateway status updated",
                metadata: ["server": "\(printable(server))", "online": "\(online)", "role": "discovered"],
                now: now.seconds
            )
        }
        return report(server, now: now)
    }

    /// The longest name (in UTF-8 bytes) a discovered server may have.
    static let maxDiscoveredNameLength = 64

    /// Forgets discovered servers silent for longer than `discovered_expiry`.
    mutating func expireDiscovered(now: ClockReading) -> [Effect] {
        guard discoveredCount > 0 else { return [] }
        let expiry = configuration.discoveredExpiry.seconds
        var effects: [Effect] = []
        for (name, gateway) in gateways where gateway.role == .discovered && !(now.seconds - (gateway.lastSeen ?? now.seconds) < expiry) {
            gateways[name] = nil
            discoveredCount -= 1
            metrics.countDiscoveredExpired()
            logger.debug("Forgot a discovered gateway after its silence", metadata: ["gateway": "\(printable(name))"])
            effects.append(.forget(TargetID(.gateway, name)))
        }
        if !effects.isEmpty { metrics.setDiscovered(discoveredCount) }
        return effects
    }
}
