//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// The Announcer's at-least-once guarantee, end to end: the `vigil` binary sends one announcement
/// to 500 offline users of a real Prosody (as a XEP-0114 component: confirmed by ping round trips)
/// and a real ejabberd (as a client: confirmed by XEP-0198 acknowledgements), is interrupted
/// part-way, and what each user received is counted in the server's offline message store.
///
/// - SIGTERM, then a restart: nobody missing, nobody twice.
/// - SIGKILL, then a restart: nobody missing, at most one batch (50) twice.
/// - The XMPP server frozen (SIGSTOP) for 30 s, then thawed: nobody missing.
@Suite("Announcer delivery guarantee against real XMPP servers", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct AnnouncerDeliveryIntegrationTests {
    static let userCount = 500
    static let batch = 50

    enum Interruption: String, Sendable, CaseIterable, CustomStringConvertible {
        case sigterm, sigkill, freeze
        var description: String { rawValue }
    }

    enum ServerKind: String, Sendable, CaseIterable, CustomStringConvertible {
        case prosody = "Prosody"
        case ejabberd
        var description: String { rawValue }
    }

    /// Servers whose 500 users exist already (registered once per test process).
    static let registered = Mutex<Set<String>>([])

    @Test("500 users, interrupted mid-send: nobody missing, duplicates within the guarantee", arguments: ServerKind.allCases, Interruption.allCases)
    func interruptedAnnouncement(kind: ServerKind, interruption: Interruption) async throws {
        let server = try IntegrationEnvironment.xmppServer(kind == .prosody ? "PROSODY" : "EJABBERD", name: kind.rawValue)
        try registerUsers(kind, domain: server.domain)
        let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("announcer-delivery-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("announcer.toml")
        try configuration(kind, server).write(to: config, atomically: true, encoding: .utf8)
        let run = "r\(UUID().uuidString.prefix(8).lowercased())"
        let names = (0..<Self.userCount).map { "u\($0)" }

        var vigil = try VigilProcess(arguments: ["serve", "--config", config.path], directory: directory)
        try await vigil.waitUntilHealthy()
        let receipt = try await vigil.post("/v1/announce/users", json: Self.body(usernames: names, run: run))
        #expect(receipt.status == 202, "\(receipt.body)")
        let id = try #require(receipt.body.split(separator: "\"").dropFirst(3).first.map(String.init), "\(receipt.body)")
        // Mid-batch: 175 written means the batches up to 150 may be confirmed, the fourth is half sent.
        try await waitForMetric(vigil, result: "sent", atLeast: 175)

        switch interruption {
        case .sigterm:
            let stopped = try await vigil.stop(signal: SIGTERM, timeout: .seconds(30))
            #expect(stopped.status == 0, "\(vigil.log)")
            vigil = try VigilProcess(arguments: ["serve", "--config", config.path], directory: directory)
            try await vigil.waitUntilHealthy()
        case .sigkill:
            _ = try await vigil.stop(signal: SIGKILL)
            vigil = try VigilProcess(arguments: ["serve", "--config", config.path], directory: directory)
            try await vigil.waitUntilHealthy()
        case .freeze:
            let pids = try serverProcesses(kind)
            for pid in pids { kill(pid, SIGSTOP) }
            try await Task.sleep(for: .seconds(30))
            for pid in pids { kill(pid, SIGCONT) }
        }
        try await waitForCompletion(vigil, id: id, timeout: .seconds(150))
        let metrics = try await vigil.get("/metrics").body
        _ = try await vigil.stop(signal: SIGTERM, timeout: .seconds(30))
        // ejabberd's client stream confirms by XEP-0198 acknowledgements; Prosody's component by pings.
        #expect(vigil.log.contains("xmpp.stream_management=\(kind == .ejabberd)"), "\(vigil.log.prefix(2000))")

        let counts = try receivedCounts(kind, domain: server.domain, run: run)
        let missing = counts.filter { $0 == 0 }.count
        let duplicates = counts.reduce(0) { $0 + max(0, $1 - 1) }
        let resent = metricValue(metrics, result: "resent")
        print(
            "ANNOUNCER-DELIVERY server=\(kind) interruption=\(interruption) users=\(Self.userCount) missing=\(missing) duplicates=\(duplicates) resent-by-the-last-process=\(resent)"
        )
        #expect(missing == 0, "users who received nothing: \(counts.indices.filter { counts[$0] == 0 }.prefix(20))")
        switch interruption {
        case .sigterm: #expect(duplicates == 0)
        case .sigkill: #expect(duplicates <= Self.batch)
        case .freeze: break
        }
    }

    @Test(
        "500 users, three instances on one Redis store (ejabberd, client logins): the sending instance is SIGKILLed mid-send and another takes its job over; nobody missing, duplicates within one batch"
    )
    func takenOverByAnotherInstance() async throws {
        let kind = ServerKind.ejabberd
        let server = try IntegrationEnvironment.xmppServer("EJABBERD", name: kind.rawValue)
        try registerUsers(kind, domain: server.domain)
        let (prefix, _) = RedisStoreIntegrationTests.unique()
        let environment = try RedisStoreProcessTests.environment(.single, prefix: prefix)
        let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("announcer-instances-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("announcer.toml")
        try configuration(kind, server).write(to: config, atomically: true, encoding: .utf8)
        let run = "r\(UUID().uuidString.prefix(8).lowercased())"
        let names = (0..<Self.userCount).map { "u\($0)" }

        var vigils: [VigilProcess] = []
        do {
            for index in 0..<3 {
                let folder = directory.appendingPathComponent("i\(index)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                vigils.append(try VigilProcess(arguments: ["serve", "--config", config.path], environment: environment, directory: folder))
            }
            for vigil in vigils { try await vigil.waitUntilHealthy() }
            // Three logins of one account: each binds its own resource, none is kicked off.
            try await Task.sleep(for: .seconds(2))
            for vigil in vigils {
                #expect(!vigil.log.contains("conflict"), "\(vigil.log.suffix(2000))")
            }
            let receipt = try await vigils[0].post("/v1/announce/users", json: Self.body(usernames: names, run: run))
            #expect(receipt.status == 202, "\(receipt.body)")
            let id = try #require(receipt.body.split(separator: "\"").dropFirst(3).first.map(String.init), "\(receipt.body)")
            try await waitForMetric(vigils[0], result: "sent", atLeast: 175)
            _ = try await vigils[0].stop(signal: SIGKILL)
            let survivors = Array(vigils.dropFirst())
            try await waitForCompletion(survivors[0], id: id, timeout: .seconds(150))
            var takeovers = 0
            for vigil in survivors {
                let metrics = try await vigil.get("/metrics").body
                for line in metrics.split(separator: "\n") where line.hasPrefix("vigil_announcer_takeovers_total") {
                    takeovers += Int(Double(line.split(separator: " ").last ?? "") ?? 0)
                }
            }
            for vigil in survivors { _ = try await vigil.stop(signal: SIGTERM, timeout: .seconds(30)) }

            let counts = try receivedCounts(kind, domain: server.domain, run: run)
            let missing = counts.filter { $0 == 0 }.count
            let duplicates = counts.reduce(0) { $0 + max(0, $1 - 1) }
            print("ANNOUNCER-INSTANCES users=\(Self.userCount) missing=\(missing) duplicates=\(duplicates) takeovers=\(takeovers)")
            #expect(missing == 0, "users who received nothing: \(counts.indices.filter { counts[$0] == 0 }.prefix(20))")
            #expect(duplicates <= Self.batch)
            #expect(takeovers == 1)
        } catch {
            for vigil in vigils {
                _ = try? await vigil.stop(signal: SIGKILL)
                print("announcer instances: vigil log tail:\n\(vigil.log.suffix(3000))")
            }
            throw error
        }
    }

    // MARK: - Vigil

    func configuration(_ kind: ServerKind, _ server: IntegrationEnvironment.XMPPServer) -> String {
        // rate_limit 100 keeps a run short; send_retry 10 outlasts a 30 s freeze (pauses 0.5 s ... 30 s).
        let common = """
            [ejabberd]
            rate_limit = 100
            send_retry = 10
            each_node_conn_num = 1

            """
        switch kind {
        case .prosody:
            return common + """
                cluster_nodes = "\(server.host):\(server.componentPort)"

                [component]
                name = "\(server.componentDomain)"
                secret = "\(server.componentSecret)"
                domain = "\(server.domain)"
                ping_interval = 30
                """
        case .ejabberd:
            return common + """
                cluster_nodes = "\(server.host):\(server.c2sPort)"

                [client]
                username = "announcer"
                password = "announcerpw"
                domain = "\(server.domain)"
                ping_interval = 5
                """
        }
    }

    static func body(usernames: [String], run: String) -> String {
        let stanza = "<message to='%s' type='chat' id='\(run)-[inc_id]'><body>\(run)</body></message>"
        let names = usernames.map { "\"\($0)\"" }.joined(separator: ",")
        return #"{"usernames": [\#(names)], "message": "\#(Data(stanza.utf8).base64EncodedString())", "persist": false}"#
    }

    func metricValue(_ metrics: String, result: String) -> Int {
        let prefix = #"vigil_announcer_messages_total{result="\#(result)"} "#
        for line in metrics.split(separator: "\n") where line.hasPrefix(prefix) {
            return Int(Double(line.dropFirst(prefix.count)) ?? 0)
        }
        return 0
    }

    func waitForMetric(_ vigil: VigilProcess, result: String, atLeast count: Int) async throws {
        try await withTimeout(.seconds(60)) {
            while true {
                if let metrics = try? await vigil.get("/metrics").body, metricValue(metrics, result: result) >= count { return }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    func waitForCompletion(_ vigil: VigilProcess, id: String, timeout: Duration) async throws {
        do {
            try await withTimeout(timeout) {
                while true {
                    if let events = try? await vigil.get("/api/v1/events?limit=100").body,
                        events.contains("announcement_completed"), events.contains(id)
                    {
                        return
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
        } catch {
            throw VigilProcess.Failure("announcement \(id) did not complete: \(error)\n\(vigil.log.suffix(4000))")
        }
    }

    // MARK: - Users and what they received

    /// Registers u0 … u499 (password `pw`) and `announcer` at once: Prosody's account files are
    /// written directly; ejabberd loads them into Mnesia with one `ejabberdctl load` (one
    /// `register` call each would take 0.4 s per user).
    func registerUsers(_ kind: ServerKind, domain: String) throws {
        guard Self.registered.withLock({ !$0.contains(kind.rawValue) }) else { return }
        let names = (0..<Self.userCount).map { "u\($0)" }
        switch kind {
        case .prosody:
            try Self.writeProsodyAccounts(names, domain: domain)
        case .ejabberd:
            let directory = try IntegrationEnvironment.require("EJABBERD_DIR")
            let file = URL(fileURLWithPath: directory).appendingPathComponent("users-\(UUID().uuidString).txt")
            var text = "{tables, [{passwd, [{attributes, [us, password]}]}]}.\n"
            for name in names + ["announcer"] {
                text += "{passwd, {<<\"\(name)\">>, <<\"\(domain)\">>}, <<\"\(name == "announcer" ? "announcerpw" : "pw")\">>}.\n"
            }
            try text.write(to: file, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
            let result = try ejabberdctl(["load", file.path])
            guard result.status == 0 else { throw VigilProcess.Failure("ejabberdctl load failed: \(result.output)") }
        }
        Self.registered.withLock { _ = $0.insert(kind.rawValue) }
    }

    /// Registers Prosody users (password `pw`) by writing their account files, which Prosody's
    /// internal storage reads on demand.
    static func writeProsodyAccounts(_ names: [String], domain: String) throws {
        let accounts = URL(fileURLWithPath: try IntegrationEnvironment.require("PROSODY_DATA_DIR"))
            .appendingPathComponent(prosodyEncoded(domain)).appendingPathComponent("accounts")
        try FileManager.default.createDirectory(at: accounts, withIntermediateDirectories: true)
        for name in names {
            try "return {\n\t[\"password\"] = \"pw\";\n};\n".write(
                to: accounts.appendingPathComponent("\(name).dat"),
                atomically: true,
                encoding: .utf8
            )
        }
    }

    /// How many messages of this run each of u0 … u499 has in the server's offline store.
    func receivedCounts(_ kind: ServerKind, domain: String, run: String) throws -> [Int] {
        var text = ""
        switch kind {
        case .prosody:
            // Prosody's internal storage writes each offline message to `<user>.list` as it stores it.
            let folder = URL(fileURLWithPath: try IntegrationEnvironment.require("PROSODY_DATA_DIR"))
                .appendingPathComponent(Self.prosodyEncoded(domain)).appendingPathComponent("offline")
            for file in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] {
                text += (try? String(contentsOfFile: folder.appendingPathComponent(file).path, encoding: .utf8)) ?? ""
            }
        case .ejabberd:
            // A text dump of the Mnesia database (the VM writes it as user ejabberd, into its folder).
            let file = URL(fileURLWithPath: try IntegrationEnvironment.require("EJABBERD_DIR")).appendingPathComponent("dump-\(run).txt")
            let result = try ejabberdctl(["dump", file.path])
            guard result.status == 0 else { throw VigilProcess.Failure("ejabberdctl dump failed: \(result.output)") }
            text = try String(contentsOfFile: file.path, encoding: .utf8)
        }
        // Each stored message carries its id, `<run>-<index>`, once; the index is the user's number.
        var counts = [Int](repeating: 0, count: Self.userCount)
        let marker = Array("\(run)-".utf8)
        let bytes = Array(text.utf8)
        var position = 0
        while position + marker.count < bytes.count {
            guard bytes[position..<(position + marker.count)].elementsEqual(marker) else {
                position += 1
                continue
            }
            position += marker.count
            var number = 0
            var digits = 0
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]), digits < 6 {
                number = number * 10 + Int(bytes[position] - UInt8(ascii: "0"))
                digits += 1
                position += 1
            }
            if digits > 0, number < counts.count { counts[number] += 1 }
        }
        return counts
    }

    /// Prosody's file name for a host: `%` escapes for everything but letters and digits.
    static func prosodyEncoded(_ name: String) -> String {
        name.utf8.map { byte in
            let character = Character(Unicode.Scalar(byte))
            return character.isASCII && (character.isLetter || character.isNumber) ? String(character) : String(format: "%%%02x", byte)
        }.joined()
    }

    func ejabberdctl(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let directory = try IntegrationEnvironment.require("EJABBERD_DIR")
        return try VigilProcess.runToCompletion(
            ["-c", "\(directory)/ctl.cfg", "-s", "\(directory)/db", "-l", "\(directory)/logs"] + arguments,
            executable: IntegrationEnvironment.environment["EJABBERDCTL_BIN"] ?? "/usr/sbin/ejabberdctl"
        )
    }

    /// The server's processes: Prosody's own, or ejabberd's Erlang VM under the `ejabberdctl
    /// foreground` wrapper the service script started (found through /proc).
    func serverProcesses(_ kind: ServerKind) throws -> [pid_t] {
        let root = pid_t(try IntegrationEnvironment.require(kind == .prosody ? "PROSODY_PID" : "EJABBERD_PID")) ?? 0
        var parents: [pid_t: pid_t] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let parent = pid_t(fields[1]) { parents[pid] = parent }
        }
        var result: [pid_t] = [root]
        var index = 0
        while index < result.count {
            let parent = result[index]
            result += parents.filter { $0.value == parent }.map(\.key)
            index += 1
        }
        return result
    }
}
