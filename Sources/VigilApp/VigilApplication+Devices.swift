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
        logger: Logger
    ) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        guard !configuration.isEmpty else { return [] }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        let supervisor: AgentSupervisor? =
            configuration.agents.agents.isEmpty
            ? nil
            : AgentSupervisor(configuration: configuration.agents, client: client, hub: hub, logger: logger.child("vigil.agents"), clock: hub.clock)
        if let supervisor { services.append(.init(service: supervisor)) }
        if let client {
            let watchdog = DeviceWatchdog(
                configuration: configuration.watchdog,
                client: client,
                hub: hub,
                store: store,
                logger: logger.child("vigil.devices"),
                clock: hub.clock,
                onExpired: { target in supervisor?.watchExpired(target) }
            )
            services.append(.init(service: watchdog))
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
