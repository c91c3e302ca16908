//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Settings of the Janus gateway monitor (seed 000).
///
/// TOML section `[janus]`; the seed's environment variables (in parentheses) override it:
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `broker_url` (`MQTT_BROKER_URL`) | string | none | MQTT broker (`tcp://`, `mqtt://`, `ssl://`, `mqtts://`); none: no MQTT |
/// | `client_id` (`MQTT_CLIENT_ID`) | string | `"vigil-gateways"` | MQTT client identifier |
/// | `username`, `password` | string | none | MQTT credentials (also accepted inside the URL) |
/// | `mqtt_version` | `"3.1.1"` or `"5"` | `"5"` | MQTT protocol version |
/// | `admin_key` (`GATEWAY_PLUGIN_ADMIN_KEY`) | string | none | Janus `admin_secret` sent with `list_sessions` |
/// | `available_servers` (`AVAILABLE_JANUS_SERVERS`) | list | `[]` | primary servers |
/// | `failover_servers` (`FAILOVER_JANUS_SERVERS`) | list | `[]` | spares, used first to last |
/// | `failover_wait_time` (`FAILOVER_WAIT_TIME`) | duration | `"5s"` | how long a primary may be offline before it fails over |
/// | `skip_offline_spares` | bool | `true` | pass over spares known to be offline (`false`: always the head of the pool, as the original) |
/// | `poll_interval` | duration | `"10s"` | time between `list_sessions` rounds over MQTT |
/// | `request_timeout` | duration | `"5s"` | how long an admin request may stay unanswered |
/// | `online_retry_delay` | duration | `"500ms"` | when a gateway comes online, retry its first request once after this if unanswered |
/// | `stale_threshold` | duration | `"30s"` | silence after which an online gateway is stale |
/// | `status_topic` | string | `"janus/{server}/status"` | status topic template |
/// | `admin_request_topic` | string | `"janus/{server}/to-janus-admin"` | admin request topic template |
/// | `admin_response_topic` | string | `"janus/{server}/from-janus-admin"` | admin reply topic template |
/// | `failover_topic` | string | `"vigil/failover/{failed}"` | retained failover mapping; `""` disables publishing |
/// | `admin_urls` | list of `name=url` | `[]` | HTTP admin API base URLs, used only without `broker_url` |
/// | `http_poll_interval` | duration | `"1s"` | time between HTTP admin rounds |
/// | `http_deadline` | duration | `"900ms"` | one deadline for a whole HTTP round |
/// | `max_discovered` (`VIGIL_JANUS_MAX_DISCOVERED`) | integer | `64` | unconfigured servers shown as `discovered` at most; `0` shows none |
/// | `discovered_expiry` (`VIGIL_JANUS_DISCOVERED_EXPIRY`) | duration | `"10m"` | silence after which a discovered server is forgotten |
/// | `inbox_capacity` (`VIGIL_JANUS_INBOX_CAPACITY`) | integer | `1024` | messages waiting for the monitor loop, beyond configured servers' statuses |
/// | `gxydb_metrics_alias` | bool | `false` | also export sessions as `gxydb_gateway_sessions`, the name gxydb-api's setup guide checks |
/// | `gxydb_metrics_listen` | `host:port` | none | an extra listener with only the `galaxy_*` (and alias) series on `/metrics`, as gxydb-api's `:8081` |
public struct GatewayMonitorConfiguration: Sendable, Hashable {
    /// The MQTT broker URL; `nil` disables the MQTT monitor.
    public var brokerURL: String?
    /// The MQTT client identifier.
    public var clientID: String
    /// The MQTT user name.
    public var username: String?
    /// The MQTT password.
    public var password: String?
    /// Whether to speak MQTT 5 (otherwise 3.1.1).
    public var useMQTT5: Bool
    /// The Janus admin secret, or `nil` to send none.
    public var adminKey: String?
    /// Primary servers, in configuration order.
    public var availableServers: [String]
    /// Failover servers, in the order they are used.
    public var failoverServers: [String]
    /// How long a primary may be offline before it fails over.
    public var failoverWaitTime: Duration
    /// Whether spares known to be offline are passed over.
    public var skipOfflineSpares: Bool
    /// Time between `list_sessions` rounds over MQTT.
    public var pollInterval: Duration
    /// How long an admin request may stay unanswered.
    public var requestTimeout: Duration
    /// Delay after which the first request to a gateway that just came online is sent again when
    /// unanswered (Janus subscribes to its admin topic only after announcing itself).
    public var onlineRetryDelay: Duration
    /// Silence after which an online gateway is stale.
    public var staleThreshold: Duration
    /// Status topic template with `{server}`.
    public var statusTopic: String
    /// Admin request topic template with `{server}`.
    public var adminRequestTopic: String
    /// Admin reply topic template with `{server}`.
    public var adminResponseTopic: String
    /// Failover mapping topic template with `{failed}`; empty disables publishing.
    public var failoverTopic: String
    /// HTTP admin API base URLs by server name (`POST {url}/admin`).
    public var adminURLs: [String: String]
    /// Time between HTTP admin rounds.
    public var httpPollInterval: Duration
    /// The deadline of one HTTP admin round.
    public var httpDeadline: Duration
    /// How many unconfigured servers are shown as `discovered` at most; statuses of further ones
    /// are refused and counted.
    public var maxDiscovered: Int
    /// Silence after which a discovered server is forgotten (state, row and series removed).
    public var discoveredExpiry: Duration
    /// How many messages may wait for the monitor loop, not counting the latest status of each
    /// configured server (statuses are coalesced per server; refusals are counted).
    public var inboxCapacity: Int
    /// Also export `galaxy_gateways_sessions` as `gxydb_gateway_sessions` (migration from gxydb-api).
    public var gxydbMetricsAlias: Bool
    /// Where an extra `/metrics` listener with only the seed's series binds (`"127.0.0.1:8081"`).
    public var gxydbMetricsListen: String?

    /// Creates a configuration with the defaults listed above.
    public init(
        brokerURL: String? = nil,
        clientID: String = "vigil-gateways",
        username: String? = nil,
        password: String? = nil,
        useMQTT5: Bool = true,
        adminKey: String? = nil,
        availableServers: [String] = [],
        failoverServers: [String] = [],
        failoverWaitTime: Duration = .seconds(5),
        skipOfflineSpares: Bool = true,
        pollInterval: Duration = .seconds(10),
        requestTimeout: Duration = .seconds(5),
        onlineRetryDelay: Duration = .milliseconds(500),
        staleThreshold: Duration = .seconds(30),
        statusTopic: String = "janus/{server}/status",
        adminRequestTopic: String = "janus/{server}/to-janus-admin",
        adminResponseTopic: String = "janus/{server}/from-janus-admin",
        failoverTopic: String = "vigil/failover/{failed}",
        adminURLs: [String: String] = [:],
        httpPollInterval: Duration = .seconds(1),
        httpDeadline: Duration = .milliseconds(900),
        maxDiscovered: Int = 64,
        discoveredExpiry: Duration = .seconds(600),
        inboxCapacity: Int = 1024,
        gxydbMetricsAlias: Bool = false,
        gxydbMetricsListen: String? = nil
    ) {
        self.brokerURL = brokerURL
        self.clientID = clientID
        self.username = username
        self.password = password
        self.useMQTT5 = useMQTT5
        self.adminKey = adminKey
        self.availableServers = availableServers
        self.failoverServers = failoverServers
        self.failoverWaitTime = failoverWaitTime
        self.skipOfflineSpares = skipOfflineSpares
        self.pollInterval = pollInterval
        self.requestTimeout = requestTimeout
        self.onlineRetryDelay = onlineRetryDelay
        self.staleThreshold = staleThreshold
        self.statusTopic = statusTopic
        self.adminRequestTopic = adminRequestTopic
        self.adminResponseTopic = adminResponseTopic
        self.failoverTopic = failoverTopic
        self.adminURLs = adminURLs
        self.httpPollInterval = httpPollInterval
        self.httpDeadline = httpDeadline
        self.maxDiscovered = maxDiscovered
        self.discoveredExpiry = discoveredExpiry
        self.inboxCapacity = inboxCapacity
        self.gxydbMetricsAlias = gxydbMetricsAlias
        self.gxydbMetricsListen = gxydbMetricsListen
    }

    /// How the gateways are watched, given what is configured.
    public enum Mode: Sendable, Hashable {
        /// Status and admin replies over MQTT (the seed's approach).
        case mqtt
        /// `POST {url}/admin` polling (the seed's old approach), when there is no broker but there
        /// are admin URLs.
        case http
        /// Nothing to watch with.
        case disabled
    }

    /// The mode this configuration selects.
    public var mode: Mode {
        if let brokerURL, !brokerURL.isEmpty { return .mqtt }
        return adminURLs.isEmpty ? .disabled : .http
    }

    /// Every configured server: primaries, then spares not also listed as primaries.
    public var configuredServers: [String] {
        var seen: Set<String> = []
        return (availableServers + failoverServers).filter { seen.insert($0).inserted }
    }
}
