//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
import NIOCore
public import ServiceLifecycle
import Synchronization
public import VigilCore
public import VigilMQTT

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The settings of the ``AgentSupervisor``.
public struct AgentSupervisorConfiguration: Sendable, Hashable {
    /// The agents.
    public var agents: [AgentDefinition]
    /// How often each agent's process is checked (iotmonitor: 1 s).
    public var checkInterval: Duration
    /// The root of `[baseTopic]/startedprocess/[agent]`.
    public var baseTopic: String

    /// Creates a configuration.
    public init(agents: [AgentDefinition] = [], checkInterval: Duration = .seconds(1), baseTopic: String = "home/monitoring") {
        self.agents = agents
        self.checkInterval = checkInterval
        self.baseTopic = baseTopic
    }
}

/// Keeps iotmonitor agents running.
///
/// Each agent runs as `/bin/bash -c "echo IOTMONITORMAGIC_<name>; <exec>; echo END"`, detached in
/// its own session (a Vigil restart or crash does not stop it), with stdout and stderr appended to
/// its log file, with `VIGIL_AGENT=<name>` in its environment. Every `checkInterval` the supervisor
/// checks that the process still runs; at start-up it looks for running processes carrying either
/// marker (``AgentProcess/Identity``) and adopts them instead of starting a second copy. The
/// environment marker survives a command that ends in `exec daemon`; the command-line one lets
/// Vigil adopt agents started by iotmonitor itself.
///
/// When an agent stops, what is left of its process group is sent SIGTERM and the agent is started
/// again according to its ``AgentRestartPolicy``; after too many restarts Vigil gives up and
/// records an `agent_given_up` event (critical). An agent with `restartOnSilence` is stopped
/// (SIGTERM, then SIGKILL after `stopTimeout`) and started again when its watch topics expire.
///
/// Each start publishes `[baseTopic]/startedprocess/[agent]` (QoS 0) with the Unix time of the
/// start in whole seconds. Hub target `agent/<name>`: status up (running), down (stopped or waiting
/// to restart), error (given up); attributes `name`, `state`, `pid`, `restarts`, `last_start`;
/// samples `running` and `restarts_total` (metrics `vigil_agent_running{agent}`,
/// `vigil_agent_restarts_total{agent}`). Events: `agent_started`, `agent_restarted`,
/// `agent_adopted`, `agent_silent` and `agent_given_up`.
public final class AgentSupervisor: Service, Sendable {
    private let configuration: AgentSupervisorConfiguration
    private let client: MQTTClient?
    private let hub: Hub
    private let logger: Logger
    /// Restart windows, delays and kill deadlines run on its monotonic time; `last_start`, the
    /// `startedprocess` payload and events are wall-clock stamps.
    private let clock: any VigilClock
    private let silentAgents = Mutex<Set<String>>([])

    private enum Phase {
        case running(pid: pid_t, child: Bool)
        case stopping(pid: pid_t, child: Bool, killAt: Double)
        case waiting(until: Double)
        case givenUp(nextScan: Double)
    }

    private struct Agent {
        var definition: AgentDefinition
        var tracker: AgentRestartTracker
        var phase: Phase
        var restarts = 0
        var lastStart: Double?
    }

    /// Creates the supervisor. Nothing starts until ``run()``.
    ///
    /// - Parameters:
    ///   - configuration: The agents.
    ///   - client: The MQTT client for `startedprocess` publications, if any.
    ///   - hub: Where observations and events go.
    ///   - logger: Logger, label `vigil.agents`.
    ///   - clock: The clock (``SystemClock``; tests pass a ``ManualClock``).
    public init(
        configuration: AgentSupervisorConfiguration,
        client: MQTTClient?,
        hub: Hub,
        logger: Logger = Logger(label: "vigil.agents"),
        clock: any VigilClock = SystemClock()
    ) {
        self.configuration = configuration
        self.client = client
        self.hub = hub
        self.logger = logger
        self.clock = clock
    }

    /// Asks for an agent to be restarted because its watch topics went silent. Honoured only for
    /// agents with `restartOnSilence`; safe to call from any task.
    public func watchExpired(_ target: TargetID) {
        guard target.kind == .agent, configuration.agents.contains(where: { $0.name == target.name && $0.restartOnSilence }) else { return }
        _ = silentAgents.withLock { $0.insert(target.name) }
    }

    /// Adopts or starts every agent, then checks them until graceful shutdown. Agents keep
    /// running when Vigil stops.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            try await self.supervise()
        }
    }

    private func supervise() async throws {
        var outbox: [(topic: String, payload: String)] = []
        var agents = configuration.agents.map { definition in
            Agent(definition: definition, tracker: AgentRestartTracker(policy: definition.restartPolicy), phase: .waiting(until: 0))
        }
        let running = AgentProcess.scan(for: Dictionary(uniqueKeysWithValues: agents.indices.map { ($0, agents[$0].definition.identity) }))
        for index in agents.indices {
            if let pid = running[index] {
                agents[index].phase = .running(pid: pid, child: false)
                logger.info("Adopted running agent", metadata: ["agent": "\(agents[index].definition.name)", "agent.pid": "\(pid)"])
                await report(
                    agents[index],
                    event: ("agent_adopted", .info, "Agent \(agents[index].definition.name) was already running (pid \(pid))")
                )
            } else {
                await launch(&agents[index], restart: false, outbox: &outbox)
            }
        }
        while !Task.isCancelled {
            try await clock.sleep(for: configuration.checkInterval)
            let silent = silentAgents.withLock { set in
                defer { set.removeAll() }
                return set
            }
            for index in agents.indices {
                await check(&agents[index], silent: silent.contains(agents[index].definition.name), outbox: &outbox)
            }
            await flush(&outbox)
        }
    }

    // MARK: - Checking

    private func check(_ agent: inout Agent, silent: Bool, outbox: inout [(topic: String, payload: String)]) async {
        let time = clock.now.seconds
        let identity = agent.definition.identity
        switch agent.phase {
        case .running(let pid, let child):
            if child { _ = AgentProcess.reapIfExited(pid) }
            if !AgentProcess.isRunning(pid, identity) {
                // Whatever the shell left behind in its session goes too, so no copy survives.
                AgentProcess.signalGroup(pid, SIGTERM)
                logger.warning("Agent stopped", metadata: ["agent": "\(agent.definition.name)", "agent.pid": "\(pid)"])
                await stopped(&agent, at: time, outbox: &outbox)
            } else if silent {
                logger.warning("Agent silent; restarting it", metadata: ["agent": "\(agent.definition.name)", "agent.pid": "\(pid)"])
                AgentProcess.signalGroup(pid, SIGTERM)
                agent.phase = .stopping(pid: pid, child: child, killAt: time + agent.definition.stopTimeout.secondsValue)
                await report(agent, event: ("agent_silent", .warning, "Agent \(agent.definition.name) is silent on its watch topics; restarting it"))
            }
        case .stopping(let pid, let child, let killAt):
            if child { _ = AgentProcess.reapIfExited(pid) }
            if !AgentProcess.isRunning(pid, identity) {
                AgentProcess.signalGroup(pid, SIGKILL)
                await stopped(&agent, at: time, outbox: &outbox)
            } else if time >= killAt {
                AgentProcess.signalGroup(pid, SIGKILL)
            }
        case .waiting(let until):
            guard time >= until else { return }
            if let pid = AgentProcess.scan(for: [0: identity])[0] {
                agent.phase = .running(pid: pid, child: false)
                await report(agent, event: nil)
            } else {
                await launch(&agent, restart: true, outbox: &outbox)
            }
        case .givenUp(let nextScan):
            guard time >= nextScan else { return }
            if let pid = AgentProcess.scan(for: [0: identity])[0] {
                agent.tracker.reset()
                agent.phase = .running(pid: pid, child: false)
                await report(agent, event: ("agent_adopted", .info, "Agent \(agent.definition.name) is running again (pid \(pid))"))
            } else {
                agent.phase = .givenUp(nextScan: time + 10)
            }
        }
    }

    private func stopped(_ agent: inout Agent, at time: Double, outbox: inout [(topic: String, payload: String)]) async {
        switch agent.tracker.stopped(at: time) {
        case .giveUp:
            agent.phase = .givenUp(nextScan: time + 10)
            let policy = agent.definition.restartPolicy
            logger.error("Agent keeps stopping; giving up", metadata: ["agent": "\(agent.definition.name)"])
            await report(
                agent,
                event: (
                    "agent_given_up", .critical,
                    "Agent \(agent.definition.name) stopped \(policy.maxRestarts + 1) times within \(Int(policy.window.secondsValue)) s; Vigil stopped restarting it"
                )
            )
        case .restart(let delay) where delay <= 0:
            await launch(&agent, restart: true, outbox: &outbox)
        case .restart(let delay):
            agent.phase = .waiting(until: time + delay)
            await report(agent, event: nil)
        }
    }

    private func launch(_ agent: inout Agent, restart: Bool, outbox: inout [(topic: String, payload: String)]) async {
        let reading = clock.reading
        let time = reading.seconds
        let definition = agent.definition
        AgentProcess.appendLine("--- vigil: starting agent \(definition.name) at \(Int(reading.wallClockSeconds))", to: definition.logFile)
        if restart {
            agent.tracker.restarted(at: time)
            agent.restarts += 1
        }
        do {
            let pid = try AgentProcess.spawn(
                shell: definition.shell,
                script: definition.script,
                logFile: definition.logFile,
                environment: definition.processEnvironment(inheriting: AgentProcess.currentEnvironment())
            )
            agent.phase = .running(pid: pid, child: true)
            agent.lastStart = reading.wallClockSeconds
            logger.info("Agent started", metadata: ["agent": "\(definition.name)", "agent.pid": "\(pid)"])
            outbox.append((topic: "\(configuration.baseTopic)/startedprocess/\(definition.name)", payload: "\(Int(reading.wallClockSeconds))"))
            await report(
                agent,
                event: restart
                    ? ("agent_restarted", .warning, "Agent \(definition.name) restarted (pid \(pid), restart \(agent.restarts))")
                    : ("agent_started", .info, "Agent \(definition.name) started (pid \(pid))")
            )
            await flush(&outbox)
        } catch {
            logger.error("Could not start agent", metadata: ["agent": "\(definition.name)", "error": "\(error)"])
            await stopped(&agent, at: time, outbox: &outbox)
        }
    }

    // MARK: - Reporting

    private func report(_ agent: Agent, event: (type: String, severity: Event.Severity, message: String)?) async {
        let time = clock.wallClockSeconds
        let (status, state, pid): (TargetStatus, String, pid_t?) =
            switch agent.phase {
            case .running(let pid, _): (.up, "running", pid)
            case .stopping(let pid, _, _): (.down, "stopping", pid)
            case .waiting: (.down, "backoff", nil)
            case .givenUp: (.error, "given_up", nil)
            }
        let target = TargetID(.agent, agent.definition.name)
        await hub.apply(
            Observation(
                target: target,
                time: time,
                status: status,
                attributes: [
                    "name": .string(agent.definition.name),
                    AttributeName.state.rawValue: .string(state),
                    AttributeName.pid.rawValue: pid.map { .number(Double($0)) } ?? .null,
                    AttributeName.restarts.rawValue: .number(Double(agent.restarts)),
                    AttributeName.lastStart.rawValue: agent.lastStart.map { .number($0) } ?? .null,
                ],
                samples: [
                    Sample("running", status == .up ? 1 : 0, recordHistory: false),
                    Sample(.restartsTotal, Double(agent.restarts), kind: .counter, recordHistory: false),
                ]
            )
        )
        if let event {
            await hub.record(
                Event(
                    time: time,
                    target: target,
                    type: event.type,
                    severity: event.severity,
                    message: event.message,
                    fields: ["restarts": "\(agent.restarts)"]
                )
            )
        }
    }

    private func flush(_ outbox: inout [(topic: String, payload: String)]) async {
        guard let client, !outbox.isEmpty, client.isConnected else { return }
        for (topic, payload) in outbox {
            do {
                try await client.publish(to: topic, payload: ByteBuffer(string: payload), qos: .atMostOnce)
            } catch {
                logger.debug("Publication skipped", metadata: ["mqtt.topic": "\(topic)", "error": "\(error)"])
            }
        }
        outbox.removeAll()
    }
}
