//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing
import VigilCore
import VigilMonitors

@Suite("Agents: restart policy, marker, processes")
struct AgentsTests {
    /// Starts an agent's process as the supervisor does.
    func spawn(_ agent: AgentDefinition) throws -> Int32 {
        try AgentProcess.spawn(
            shell: agent.shell,
            script: agent.script,
            logFile: agent.logFile,
            environment: agent.processEnvironment(inheriting: AgentProcess.currentEnvironment())
        )
    }

    @Test("The first restart is immediate, then the delay doubles up to the maximum")
    func backoff() {
        var tracker = AgentRestartTracker(
            policy: AgentRestartPolicy(maxRestarts: 10, window: .seconds(600), backoff: .seconds(1), maximumBackoff: .seconds(5))
        )
        var delays: [Double] = []
        var time = 0.0
        for _ in 0..<6 {
            guard case .restart(let delay) = tracker.stopped(at: time) else {
                Issue.record("gave up too early")
                return
            }
            delays.append(delay)
            time += delay
            tracker.restarted(at: time)
        }
        #expect(delays == [0, 1, 2, 4, 5, 5])
    }

    @Test("After maxRestarts within the window Vigil gives up; restarts outside the window do not count")
    func giveUp() {
        var tracker = AgentRestartTracker(policy: AgentRestartPolicy(maxRestarts: 2, window: .seconds(60), backoff: .zero))
        #expect(tracker.stopped(at: 0) == .restart(after: 0))
        tracker.restarted(at: 0)
        #expect(tracker.stopped(at: 1) == .restart(after: 0))
        tracker.restarted(at: 1)
        #expect(tracker.restartsInWindow(at: 2) == 2)
        #expect(tracker.stopped(at: 2) == .giveUp)
        // Much later the old restarts have left the window.
        #expect(tracker.stopped(at: 200) == .restart(after: 0))
    }

    @Test("The marker and script follow iotmonitor, so its agents are adopted")
    func marker() {
        let agent = AgentDefinition(name: "ledboxdaemon", exec: "python3 ledboxdaemon.py", logFile: "/tmp/x.log")
        #expect(agent.marker == "IOTMONITORMAGIC_ledboxdaemon")
        #expect(agent.script == "echo IOTMONITORMAGIC_ledboxdaemon; python3 ledboxdaemon.py; echo END")
        #expect(agent.commandLineNeedle == "echo IOTMONITORMAGIC_ledboxdaemon;")
        let other = AgentDefinition(name: "led", exec: "true", logFile: "/tmp/y.log")
        #expect(!agent.script.contains(other.commandLineNeedle))
    }

    @Test("A spawned agent runs in its own session, is found by its marker and stops with its group")
    func spawnScanStop() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-agents-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = "unit\(UInt32.random(in: 0...UInt32.max))"
        let agent = AgentDefinition(
            name: name,
            exec: "echo hello-from-agent; sleep 30",
            logFile: directory.appendingPathComponent("a/\(name).log").path
        )
        AgentProcess.makeParentDirectory(of: agent.logFile)
        // A descriptor without close-on-exec must not leak into the agent.
        let leakPath = directory.appendingPathComponent("leak").path
        let leak = open(leakPath, O_WRONLY | O_CREAT, 0o644)
        #expect(leak > 2)
        defer { close(leak) }
        let pid = try spawn(agent)
        defer { AgentProcess.signalGroup(pid, SIGKILL) }
        let inherited = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
        }
        #expect(!inherited.contains(leakPath))
        #expect(inherited.contains(agent.logFile))
        #expect(getsid(pid) == pid)
        // posix_spawn may return while the kernel still sets up the new image (empty cmdline).
        for _ in 0..<200 where !AgentProcess.isRunning(pid, agent.identity) {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(AgentProcess.isRunning(pid, agent.identity))
        #expect(AgentProcess.scan(for: ["a": agent.identity])["a"] == pid)
        let other = AgentDefinition(name: name + "x", exec: "true", logFile: agent.logFile)
        #expect(AgentProcess.scan(for: ["a": other.identity]).isEmpty)
        var log = ""
        for _ in 0..<300 where !log.contains("hello-from-agent") {
            try await Task.sleep(for: .milliseconds(10))
            log = (try? String(contentsOfFile: agent.logFile, encoding: .utf8)) ?? ""
        }
        #expect(log.contains("IOTMONITORMAGIC_\(name)"))
        #expect(log.contains("hello-from-agent"))
        AgentProcess.signalGroup(pid, SIGTERM)
        var exited = false
        for _ in 0..<200 where !exited {
            exited = AgentProcess.reapIfExited(pid)
            if !exited { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(exited)
        #expect(!AgentProcess.isRunning(pid, agent.identity))
    }

    @Test("An agent whose command ends in exec keeps its identity: found by its environment, one process")
    func execKeepsIdentity() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-agents-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = "exec\(UInt32.random(in: 0...UInt32.max))"
        let agent = AgentDefinition(name: name, exec: "cd /; exec sleep 30", logFile: directory.appendingPathComponent("\(name).log").path)
        AgentProcess.makeParentDirectory(of: agent.logFile)
        let pid = try spawn(agent)
        defer { AgentProcess.signalGroup(pid, SIGKILL) }
        // Wait until the shell has become `sleep 30`: the command-line marker is gone.
        for _ in 0..<300 where AgentProcess.commandLine(of: pid) != "sleep 30 " {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(AgentProcess.commandLine(of: pid) == "sleep 30 ")
        #expect(!AgentProcess.isRunning(pid, AgentProcess.Identity(commandLineNeedle: agent.commandLineNeedle, environmentEntry: "-")))
        #expect(AgentProcess.isRunning(pid, agent.identity))
        #expect(AgentProcess.scan(for: ["a": agent.identity]) == ["a": pid])
        // A name that only starts the same is another agent.
        let longer = AgentDefinition(name: name + "2", exec: "true", logFile: agent.logFile)
        #expect(AgentProcess.scan(for: ["a": longer.identity]).isEmpty)
        AgentProcess.signalGroup(pid, SIGKILL)
        for _ in 0..<200 where !AgentProcess.reapIfExited(pid) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!AgentProcess.isRunning(pid, agent.identity))
    }

    @Test("An agent's environment is the allow-list, the passed names and its own variables")
    func environmentIsScrubbed() {
        let parent = [
            "PATH": "/usr/bin:/bin", "HOME": "/home/vigil", "LANG": "C.UTF-8", "LC_TIME": "de_DE.UTF-8", "TZ": "UTC",
            "VIGIL_HTTP_TOKEN": "tok", "GATEWAY_PLUGIN_ADMIN_KEY": "key", "MQTT_BROKER_URL": "mqtt://u:p@h", "AWS_SECRET_ACCESS_KEY": "aws",
            "PYTHONPATH": "/opt/lib",
        ]
        let agent = AgentDefinition(
            name: "a",
            exec: "true",
            logFile: "/tmp/a.log",
            environment: ["MQTT_HOST": "broker", "TZ": "Europe/Paris"],
            passEnvironment: ["PYTHONPATH"]
        )
        #expect(
            agent.processEnvironment(inheriting: parent) == [
                "HOME=/home/vigil", "LANG=C.UTF-8", "LC_TIME=de_DE.UTF-8", "MQTT_HOST=broker", "PATH=/usr/bin:/bin", "PYTHONPATH=/opt/lib",
                "TZ=Europe/Paris", "VIGIL_AGENT=a",
            ]
        )
        #expect(
            AgentDefinition(name: "b", exec: "true", logFile: "/tmp/b.log", environment: ["VIGIL_AGENT": "c"]).processEnvironment(inheriting: [:])
                == [
                    "PATH=\(AgentDefinition.defaultPath)", "VIGIL_AGENT=b",
                ]
        )
        #expect(AgentDefinition.isVariableName("MQTT_HOST_2"))
        #expect(!AgentDefinition.isVariableName("2X"))
        #expect(!AgentDefinition.isVariableName("A=B"))
        #expect(!AgentDefinition.isVariableName(""))
    }

    @Test("A secret in Vigil's environment is not visible to a spawned agent")
    func secretNotInherited() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-agents-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = "envtest\(UInt32.random(in: 0...UInt32.max))"
        let secretName = "VIGIL_TEST_SECRET_\(name.uppercased())"
        let secret = "s3cr3t-\(UUID().uuidString)"
        setenv(secretName, secret, 1)
        defer { unsetenv(secretName) }
        #expect(AgentProcess.currentEnvironment()[secretName] == secret)
        let agent = AgentDefinition(
            name: name,
            exec: "env; echo DONE",
            logFile: directory.appendingPathComponent("\(name).log").path,
            environment: ["AGENT_OWN": "mine"]
        )
        AgentProcess.makeParentDirectory(of: agent.logFile)
        let pid = try spawn(agent)
        defer { AgentProcess.signalGroup(pid, SIGKILL) }
        var log = ""
        for _ in 0..<500 where !log.contains("DONE") {
            try await Task.sleep(for: .milliseconds(10))
            log = (try? String(contentsOfFile: agent.logFile, encoding: .utf8)) ?? ""
        }
        for _ in 0..<200 where !AgentProcess.reapIfExited(pid) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(log.contains("DONE"))
        #expect(log.contains("AGENT_OWN=mine"))
        #expect(log.contains("PATH="))
        #expect(!log.contains(secret))
        #expect(!log.contains(secretName))
    }

    @Test("A restart delay runs on monotonic time: wall-clock steps of +1 h and -1 h neither shorten nor lengthen it")
    func restartDelayIgnoresWallClockSteps() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-agents-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = "clockstep\(UInt32.random(in: 0...UInt32.max))"
        // An agent that exits at once: restarted at once, then after 20 s, then after 40 s.
        let agent = AgentDefinition(
            name: name,
            exec: "exit 3",
            restartPolicy: AgentRestartPolicy(maxRestarts: 10, window: .seconds(600), backoff: .seconds(20), maximumBackoff: .seconds(60)),
            logFile: directory.appendingPathComponent("\(name).log").path
        )
        let clock = ManualClock(wallClockSeconds: 1_800_000_000)
        let hub = Hub(stores: MemoryStore().stores, clock: clock)
        let supervisor = AgentSupervisor(
            configuration: AgentSupervisorConfiguration(agents: [agent], checkInterval: .seconds(1)),
            client: nil,
            hub: hub,
            clock: clock
        )
        let target = TargetID(.agent, name)
        func attribute(_ name: AttributeName) async -> JSONValue? { await hub.state(of: target)?.attributes[name.rawValue] }
        /// One check interval: the agent's process gets real time to exit, then the supervisor checks.
        func tick() async throws {
            try await Task.sleep(for: .milliseconds(60))
            clock.advance(by: .seconds(1))
            for _ in 0..<500 where clock.sleeperCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(clock.sleeperCount == 1, "the supervisor did not come back to sleep")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await supervisor.run() }
            for _ in 0..<500 where clock.sleeperCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
            // Started, stopped, restarted at once, stopped again: now it waits 20 s.
            for _ in 0..<20 where await attribute(.state) != .string("backoff") { try await tick() }
            #expect(await attribute(.state) == .string("backoff"))
            #expect(await attribute(.restarts) == .number(1))

            clock.stepWallClock(by: 3600)
            for _ in 0..<10 { try await tick() }
            #expect(await attribute(.state) == .string("backoff"), "a +1 h step ended the delay early")
            #expect(await attribute(.restarts) == .number(1))
            clock.stepWallClock(by: -7200)
            for _ in 0..<9 { try await tick() }
            #expect(await attribute(.restarts) == .number(1), "the delay ended early")
            // 20 s of monotonic time after the stop it is restarted, not an hour off.
            for _ in 0..<3 where await attribute(.restarts) == .number(1) { try await tick() }
            #expect(await attribute(.restarts) == .number(2), "a -1 h step lengthened the delay")
            group.cancelAll()
        }
    }
}
