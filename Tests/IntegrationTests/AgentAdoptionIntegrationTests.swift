//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

extension DevicesIntegrationTests {
    @Test("An agent whose command ends in exec is adopted after Vigil's SIGKILL: one copy, same PID")
    func execAgentAdoptedAfterKill() async throws {
        let prefix = MQTTTestSupport.uniqueTopic("agents-exec")
        let agent = "execd\(UInt32.random(in: 0...UInt32.max))"
        defer { Self.killAgents(agent) }
        let config = try Self.config(
            prefix: prefix,
            "[watchdog]\nagent_check_interval = \"200ms\"\n\n[agent_\(agent)]\nexec = \"cd /; exec sleep 600\"\n"
        )
        let directory = Self.scratch("exec")
        let firstPID: Int32 = try await Self.withVigil(config, directory: directory, kill: SIGKILL) { vigil in
            // The shell has become `sleep 600`: only the environment marker is left.
            let pid = try await Self.waitForAgent(agent) { pid in
                (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8))?.hasPrefix("sleep") == true
            }
            // Several checks pass without a restart: the supervisor still recognises it.
            try await Task.sleep(for: .seconds(1))
            #expect(Self.agentPIDs(agent) == [pid])
            let metrics = try await vigil.get("/metrics")
            #expect(metrics.body.contains("vigil_agent_restarts_total{agent=\"\(agent)\"} 0"))
            return pid
        }
        #expect(Self.agentPIDs(agent) == [firstPID], "the agent survives Vigil's SIGKILL")
        for round in 1...2 {
            try await Self.withVigil(config, directory: directory, kill: round == 1 ? SIGKILL : SIGTERM) { vigil in
                var adopted = false
                for _ in 0..<100 where !adopted {
                    adopted = vigil.log.contains("Adopted running agent")
                    if !adopted { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(adopted, "round \(round)")
                // Give the supervisor a few checks: it must neither start a second copy nor restart it.
                try await Task.sleep(for: .seconds(1))
                #expect(Self.agentPIDs(agent) == [firstPID], "round \(round)")
                #expect(!vigil.log.contains("Agent started"), "round \(round)")
                let state = try await vigil.get("/api/v1/agents/\(agent)")
                let compact = state.body.replacingOccurrences(of: " ", with: "")
                #expect(compact.contains("\"pid\":\(firstPID)"), "round \(round): \(state.body)")
            }
        }
    }
}
