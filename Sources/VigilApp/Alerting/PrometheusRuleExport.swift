//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import VigilCore

/// Prometheus alerting rules equivalent to Vigil's, over the metrics Vigil exports
/// (`vigil alerts export-prometheus`), for sites that prefer to alert in Prometheus.
///
/// Sample rules map directly: a sample `s` of kind `k` is the series `vigil_k_s{k="name"}`. Status
/// and attribute rules map through the metric that carries the same fact (a gateway's
/// `vigil_gateway_online`, a device's `vigil_device_up`, …). A rule with no metric equivalent (a
/// status rule on a kind without such a metric, an attribute other than the built-in ones) is
/// written as a comment saying so: Vigil alone can alert on it.
public enum PrometheusRuleExport {
    /// The rules file (YAML) for the rules in force.
    public static func yaml(_ rules: [AlertRule]) -> String {
        var lines = [
            "# Prometheus alerting rules equivalent to Vigil's alert rules, written by",
            "# `vigil alerts export-prometheus`. Check with: promtool check rules FILE",
            "groups:",
            "  - name: vigil",
            "    rules:",
        ]
        var skipped: [String] = []
        for rule in rules {
            guard let expression = expression(rule) else {
                skipped.append(rule.name)
                continue
            }
            lines.append("      - alert: \(rule.name)")
            lines.append("        expr: \(quoted(expression))")
            if rule.forSeconds > 0 { lines.append("        for: \(Int(rule.forSeconds.rounded(.up)))s") }
            lines.append("        labels:")
            lines.append("          severity: \(rule.severity.rawValue)")
            for (name, value) in rule.labels.sorted(by: { $0.key < $1.key }) { lines.append("          \(name): \(quoted(value))") }
            lines.append("        annotations:")
            lines.append("          summary: \(quoted(summary(rule)))")
        }
        for name in skipped {
            lines.append("# \(name): no metric carries its condition; only Vigil alerts on it.")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The PromQL expression of a rule, or nil when no metric carries its condition.
    static func expression(_ rule: AlertRule) -> String? {
        let kind = rule.kind
        let selector = targetSelector(rule, label: targetLabel(rule))
        switch rule.condition {
        case .threshold(let sample, let comparison, let bound):
            return "\(metric(sample, kind: kind))\(selector) \(comparison.promQLOperator) \(number(bound))"
        case .rate(let sample, let comparison, let bound):
            return "deriv(\(metric(sample, kind: kind))\(selector)[5m]) \(comparison.promQLOperator) \(number(bound))"
        case .absent(let sample):
            return "absent(\(metric(sample, kind: kind))\(selector))"
        case .stale(let seconds):
            guard let kind, [.gateway, .device, .agent].contains(kind) else { return nil }
            return "time() - vigil_\(kind.rawValue)_last_seen_seconds\(selector) > \(number(seconds))"
        case .status(let statuses):
            guard let kind, statuses.contains(.down) || statuses.contains(.error) else { return nil }
            switch kind {
            case .gateway: return "vigil_gateway_online\(selector) == 0"
            case .device: return "vigil_device_up\(selector) == 0"
            case .agent: return "vigil_agent_running\(selector) == 0"
            case .stream:
                if rule.matchAttributes[AttributeName.type.rawValue] == "instance" { return "vigil_mediamtx_up\(selector) == 0" }
                return "vigil_mediamtx_path_online\(selector) == 0 or camera_stream_status_up == 0"
            case .host: return nil
            }
        case .attribute(let path, let values):
            if kind == .device, path == [AttributeName.state.rawValue], values == ["expired"] {
                return "vigil_device_up\(selector) == 0"
            }
            if kind == .gateway, path == [AttributeName.failover.rawValue, AttributeName.state.rawValue] {
                let failed = targetSelector(rule, label: "failed_server")
                return #"label_replace(max by (failed_server) (galaxy_failover_active\#(failed)) == 1, "gateway", "$1", "failed_server", "(.*)")"#
            }
            return nil
        }
    }

    /// The label that names the target in the metrics the rule's expression reads.
    static func targetLabel(_ rule: AlertRule) -> String {
        guard let kind = rule.kind else { return "instance" }
        if kind == .stream, case .status = rule.condition {
            return rule.matchAttributes[AttributeName.type.rawValue] == "instance" ? "instance" : "path"
        }
        return kind.rawValue
    }

    /// `vigil_<kind>_<sample>`, or any kind's when the rule names none.
    static func metric(_ sample: String, kind: TargetKind?) -> String {
        guard let kind else { return #"{__name__=~"vigil_[a-z]+_\#(sample)"}"# }
        return "vigil_\(kind.rawValue)_\(sample)"
    }

    /// `{label=~"a|b.*"}` for the rule's target patterns, empty when it watches every target.
    static func targetSelector(_ rule: AlertRule, label: String) -> String {
        guard !rule.targets.isEmpty else { return "" }
        let alternatives = rule.targets.map { pattern in
            pattern.split(separator: "*", omittingEmptySubsequences: false).map { regexEscaped(String($0)) }.joined(separator: ".*")
        }
        return "{\(label)=~\"\(alternatives.joined(separator: "|"))\"}"
    }

    static func regexEscaped(_ text: String) -> String {
        var result = ""
        for character in text {
            if "\\.+?()[]{}|^$".contains(character) { result += "\\\\" }
            if character == "\"" { result += "\\" }
            result.append(character)
        }
        return result
    }

    /// The summary with Prometheus template references for Vigil's placeholders.
    static func summary(_ rule: AlertRule) -> String {
        let target = "{{ $labels.\(targetLabel(rule)) }}"
        var text = rule.summary
        for (placeholder, replacement) in [
            ("{{target}}", target), ("{{kind}}", rule.kind?.rawValue ?? "target"), ("{{value}}", "{{ $value }}"),
            ("{{series}}", ""), ("{{status}}", "down"), ("{{rule}}", rule.name),
        ] {
            text = text.replacing(placeholder, with: replacement)
        }
        return text
    }

    static func number(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// A YAML double-quoted scalar.
    static func quoted(_ text: String) -> String {
        "\"" + text.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }
}
