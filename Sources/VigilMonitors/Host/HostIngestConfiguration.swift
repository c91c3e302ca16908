//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Settings of the central side of `vigil agent`: remote hosts pushing their samples.
///
/// TOML section `[host_ingest]` (docs/CONFIGURATION.md):
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `enabled` | bool | `false` | accept agents (over `[mqtt]` when configured, and over HTTP) |
/// | `topic_prefix` | string | `"vigil/agents"` | agents publish to `<prefix>/<host>/metrics` and `<prefix>/<host>/status` |
/// | `tokens` | list of strings | none | bearer tokens accepted by `POST /api/v1/ingest/host` (none: HTTP ingest refuses every request) |
/// | `stale_after` | duration | `"30s"` | a remote host without a report for this long is marked `stale` |
/// | `max_hosts` | int | `256` | remote hosts accepted; reports of further hosts are refused and counted |
public struct HostIngestConfiguration: Sendable, Hashable {
    /// Whether agents are accepted.
    public var enabled: Bool
    /// The MQTT topic prefix.
    public var topicPrefix: String
    /// The bearer tokens of the HTTP route.
    public var tokens: [String]
    /// Silence after which a remote host is stale.
    public var staleAfter: Duration
    /// The most remote hosts tracked.
    public var maxHosts: Int

    /// Creates a configuration with the defaults listed above.
    public init(
        enabled: Bool = false,
        topicPrefix: String = "vigil/agents",
        tokens: [String] = [],
        staleAfter: Duration = .seconds(30),
        maxHosts: Int = 256
    ) {
        self.enabled = enabled
        self.topicPrefix = topicPrefix
        self.tokens = tokens
        self.staleAfter = staleAfter
        self.maxHosts = maxHosts
    }

    /// Why a topic prefix cannot be used, or `nil`: it must be non-empty, without wildcards, and
    /// without a leading or trailing `/`.
    public static func topicPrefixProblem(_ prefix: String) -> String? {
        if prefix.isEmpty || prefix.utf8.count > 200 { return "must be 1 to 200 bytes" }
        if prefix.contains("+") || prefix.contains("#") { return "must not contain the wildcards + or #" }
        if prefix.hasPrefix("/") || prefix.hasSuffix("/") { return "must not start or end with /" }
        return nil
    }
}
