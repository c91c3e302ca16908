//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import VigilCore

extension VigilConfiguration {
    /// Reads `[alerting]`, its `[[alerting.webhook]]`, `[[alerting.silence]]` and
    /// `[[alerting.inhibit]]` tables, and the top-level `[[alert]]` rules.
    mutating func parseAlerting(root: [String: ConfigValue], file: String, section: (String) throws -> ConfigSection) throws {
        let alerting = try section("alerting")
        var result = AlertingConfiguration()
        if let enabled = try alerting.bool("enabled") { result.enabled = enabled }
        if let interval = try alerting.duration("interval", in: .seconds(1)...) { result.interval = interval }
        if let delay = try alerting.duration("startup_delay", in: .zero...) { result.startupDelay = delay }
        if let repeatInterval = try alerting.duration("repeat_interval", in: .seconds(10)...) { result.repeatInterval = repeatInterval }
        if let resend = try alerting.duration("alertmanager_resend", in: .seconds(1)...) { result.alertmanagerResend = resend }
        if let groupBy = try alerting.stringList("group_by") {
            for label in groupBy where !Self.isLabelName(label) { throw alerting.error("group_by", "'\(label)' is not a label name") }
            result.groupBy = groupBy
        }
        if let maxAlerts = try alerting.integer("max_alerts", in: 1...1_000_000) { result.maxAlerts = maxAlerts }
        result.externalURL = try alerting.nonEmptyString("external_url")
        for url in try alerting.stringList("alertmanager") ?? [] {
            guard Self.isHTTPURL(url) else { throw alerting.error("alertmanager", "'\(url)' is not an http:// or https:// URL") }
            result.alertmanager.append(url.hasSuffix("/") ? String(url.dropLast()) : url)
        }
        if let topic = try alerting.nonEmptyString("mqtt_topic") {
            guard !topic.contains("+"), !topic.contains("#"), !topic.hasSuffix("/") else {
                throw alerting.error("mqtt_topic", "'\(topic)' must be a topic prefix without wildcards or a trailing '/'")
            }
            result.mqttTopic = topic
        }
        if result.mqttTopic != nil, mqtt == nil { throw alerting.error("mqtt_topic", "needs an [mqtt] section (the broker alerts go to)") }
        result.xmppTo = try alerting.stringList("xmpp_to") ?? []
        if !result.xmppTo.isEmpty, announcer == nil {
            throw alerting.error("xmpp_to", "needs the Announcer configured ([component] or [client]): alerts are sent through its connections")
        }
        for jid in result.xmppTo where !jid.contains("@") || jid.contains("<") || jid.contains("'") || jid.contains("\"") || jid.contains("&") {
            throw alerting.error("xmpp_to", "'\(jid)' is not a bare JID such as ops@example.org")
        }
        for (index, table) in try alerting.tables("webhook").enumerated() {
            guard let url = try table.nonEmptyString("url") else { throw table.error("url", "is required") }
            guard Self.isHTTPURL(url) else { throw table.error("url", "'\(url)' is not an http:// or https:// URL") }
            var webhook = AlertingConfiguration.Webhook(name: try table.nonEmptyString("name") ?? "webhook-\(index + 1)", url: url)
            webhook.secret = try table.nonEmptyString("secret")
            if let timeout = try table.duration("timeout", in: .milliseconds(100)...) { webhook.timeout = timeout }
            if let retries = try table.integer("retries", in: 0...10) { webhook.retries = retries }
            try Self.refuseUnknownKeys(table)
            result.webhooks.append(webhook)
        }
        for (index, table) in try alerting.tables("silence").enumerated() {
            guard let matchers = try table.stringTable("matchers"), !matchers.isEmpty else { throw table.error("matchers", "is required") }
            let starts = try Self.time(table, "starts") ?? 0
            guard let ends = try Self.time(table, "ends") else { throw table.error("ends", "is required (a silence must end)") }
            guard ends > starts else { throw table.error("ends", "must be after starts") }
            result.silences.append(
                Silence(
                    id: "cfg-\(index + 1)",
                    matchers: matchers,
                    startsAt: starts,
                    endsAt: ends,
                    createdBy: "config",
                    comment: try table.string("comment") ?? ""
                )
            )
            try Self.refuseUnknownKeys(table)
        }
        for table in try alerting.tables("inhibit") {
            guard let source = try table.stringTable("source"), !source.isEmpty else { throw table.error("source", "is required") }
            guard let target = try table.stringTable("target"), !target.isEmpty else { throw table.error("target", "is required") }
            result.inhibitRules.append(InhibitRule(source: source, target: target, equal: try table.stringList("equal") ?? []))
            try Self.refuseUnknownKeys(table)
        }
        if try alerting.bool("builtin_inhibit") == false { result.inhibitRules.removeFirst(InhibitRule.builtIn.count) }

        // Rules: the built-in ones minus `disable`, replaced by configured rules of the same name.
        let disabled = Set(try alerting.stringList("disable") ?? [])
        for name in disabled where !AlertRule.builtIn.contains(where: { $0.name == name }) {
            throw alerting.error("disable", "'\(name)' is not a built-in rule (\(AlertRule.builtIn.map(\.name).joined(separator: ", ")))")
        }
        let top = ConfigSection(file: file, name: "", table: root, environment: [:])
        var configured: [AlertRule] = []
        for table in try top.tables("alert") {
            let rule = try Self.rule(table)
            guard !configured.contains(where: { $0.name == rule.name }) else { throw table.error("name", "'\(rule.name)' is defined twice") }
            configured.append(rule)
        }
        result.rules =
            AlertRule.builtIn.filter { rule in !disabled.contains(rule.name) && !configured.contains { $0.name == rule.name } } + configured
        self.alerting = result
    }

    /// One `[[alert]]` table.
    static func rule(_ table: ConfigSection) throws -> AlertRule {
        guard let name = try table.nonEmptyString("name") else { throw table.error("name", "is required") }
        guard isLabelValueWord(name) else { throw table.error("name", "'\(name)' must be letters, digits and '_'") }
        var kind: TargetKind?
        if let text = try table.string("kind") {
            guard let value = TargetKind(rawValue: text) else {
                throw table.error("kind", "'\(text)' is not one of \(TargetKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            kind = value
        }
        var conditions: [AlertCondition] = []
        if let statuses = try table.stringList("status") {
            var set = Set<TargetStatus>()
            for text in statuses {
                guard let status = TargetStatus(rawValue: text) else {
                    throw table.error("status", "'\(text)' is not one of \(TargetStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                set.insert(status)
            }
            guard !set.isEmpty else { throw table.error("status", "must name at least one status") }
            conditions.append(.status(set))
        }
        if let attribute = try table.nonEmptyString("attribute") {
            guard let values = try table.stringList("equals"), !values.isEmpty else { throw table.error("equals", "is required with 'attribute'") }
            conditions.append(.attribute(path: attribute.split(separator: ".").map(String.init), values: Set(values)))
        }
        if let sample = try table.nonEmptyString("sample") {
            let above = try table.double("above")
            let below = try table.double("below")
            guard (above == nil) != (below == nil) else { throw table.error("sample", "needs exactly one of 'above' and 'below'") }
            let comparison: AlertComparison = above != nil ? .above : .below
            let bound = above ?? below ?? 0
            if try table.bool("rate") == true {
                conditions.append(.rate(sample: sample, comparison: comparison, bound: bound))
            } else {
                conditions.append(.threshold(sample: sample, comparison: comparison, bound: bound))
            }
        }
        if let stale = try table.duration("stale", in: .seconds(1)...) { conditions.append(.stale(seconds: stale.seconds)) }
        if let sample = try table.nonEmptyString("absent") { conditions.append(.absent(sample: sample)) }
        guard conditions.count == 1, let condition = conditions.first else {
            throw table.error("name", "rule '\(name)' needs exactly one condition: status, attribute + equals, sample + above/below, stale or absent")
        }
        var severity = Event.Severity.warning
        if let text = try table.string("severity") {
            guard let value = Event.Severity(rawValue: text) else { throw table.error("severity", "'\(text)' is not one of info, warning, critical") }
            severity = value
        }
        let labels = try table.stringTable("labels") ?? [:]
        for key in labels.keys where !isLabelName(key) || ["alertname", "severity"].contains(key) {
            throw table.error("labels", "'\(key)' cannot be a rule label")
        }
        let rule = AlertRule(
            name: name,
            kind: kind,
            targets: try table.stringList("targets") ?? [],
            matchAttributes: try table.stringTable("match") ?? [:],
            excludeAttributes: try table.stringTable("exclude") ?? [:],
            condition: condition,
            forSeconds: try table.duration("for", in: .zero...)?.seconds ?? 0,
            severity: severity,
            summary: try table.string("summary") ?? "",
            labels: labels
        )
        try refuseUnknownKeys(table)
        return rule
    }

    /// A rule with a typo must not pass as a rule that never fires.
    static func refuseUnknownKeys(_ table: ConfigSection) throws {
        if let key = table.unusedKeys.first { throw table.error(key, "unknown key") }
    }

    /// A time: a TOML date-time or an RFC 3339 string.
    static func time(_ table: ConfigSection, _ key: String) throws -> Double? {
        guard table.contains(key) else { return nil }
        let text: String
        if case .other(let raw)? = table.table[key] {
            text = raw
            _ = try? table.string(key)
        } else {
            guard let value = try table.string(key) else { return nil }
            text = value
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        let trimmed = text.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
        guard let date = formatter.date(from: trimmed) ?? formatter.date(from: trimmed.replacingOccurrences(of: " ", with: "T")) else {
            throw table.error(key, "'\(text)' is not an RFC 3339 time such as 2027-01-31T18:00:00Z")
        }
        return date.timeIntervalSince1970
    }

    static func isLabelName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return isLabelValueWord(name)
    }

    static func isLabelValueWord(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy {
                $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)
            }
    }

    static func isHTTPURL(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), url.host?.isEmpty == false else { return false }
        return scheme == "http" || scheme == "https"
    }
}
