//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import ServiceLifecycle
import VigilCore
import VigilMQTT
import VigilMonitors

extension VigilApplication {
    /// The iotmonitor services: the agent supervisor (when agents are declared) and the device
    /// watchdog (when an MQTT client exists and something has topics).
    ///
    /// Both are critical: a failure stops Vigil (they only fail on programming errors; transient
    /// MQTT and process errors are retried inside them).
    static func deviceServices(
        _ configuration: DevicesConfiguration,
        client: MQTTClient?,
        hub: Hub,
        store: any StateStore,
        logger: Logger,
        ownership: WorkOwnership? = nil,
        leases: (any WorkLeaseStore)? = nil
    ) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        guard !configuration.isEmpty else { return [] }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        let supervisor: AgentSupervisor? =
            configuration.agents.agents.isEmpty
            ? nil
            : AgentSupervisor(configuration: configuration.agents, client: client, hub: hub, logger: logger.child("vigil.agents"), clock: hub.clock)
        if let supervisor { services.append(.init(service: supervisor)) }
        if let client {
            let watchdogConfiguration = configuration.watchdog
            let makeWatchdog: @Sendable (any StateStore) -> DeviceWatchdog = { store in
                DeviceWatchdog(
                    configuration: watchdogConfiguration,
                    client: client,
                    hub: hub,
                    store: store,
                    logger: logger.child("vigil.devices"),
                    clock: hub.clock,
                    onExpired: { target in supervisor?.watchExpired(target) },
                    inheritsFromHub: ownership != nil
                )
            }
            if let ownership {
                // Each expiry must be published once: one instance of a cluster runs the watchdog;
                // another takes over (restoring the states from the shared store) when it dies.
                let owned = OwnedService(
                    key: devicesWorkKey,
                    ownership: ownership,
                    logger: logger.child("vigil.devices"),
                    store: store,
                    leases: leases,
                    clock: hub.clock,
                    make: makeWatchdog
                )
                services.append(.init(service: owned))
            } else {
                services.append(.init(service: makeWatchdog(store)))
            }
        }
        return services
    }
}

extension Logger {
    /// A logger with another label and this logger's level.
    fileprivate func child(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = logLevel
        return logger
    }
}
