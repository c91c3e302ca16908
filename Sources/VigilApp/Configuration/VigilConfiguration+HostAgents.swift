//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Foundation
import TOMLKit
import VigilCore
public import VigilMonitors

extension HostIngestConfiguration {
    /// Reads `[host_ingest]`; see ``HostIngestConfiguration`` for the keys.
    init(_ section: ConfigSection) throws {
        self.init()
        if let enabled = try section.bool("enabled") { self.enabled = enabled }
        if let prefix = try section.string("topic_prefix") {
            if let problem = Self.topicPrefixProblem(prefix) { throw section.error("topic_prefix", problem) }
            topicPrefix = prefix
        }
        if let tokens = try section.stringList("tokens") {
            for token in tokens where token.utf8.count < 16 || token.contains(where: \.isWhitespace) {
                throw section.error("tokens", "every token needs at least 16 characters and no white space")
            }
            self.tokens = tokens
        }
        if let stale = try section.duration("stale_after") {
            guard stale >= .seconds(1), stale <= .seconds(86_400) else { throw section.error("stale_after", "must be between 1s and 24h") }
            staleAfter = stale
        }
        if let limit = try section.integer("max_hosts", in: 1...100_000) { maxHosts = limit }
    }
}

/// `vigil agent`'s settings: an optional `[agent]` section of a configuration file, then the command
/// line on top of it.
public enum HostAgentSettings {
    /// The command-line values (each `nil` when not given).
    public struct CommandLine: Sendable {
        public var push: String?
        public var token: String?
        public var name: String?
        public var interval: String?

        public init(push: String? = nil, token: String? = nil, name: String? = nil, interval: String? = nil) {
            self.push = push
            self.token = token
            self.name = name
            self.interval = interval
        }
    }

    /// Reads `[agent]` from `path` (when given) and applies the command line; `VIGIL_AGENT_*`
    /// variables override the file.
    ///
    /// - Throws: ``ConfigurationError`` naming the file and key (exit 2).
    public static func resolve(
        path: String?,
        commandLine: CommandLine,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> HostAgentConfiguration {
        let file = path ?? "<command line>"
        var table: [String: ConfigValue] = [:]
        if let path {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ConfigurationError(file: path, key: nil, message: "cannot read the file: \(error.localizedDescription)")
            }
            if let problem = TOMLPrecheck.firstProblem(in: text) {
                throw ConfigurationError(file: path, key: nil, line: problem.line, message: "TOML syntax error: \(problem.message)")
            }
            do {
                let root = ConfigValue.table(from: try TOMLTable(string: text))
                if case .table(let agent)? = root["agent"] { table = agent }
            } catch let error as TOMLParseError {
                throw ConfigurationError(file: path, key: nil, line: error.source.begin.line, message: "TOML syntax error: \(error.description)")
            }
        }
        var overrides = environment.filter { $0.key.hasPrefix("VIGIL_AGENT_") }
        // The command line wins over file and environment.
        func set(_ key: String, _ value: String?) {
            if let value { overrides["VIGIL_AGENT_\(key.uppercased())"] = value }
        }
        set("push", commandLine.push)
        set("token", commandLine.token)
        set("name", commandLine.name)
        set("interval", commandLine.interval)
        let section = ConfigSection(file: file, name: "agent", table: table, environment: overrides)
        return try read(section)
    }

    static func read(_ section: ConfigSection) throws -> HostAgentConfiguration {
        guard let push = try section.nonEmptyString("push") else {
            throw section.error("push", "is required (--push mqtt://broker:1883 or --push http://central:8080)")
        }
        guard let destination = HostAgentConfiguration.Destination(url: push) else {
            throw section.error("push", "'\(Redaction.urls(in: push))' is not an mqtt://, mqtts://, http:// or https:// URL")
        }
        var configuration = HostAgentConfiguration(destination: destination)
        configuration.token = try section.nonEmptyString("token")
        if case .http = destination, configuration.token == nil {
            throw section.error("token", "is required when pushing over HTTP (the central's [host_ingest] tokens)")
        }
        if let name = try section.nonEmptyString("name") {
            guard HostReportValidator.isValidHostName(name) else { throw section.error("name", "must be 1 to 64 of A-Z a-z 0-9 . _ -") }
            configuration.name = name
        } else if !HostReportValidator.isValidHostName(configuration.name) {
            throw section.error("name", "the machine's host name '\(configuration.name)' cannot be used: set a name")
        }
        if let interval = try section.duration("interval") {
            guard interval >= .milliseconds(100), interval <= .seconds(3600) else { throw section.error("interval", "must be between 100ms and 1h") }
            configuration.interval = interval
        }
        if let limit = try section.integer("buffer", in: 1...1_000_000) { configuration.bufferLimit = limit }
        if let limit = try section.integer("batch", in: 1...HostReportLimits.maxSamples) { configuration.batchLimit = limit }
        if let prefix = try section.string("topic_prefix") {
            if let problem = HostIngestConfiguration.topicPrefixProblem(prefix) { throw section.error("topic_prefix", problem) }
            configuration.topicPrefix = prefix
        }
        if let timeout = try section.duration("send_timeout") {
            guard timeout >= .milliseconds(100), timeout <= .seconds(300) else { throw section.error("send_timeout", "must be between 100ms and 5m") }
            configuration.sendTimeout = timeout
        }
        if let disks = try section.stringList("disks") { configuration.sampler.disks = disks }
        if let interfaces = try section.stringList("interfaces") { configuration.sampler.interfaces = interfaces }
        if let processes = try section.stringList("processes") {
            for process in processes where process.isEmpty || process.utf8.count > 15 || process.contains("/") {
                throw section.error("processes", "'\(process)' is not a process name (1 to 15 characters of /proc/<pid>/comm)")
            }
            configuration.sampler.processes = processes
        }
        if let root = try section.nonEmptyString("proc_root") { configuration.sampler.procRoot = root }
        for key in section.unusedKeys {
            throw section.error(key, "unknown key")
        }
        return configuration
    }
}
