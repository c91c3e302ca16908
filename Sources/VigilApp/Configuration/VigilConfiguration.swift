//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Foundation
import Logging
import TOMLKit
public import VigilAnnouncer
public import VigilMQTT
public import VigilMonitors
import VigilRedis
public import VigilStorage
public import VigilWeb

/// The whole configuration of one Vigil process, read once at start-up.
///
/// Every section is optional; a missing section keeps that subsystem's defaults (or leaves it
/// off). See `docs/CONFIGURATION.md` for every key.
public struct VigilConfiguration: Sendable {
    /// `[log]`.
    public var log = LogConfiguration()
    /// `[http]`.
    public var http = WebConfiguration()
    /// `[store]`.
    public var store = StoreConfiguration()
    /// `[host]`.
    public var host = HostMonitorConfiguration()
    /// `[mqtt]`: the shared MQTT client, when the section is present (see VigilConfiguration+Devices.swift).
    public var mqtt: MQTTClientConfiguration?
    /// `[host_ingest]`: remote hosts pushing with `vigil agent`.
    public var hostIngest = HostIngestConfiguration()
    /// iotmonitor's `[device_*]`, `[agent_*]` and Vigil's `[watchdog]`.
    public var devices = DevicesConfiguration()
    /// `[janus]`: the Janus gateway monitor (seed 000), with the seed's environment variables.
    public var janus = GatewayMonitorConfiguration()
    /// `[visionaire]`: the seed-004 camera poller and exporter (see VigilConfiguration+Streams.swift).
    public var visionaire = VisionaireConfiguration()
    /// `[mediamtx]`: the MediaMTX poller (see VigilConfiguration+Streams.swift).
    public var mediamtx = MediaMTXConfiguration()
    /// The Announcer (seed 001: top-level keys, `[component]`/`[client]`, `[ejabberd]`, …), when
    /// configured (see VigilConfiguration+Announcer.swift).
    public var announcer: AnnouncerConfiguration?
    /// `[alerting]` and the `[[alert]]` rules (see VigilConfiguration+Alerting.swift).
    public var alerting = AlertingConfiguration()
    /// Where the configuration came from (`<defaults>` or a path).
    public var source = "<defaults>"
    /// Things worth telling the operator that do not stop Vigil: unknown sections and keys.
    public var warnings: [String] = []

    /// The built-in defaults.
    public init() {}

    /// Sections Vigil reads (or recognises from the seeds' formats).
    static let knownSections: Set<String> = [
        "mqtt", "watchdog", "log", "http", "store", "host", "janus", "visionaire", "mediamtx", "alerting", "host_ingest", "agent",
    ]
    /// Sections from the seeds' formats that later versions implement; accepted with a warning.
    static let plannedSections: Set<String> = ["alerts", "redis"]

    /// Loads a configuration file, applying environment overrides.
    ///
    /// - Parameters:
    ///   - path: The TOML file.
    ///   - environment: The process environment (overrides and the seeds' variables).
    /// - Throws: ``ConfigurationError`` naming file, key and problem.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> VigilConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(file: path, key: nil, message: "cannot read the file: \(error.localizedDescription)")
        }
        return try parse(text, file: path, environment: environment)
    }

    /// The built-in defaults with environment overrides applied (no file).
    public static func defaults(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> VigilConfiguration {
        try parse("", file: "<defaults>", environment: environment)
    }

    /// Parses TOML text.
    public static func parse(_ text: String, file: String, environment: [String: String] = [:]) throws -> VigilConfiguration {
        let root: [String: ConfigValue]
        if let problem = TOMLPrecheck.firstProblem(in: text) {
            throw ConfigurationError(file: file, key: nil, line: problem.line, message: "TOML syntax error: \(problem.message)")
        }
        do {
            root = ConfigValue.table(from: try TOMLTable(string: text))
        } catch let error as TOMLParseError {
            throw ConfigurationError(file: file, key: nil, line: error.source.begin.line, message: "TOML syntax error: \(error.description)")
        }
        var configuration = VigilConfiguration()
        configuration.source = file
        var sections: [ConfigSection] = []
        // The section readers see only Vigil's override variables (the seeds' own are read below).
        let overrides = environment.filter { $0.key.hasPrefix("VIGIL_") }
        func section(_ name: String) throws -> ConfigSection {
            let table: [String: ConfigValue]
            switch root[name] {
            case .table(let value): table = value
            case nil: table = [:]
            case .some(let value):
                throw ConfigurationError(file: file, key: name, message: "expected a table ([\(name)]), got \(value.typeName)")
            }
            let reader = ConfigSection(file: file, name: name, table: table, environment: overrides)
            sections.append(reader)
            return reader
        }

        configuration.log = try LogConfiguration(section("log"))
        configuration.http = try WebConfiguration(section("http"))
        configuration.store = try StoreConfiguration(section("store"))
        configuration.host = try HostMonitorConfiguration(section("host"))
        configuration.hostIngest = try HostIngestConfiguration(section("host_ingest"))
        try configuration.parseDevices(root: root, file: file, section: section)
        configuration.janus = try GatewayMonitorConfiguration(section("janus"), environment: environment)
        configuration.visionaire = try VisionaireConfiguration(section("visionaire"))
        configuration.mediamtx = try MediaMTXConfiguration(section("mediamtx"))
        try configuration.parseAnnouncer(root: root, file: file, environment: environment, section: section)
        try configuration.parseAlerting(root: root, file: file, section: section)
        try configuration.resolveListeners(file: file)

        for reader in sections {
            configuration.warnings.append(contentsOf: reader.deprecations)
            for key in reader.unusedKeys where !(reader.name == "http" && ["address", "port"].contains(key)) {
                configuration.warnings.append("\(file): unknown key '\(reader.path(key))' (ignored)")
            }
        }
        for (key, value) in root.sorted(by: { $0.key < $1.key }) {
            if case .table = value {
                if knownSections.contains(key) || announcerSections.contains(key) || isDeviceSection(key) { continue }
                if plannedSections.contains(key) || key.hasPrefix("device_") || key.hasPrefix("agent_") {
                    configuration.warnings.append("\(file): section [\(key)] is recognised but not handled by this version yet (ignored)")
                } else {
                    configuration.warnings.append("\(file): unknown section [\(key)] (ignored)")
                }
            } else if announcerTopLevelKeys.contains(key) || key == "alert" {
                continue
            } else {
                configuration.warnings.append("\(file): unknown top-level key '\(key)' (ignored)")
            }
        }
        return configuration
    }
}

// MARK: - Sections

extension LogConfiguration {
    init(_ section: ConfigSection) throws {
        self.init()
        if let text = try section.string("log_level") {
            let levels: [String: Logger.Level] = [
                "trace": .trace, "debug": .debug, "info": .info, "notice": .notice, "warning": .warning, "warn": .warning,
                "error": .error, "critical": .critical,
            ]
            guard let level = levels[text.lowercased()] else {
                throw section.error("log_level", "'\(text)' is not one of trace, debug, info, warning, error")
            }
            self.level = level
        }
        if let format = try section.choice("format", as: Format.self) { self.format = format }
        self.destination = try section.nonEmptyString("log_dst")
    }
}

extension WebConfiguration {
    init(_ section: ConfigSection) throws {
        self.init()
        if let listen = try section.string("listen") {
            guard let (host, port) = WebConfiguration.parseListen(listen) else {
                throw section.error("listen", "'\(listen)' is not host:port (for example 127.0.0.1:8080)")
            }
            self.host = host
            self.port = port
        }
        // The iotmonitor [http] section uses address/port.
        if let address = try section.string("address") { self.host = address }
        if let port = try section.integer("port", in: 0...65535) { self.port = port }
        self.token = try section.nonEmptyString("token")
        if let path = try section.string("chartjs_path") { self.chartJSPath = path }
        if let timeout = try section.duration("idle_timeout") {
            guard timeout >= .seconds(1), timeout <= .seconds(86_400) else { throw section.error("idle_timeout", "must be between 1s and 24h") }
            idleTimeout = timeout
        }
        try live.read(section)
    }
}

extension LiveConfiguration {
    /// Reads the `live_*` keys of `[http]`.
    mutating func read(_ section: ConfigSection) throws {
        if let interval = try section.duration("live_sample_interval") {
            guard interval >= .zero else { throw section.error("live_sample_interval", "must not be negative") }
            sampleInterval = interval
        }
        if let interval = try section.duration("live_heartbeat_interval") {
            guard interval >= .seconds(1) else { throw section.error("live_heartbeat_interval", "must be at least 1s") }
            heartbeatInterval = interval
        }
        if let interval = try section.duration("live_ping_interval") {
            guard interval >= .seconds(1) else { throw section.error("live_ping_interval", "must be at least 1s") }
            pingInterval = interval
        }
        if let timeout = try section.duration("live_write_timeout") {
            guard timeout >= .seconds(1) else { throw section.error("live_write_timeout", "must be at least 1s") }
            writeTimeout = timeout
        }
        if let count = try section.integer("live_max_pending_events", in: 1...1_000_000) { maxPendingEvents = count }
        if let count = try section.integer("live_snapshot_events", in: 0...10_000) { snapshotEvents = count }
        if let count = try section.integer("live_max_clients", in: 1...100_000) { maxClients = count }
        if let bytes = try section.integer("live_max_queued_bytes", in: 4_096...(1 << 30)) { maxQueuedBytes = bytes }
        if let rate = try section.integer("live_max_requests_per_second", in: 1...10_000) { maxRequestsPerSecond = rate }
    }
}

extension StoreConfiguration {
    init(_ section: ConfigSection) throws {
        self.init()
        if let backend = try section.choice("backend", as: Backend.self) { self.backend = backend }
        if let path = try section.string("path") {
            guard !path.isEmpty else { throw section.error("path", "must not be empty") }
            self.path = path
        }
        if let retention = try section.duration("retention") {
            guard retention > .zero else { throw section.error("retention", "must be greater than zero") }
            self.retention = retention
        }
        if let interval = try section.duration("prune_interval") {
            guard interval >= .seconds(1) else { throw section.error("prune_interval", "must be at least 1s") }
            self.pruneInterval = interval
        }
        try parseRedis(section)
    }

    /// The keys of `backend = "redis"`; given with another backend they are an error (they would
    /// silently do nothing).
    private mutating func parseRedis(_ section: ConfigSection) throws {
        let keys = [
            "url", "cluster_nodes", "username", "password", "key_prefix", "max_events", "max_points_per_series", "instance",
            "connect_timeout", "command_timeout", "max_retries",
        ]
        guard backend == .redis else {
            if let key = keys.first(where: section.contains) { throw section.error(key, "is only used with backend = \"redis\"") }
            return
        }
        let url = try section.nonEmptyString("url")
        let nodes = try section.stringList("cluster_nodes")
        let username = try section.nonEmptyString("username")
        let password = try section.string("password")
        switch (url, nodes) {
        case (let url?, nil):
            if username != nil || password != nil {
                throw section.error(username != nil ? "username" : "password", "goes into the url (redis://user:password@host:port)")
            }
            do {
                _ = try RedisConfiguration(url: url)
            } catch {
                // The error quotes the URL with its password masked.
                throw section.error("url", "\(error)")
            }
            redis = .url(url)
        case (nil, let nodes?):
            guard !nodes.isEmpty else { throw section.error("cluster_nodes", "must name at least one host:port") }
            for node in nodes where StoreFactory.node(node) == nil {
                throw section.error("cluster_nodes", "'\(node)' is not host:port")
            }
            redis = .cluster(nodes: nodes, username: username, password: password.flatMap { $0.isEmpty ? nil : $0 })
        case (.some, .some): throw section.error("cluster_nodes", "give either url or cluster_nodes, not both")
        case (nil, nil): throw section.error("url", "backend = \"redis\" needs url or cluster_nodes")
        }
        if let prefix = try section.string("key_prefix") {
            if let problem = RedisStoreKeys.validate(prefix: prefix) { throw section.error("key_prefix", problem) }
            keyPrefix = prefix
        }
        if let count = try section.integer("max_events", in: 100...100_000_000) { maxEvents = count }
        if let count = try section.integer("max_points_per_series", in: 1_000...1_000_000_000) { maxPointsPerSeries = count }
        func timeout(_ key: String) throws -> Duration? {
            guard let value = try section.duration(key) else { return nil }
            guard value >= .milliseconds(100), value <= .seconds(600) else { throw section.error(key, "must be between 100ms and 600s") }
            return value
        }
        if let value = try timeout("connect_timeout") { redisConnectTimeout = value }
        if let value = try timeout("command_timeout") { redisCommandTimeout = value }
        if let retries = try section.integer("max_retries", in: 0...100) { redisMaxRetries = retries }
        if let name = try section.string("instance") {
            guard (1...64).contains(name.utf8.count), name.utf8.allSatisfy(Self.isInstanceNameByte) else {
                throw section.error("instance", "must be 1 to 64 letters, digits, '.', '_' or '-'")
            }
            instance = name
        }
    }

    /// Instance names go into MQTT client ids and Redis keys: a conservative alphabet.
    private static func isInstanceNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default: false
        }
    }
}

extension HostMonitorConfiguration {
    init(_ section: ConfigSection) throws {
        self.init()
        if let enabled = try section.bool("enabled") { self.enabled = enabled }
        if let interval = try section.duration("interval") {
            guard interval >= .milliseconds(100) else { throw section.error("interval", "must be at least 100ms") }
            self.interval = interval
        }
        if let name = try section.nonEmptyString("name") { self.name = name }
        if let disks = try section.stringList("disks") { self.disks = disks }
        if let interfaces = try section.stringList("interfaces") { self.interfaces = interfaces }
        if let processes = try section.stringList("processes") {
            for process in processes where process.isEmpty || process.utf8.count > 15 || process.contains("/") {
                throw section.error("processes", "'\(process)' is not a process name (1 to 15 characters of /proc/<pid>/comm)")
            }
            self.processes = processes
        }
        if let root = try section.string("proc_root") { self.procRoot = root }
    }
}
