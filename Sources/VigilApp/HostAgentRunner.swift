//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
import ServiceLifecycle
import UnixSignals
import VigilCore
public import VigilMonitors

/// Runs `vigil agent`: the agent and its one client as a `ServiceGroup`, until SIGTERM or SIGINT.
///
/// Nothing of the full service is created: no store, no hub, no web server, no metrics registry.
public enum HostAgentRunner {
    /// Runs the agent until a signal stops it.
    ///
    /// - Parameters:
    ///   - configuration: The resolved settings (``HostAgentSettings``).
    ///   - logger: The root logger.
    public static func run(_ configuration: HostAgentConfiguration, logger: Logger) async throws {
        let agent = try HostAgent(configuration: configuration, logger: logger)
        // The group stops services last to first: the agent (which says offline) before its client.
        // The trimmer first, so that it is stopped last and never delays the agent's own stop.
        let trimmer = ResidentSetTrimmer(delay: max(configuration.interval * 3, .seconds(15)), logger: logger)
        let services: [any Service] = [trimmer] + agent.services + [agent]
        logger.info(
            "Vigil agent starting",
            metadata: [
                "version": "\(vigilVersion)", "agent.name": "\(configuration.name)",
                "agent.interval": "\(configuration.interval)", "agent.push": "\(configuration.destination.redacted)",
            ]
        )
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
        logger.info("Vigil agent stopped")
    }
}

extension HostAgentConfiguration.Destination {
    /// The URL without credentials, for logs.
    var redacted: String {
        switch self {
        case .mqtt(let url), .http(let url): Redaction.urls(in: url)
        }
    }
}
