//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import VigilCore

/// Reads typed values out of one TOML table, with environment overrides and precise errors.
///
/// Every read records its key, so that ``unusedKeys`` can name the keys nobody asked for (reported
/// as warnings: a typo in a key must not pass silently). An environment variable
/// `VIGIL_<SECTION>_<KEY>` (upper case, `-` and `.` as `_`) overrides the file's value; for the
/// top-level table the variable is `VIGIL_<KEY>`.
public final class ConfigSection {
    /// The file being read.
    public let file: String
    /// The section name (`http`, `device_esp04`), empty for the top level.
    public let name: String
    /// The raw table.
    public let table: [String: ConfigValue]
    private let environment: [String: String]
    private var readKeys: Set<String> = []

    /// Creates a reader over a table.
    public init(file: String, name: String, table: [String: ConfigValue], environment: [String: String]) {
        self.file = file
        self.name = name
        self.table = table
        // Only variables that can override this section are kept. Without any, no key's variable
        // name is ever built: a fleet file has 100,000 device sections of several keys each.
        let prefix = name.isEmpty ? "VIGIL_" : "VIGIL_" + String(name.uppercased().map { $0 == "-" || $0 == "." ? "_" : $0 }) + "_"
        self.environment = environment.filter { $0.key.hasPrefix(prefix) }
    }

    /// Keys present in the file that no reader asked for, sorted.
    public var unusedKeys: [String] { table.keys.filter { !readKeys.contains($0) }.sorted() }

    /// The dotted key path used in messages.
    public func path(_ key: String) -> String { name.isEmpty ? key : "\(name).\(key)" }

    /// The environment variable that overrides a key.
    public func environmentName(_ key: String) -> String {
        let raw = name.isEmpty ? "VIGIL_\(key)" : "VIGIL_\(name)_\(key)"
        return String(raw.uppercased().map { $0 == "-" || $0 == "." ? "_" : $0 })
    }

    /// Whether the file or environment sets a key.
    public func contains(_ key: String) -> Bool {
        if table[key] != nil || !environment.isEmpty && environment[environmentName(key)] != nil { return true }
        guard let former = Self.formerSpellings[key] else { return false }
        return table[former] != nil || !environment.isEmpty && environment[environmentName(former)] != nil
    }

    func error(_ key: String, _ message: String) -> ConfigurationError {
        ConfigurationError(file: file, key: path(key), message: message)
    }

    /// Former spellings of Vigil's own keys, by today's key: camelCase from before the rule that
    /// Vigil's keys are snake_case (docs/ARCHITECTURE.md, "Naming rules"). A former spelling still
    /// works, with a deprecation warning. Keys a seed defines are not here: they keep their spelling.
    static let formerSpellings: [String: String] = [
        "keep_alive": "keepAlive", "ca_file": "caFile", "log_file": "logFile", "max_restarts": "maxRestarts",
        "restart_window": "restartWindow", "restart_backoff": "restartBackoff", "restart_backoff_max": "restartBackoffMax",
        "restart_on_silence": "restartOnSilence", "stop_timeout": "stopTimeout", "pass_environment": "passEnvironment",
    ]

    /// One warning per former spelling that was read, for the caller to report.
    public private(set) var deprecations: [String] = []

    private func raw(_ key: String) -> (value: ConfigValue, fromEnvironment: Bool)? {
        readKeys.insert(key)
        let former = Self.formerSpellings[key]
        if let former { readKeys.insert(former) }
        if !environment.isEmpty, let text = environment[environmentName(key)] { return (.string(text), true) }
        if let value = table[key] {
            if let former, table[former] != nil {
                deprecations.append("\(file): '\(path(former))' is ignored: '\(path(key))' is set too")
            }
            return (value, false)
        }
        guard let former else { return nil }
        if !environment.isEmpty, let text = environment[environmentName(former)] {
            deprecations.append("<environment>: \(environmentName(former)) is deprecated; set \(environmentName(key)) instead")
            return (.string(text), true)
        }
        guard let value = table[former] else { return nil }
        deprecations.append("\(file): '\(path(former))' is deprecated; write '\(path(key))' (the old spelling still works)")
        return (value, false)
    }

    /// Reads a string.
    public func string(_ key: String) throws -> String? {
        guard let (value, _) = raw(key) else { return nil }
        guard case .string(let text) = value else { throw error(key, "expected a string, got \(value.typeName)") }
        return text
    }

    /// Reads a non-empty string, treating `""` as absent (iotmonitor writes `user=""`).
    public func nonEmptyString(_ key: String) throws -> String? {
        try string(key).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Reads an integer; a string holding an integer is accepted (environment values are strings).
    public func integer(_ key: String, in range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let (value, _) = raw(key) else { return nil }
        let number: Int
        switch value {
        case .integer(let value): number = value
        case .string(let text):
            guard let value = Int(text.trimmingWhitespace()) else { throw error(key, "expected an integer, got '\(text)'") }
            number = value
        default: throw error(key, "expected an integer, got \(value.typeName)")
        }
        if let range, !range.contains(number) {
            throw error(key, "\(number) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    /// Reads a finite number (integer or float), optionally within a range.
    public func double(_ key: String, in range: ClosedRange<Double>? = nil) throws -> Double? {
        guard let (value, _) = raw(key) else { return nil }
        let number: Double
        switch value {
        case .integer(let value): number = Double(value)
        case .float(let value): number = value
        case .string(let text):
            guard let value = Double(text.trimmingWhitespace()) else { throw error(key, "expected a number, got '\(text)'") }
            number = value
        default: throw error(key, "expected a number, got \(value.typeName)")
        }
        guard number.isFinite else { throw error(key, "expected a finite number, got \(number)") }
        if let range, !range.contains(number) {
            throw error(key, "\(number) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    /// Reads a boolean; in the environment `true/false/1/0/yes/no`.
    public func bool(_ key: String) throws -> Bool? {
        guard let (value, _) = raw(key) else { return nil }
        switch value {
        case .boolean(let value): return value
        case .string(let text):
            switch text.lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: throw error(key, "expected a boolean, got '\(text)'")
            }
        default: throw error(key, "expected a boolean, got \(value.typeName)")
        }
    }

    /// Reads a duration: a string such as `5s` or `1m30s`, or a plain number of `unit`s (seconds
    /// unless a seed's format says otherwise).
    ///
    /// Every duration is range-checked before conversion: negative, not finite or longer than
    /// ``DurationParser/maximum`` (36500d) is an error, as is one outside `range`.
    public func duration(_ key: String, unit: Duration = .seconds(1), in range: PartialRangeFrom<Duration>? = nil) throws -> Duration? {
        guard let (value, _) = raw(key) else { return nil }
        let duration: Duration
        do {
            switch value {
            case .integer(let count) where count < 0: throw error(key, "must not be negative, got \(count)")
            case .float(let count) where count < 0: throw error(key, "must not be negative, got \(count)")
            case .integer(let count): duration = try DurationParser.duration(seconds: Double(count) * unit.seconds, text: "\(count)")
            case .float(let count): duration = try DurationParser.duration(seconds: count * unit.seconds, text: "\(count)")
            case .string(let text): duration = try DurationParser.parse(text)
            default: throw error(key, "expected a duration such as \"5s\", got \(value.typeName)")
            }
        } catch let failure as DurationParser.ParseError {
            throw error(key, failure.description)
        }
        if let range, !range.contains(duration) {
            throw error(key, range.lowerBound > .zero ? "must be at least \(Self.describe(range.lowerBound))" : "must not be negative")
        }
        return duration
    }

    /// A duration as an operator writes it (`100ms`, `1s`, `1.5s`).
    static func describe(_ duration: Duration) -> String {
        let milliseconds = duration.seconds * 1000
        if milliseconds < 1000 { return "\(Int(milliseconds.rounded()))ms" }
        let seconds = duration.seconds
        return seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(seconds)s"
    }

    /// Reads a list of strings: a TOML array of strings, or one comma-separated string
    /// (iotmonitor's `watchTopics="a/#,b/#"`).
    public func stringList(_ key: String) throws -> [String]? {
        guard let (value, _) = raw(key) else { return nil }
        switch value {
        case .string(let text):
            return text.split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
        case .array(let items):
            return try items.map { item in
                guard case .string(let text) = item else { throw error(key, "expected an array of strings, found \(item.typeName)") }
                return text
            }
        default: throw error(key, "expected a string or an array of strings, got \(value.typeName)")
        }
    }

    /// Reads `NAME = value` pairs: a TOML table of strings (`{ MQTT_HOST = "broker" }`), or an
    /// array of `NAME=value` strings, or one comma-separated string of them (the environment's form).
    public func stringTable(_ key: String) throws -> [String: String]? {
        guard let (value, _) = raw(key) else { return nil }
        var pairs: [(String, String)] = []
        switch value {
        case .table(let table):
            for (name, item) in table {
                guard case .string(let text) = item else { throw error(key, "'\(name)' must be a string, got \(item.typeName)") }
                pairs.append((name, text))
            }
        case .string, .array:
            for entry in try stringList(key) ?? [] {
                guard let equals = entry.firstIndex(of: "=") else { throw error(key, "'\(entry)' is not NAME=value") }
                pairs.append((String(entry[..<equals]).trimmingWhitespace(), String(entry[entry.index(after: equals)...])))
            }
        default: throw error(key, "expected a table of strings or a list of NAME=value, got \(value.typeName)")
        }
        return Dictionary(pairs, uniquingKeysWith: { _, last in last })
    }

    /// Reads one of a fixed set of words.
    public func choice<T: RawRepresentable & CaseIterable>(_ key: String, as type: T.Type) throws -> T? where T.RawValue == String {
        guard let text = try string(key) else { return nil }
        guard let value = T(rawValue: text.lowercased()) else {
            throw error(key, "'\(text)' is not one of \(T.allCases.map { $0.rawValue }.joined(separator: ", "))")
        }
        return value
    }

    /// Reads an array of tables (`[[mediamtx.instances]]`-style entries).
    public func tables(_ key: String) throws -> [ConfigSection] {
        guard let (value, _) = raw(key) else { return [] }
        guard case .array(let items) = value else { throw error(key, "expected an array of tables, got \(value.typeName)") }
        return try items.enumerated().map { index, item in
            guard case .table(let table) = item else { throw error(key, "expected an array of tables, found \(item.typeName)") }
            return ConfigSection(file: file, name: "\(path(key))[\(index)]", table: table, environment: [:])
        }
    }
}
