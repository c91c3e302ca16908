//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The Announcer's settings, in the seed-001 file format (top-level keys and the sections
/// `[monitoring]`, `[ejabberd]`, `[component]`, `[client]`, `[mysql]`, `[user-activity-redis]`,
/// `[user-activity-rest-api]`, `[kafka-consumer]`, `[kafka-producer]`).
///
/// Durations follow the seed's units when a plain number is given (noted per field); a string such
/// as `"1500ms"` or `"2s"` is read as written.
public struct AnnouncerConfiguration: Sendable, Hashable {
    /// `rest_api_port`: where `/v1/announce/*` listens (`":8080"`, `"127.0.0.1:8080"`); `nil` serves
    /// them on the main `[http]` listener.
    public var restAPIListen: String?
    /// `debug_port`: the original's Go pprof listener; accepted and ignored (Vigil has `/metrics`).
    public var debugListen: String?
    /// `input_buffer`: announcements accepted but not yet expanded to recipients.
    public var inputBuffer = 100
    /// `output_buffer`: rendered stanzas waiting for a connection.
    public var outputBuffer = 100
    /// `logic_process_number`: announcements expanded concurrently.
    public var logicProcessNumber = 2
    /// `user_activity_ask_buffer`: usernames per online-status query.
    public var userActivityAskBuffer = 1_000
    /// `recipient_source_give_up` (Vigil's own): how long a channel announcement waits for a failing
    /// recipient source (MySQL, Redis) before it fails with `announcement_failed`, kept in the outbox
    /// for `POST /api/v1/announcements/{id}/retry`.
    public var recipientSourceGiveUp: Duration = .seconds(300)
    /// `[monitoring] buffer_report_duration` (seconds): how often buffer fill levels are reported.
    public var bufferReportInterval: Duration = .seconds(1)
    /// Whether the file sets `buffer_report_duration`: the report is then logged at info level,
    /// otherwise at debug level (it would fill a log every second by default).
    public var bufferReportExplicit = false

    /// `[ejabberd]`: the XMPP servers and the sending policy.
    public var xmpp = XMPPSettings()
    /// `[component]` (XEP-0114) or `[client]`: how Vigil logs in; exactly one must be given.
    public var login: Login
    /// `[mysql]`: where channel members come from; `nil` rejects channel announcements.
    public var mysql: MySQLSettings?
    /// `[user-activity-redis]` or `[user-activity-rest-api]`: who is online.
    public var userActivity: UserActivitySource?
    /// `[kafka-consumer]`: the queue input; `nil` accepts REST only.
    public var kafkaConsumer: KafkaConsumerSettings?
    /// `[kafka-producer]`: where persisted announcements go.
    public var kafkaProducer: KafkaProducerSettings?

    /// Creates settings with the seed's defaults and the given login.
    public init(login: Login) {
        self.login = login
    }

    /// The domain given to recipients without `@`: the server's domain of the login.
    public var domain: String {
        switch login {
        case .component(let component): component.domain
        case .client(let client): client.domain
        }
    }

    /// `[ejabberd]`.
    public struct XMPPSettings: Sendable, Hashable {
        /// `cluster_nodes`: `host:port` of each server node (component or c2s port).
        public var nodes: [String] = ["127.0.0.1:5347"]
        /// `rate_limit`: messages per second over all connections.
        public var rateLimit: Double = 10
        /// `send_retry`: retries of a failed send.
        public var sendRetry = 6
        /// `each_node_conn_num`: connections per node.
        public var connectionsPerNode = 1

        /// Creates the defaults.
        public init() {}
    }

    /// How Vigil logs in to the XMPP servers.
    public enum Login: Sendable, Hashable {
        /// `[component]`: XEP-0114; the component's JID is `name.domain`.
        case component(ComponentSettings)
        /// `[client]`: an ordinary user account.
        case client(ClientSettings)
    }

    /// `[component]`.
    public struct ComponentSettings: Sendable, Hashable {
        /// `name`: the component's subdomain label.
        public var name: String
        /// `secret`: the shared secret of the handshake.
        public var secret: String
        /// `domain`: the server's domain; recipients without `@` get it.
        public var domain: String
        /// `ping_interval` (seconds).
        public var pingInterval: Duration = .seconds(110)
        /// `max_conn_check_retry`: checks of a connection before giving up on it.
        public var maxConnectionCheckRetry = 10_000
        /// `conn_req_check_interval` (seconds).
        public var connectionCheckInterval: Duration = .seconds(10)

        /// Creates settings.
        public init(name: String, secret: String, domain: String) {
            self.name = name
            self.secret = secret
            self.domain = domain
        }

        /// The component's own domain (`name.domain`), unless `name` already is one.
        public var componentDomain: String { name.contains(".") ? name : "\(name).\(domain)" }
    }

    /// `[client]`.
    public struct ClientSettings: Sendable, Hashable {
        /// `username`.
        public var username: String
        /// `password`.
        public var password: String
        /// `domain`.
        public var domain: String
        /// `resource`.
        public var resource = "announcer"
        /// `ping_interval` (seconds).
        public var pingInterval: Duration = .seconds(2)
        /// `tls` (Vigil's own): STARTTLS on the client stream (RFC 6120 §5).
        public var tls: ClientTLS = .off
        /// `ca_file` (Vigil's own): PEM certificates the server's certificate must chain to;
        /// `nil` trusts the system's roots.
        public var caFile: String?

        /// Creates settings.
        public init(username: String, password: String, domain: String) {
            self.username = username
            self.password = password
            self.domain = domain
        }
    }

    /// `[mysql]`.
    public struct MySQLSettings: Sendable, Hashable {
        /// `address`: `host:port`.
        public var address = "127.0.0.1:3306"
        /// `username`.
        public var username = ""
        /// `password`.
        public var password = ""
        /// `db`.
        public var database = ""
        /// `pagination_length`: members fetched per query.
        public var pageLength = 100
        /// `max_ideal_conn` (sic, the seed's spelling of "idle").
        public var maxIdleConnections = 10
        /// `max_open_conn`.
        public var maxOpenConnections = 10

        /// Creates the defaults.
        public init() {}
    }

    /// Where online status comes from.
    public enum UserActivitySource: Sendable, Hashable {
        /// `[user-activity-redis]`.
        case redis(RedisSettings)
        /// `[user-activity-rest-api]`.
        case rest(RESTSettings)
        /// `[user-activity-ejabberd]` (Vigil's own): ejabberd's HTTP API, `connected_users`.
        case ejabberdAPI(EjabberdAPISettings)
    }

    /// `[user-activity-redis]`.
    public struct RedisSettings: Sendable, Hashable {
        /// `cluster_nodes`: `host:port` of each node.
        public var nodes: [String] = ["127.0.0.1:6379"]
        /// `password`.
        public var password = ""
        /// `db`.
        public var database = 0
        /// `read_timeout` (milliseconds).
        public var readTimeout: Duration = .milliseconds(1_000)
        /// `max_retries`.
        public var maxRetries = 0

        /// Creates the defaults.
        public init() {}
    }

    /// `[user-activity-rest-api]`.
    public struct RESTSettings: Sendable, Hashable {
        /// `address`: `host:port` (or a URL) of the service answering `POST /v1/users/online`.
        public var address = "127.0.0.1:8888"
        /// `request_timeout` (milliseconds).
        public var requestTimeout: Duration = .milliseconds(500)
        /// `idle_conn_timeout` (seconds).
        public var idleConnectionTimeout: Duration = .seconds(90)
        /// `max_idle_conn`.
        public var maxIdleConnections = 100
        /// `max_retry`.
        public var maxRetry = 3
        /// `path` (Vigil's own): the path of the online-status request, after `address`.
        public var path = "/v1/users/online"
        /// `request_field` (Vigil's own): the request body's member holding the usernames; empty
        /// sends a bare JSON array.
        public var requestField = "usernames"
        /// `response_field` (Vigil's own): the response body's member holding the online
        /// usernames; empty expects a bare JSON array.
        public var responseField = "online"
        /// `max_response_bytes` (Vigil's own): a longer response is refused.
        public var maxResponseBytes = 4 << 20

        /// Creates the defaults.
        public init() {}
    }

    /// `[kafka-consumer]`.
    /// How a Kafka section logs in: `sasl_mechanism` (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`),
    /// `sasl_username`, `sasl_password`, `tls` and `tls_ca_file`.
    public struct KafkaSecurity: Sendable, Hashable {
        /// `sasl_mechanism`; `nil` for no SASL.
        public var saslMechanism: String?
        /// `sasl_username`.
        public var saslUsername = ""
        /// `sasl_password`; never logged.
        public var saslPassword = ""
        /// `tls`.
        public var tls = false
        /// `tls_ca_file`: the CA to check the brokers' certificates with (default: the system's).
        public var tlsCAFile: String?

        /// No SASL, no TLS.
        public init() {}
    }

    public struct KafkaConsumerSettings: Sendable, Hashable {
        /// `brokers` (Vigil's own key): the bootstrap brokers, `host:port`. Required: the seed's
        /// `zookeeper` discovery is not supported, and a file with only `zookeeper` is refused
        /// with a message that says to set `brokers`.
        public var brokers: [String] = []
        /// `zookeeper` (the original's discovery): read, and ignored once `brokers` is given.
        public var zookeeper = ""
        /// `topics`.
        public var topics: [String] = []
        /// `group_name`.
        public var groupName = "announcer"
        /// `buffer`.
        public var buffer = 1_000
        /// SASL and TLS.
        public var security = KafkaSecurity()

        /// Creates the defaults.
        public init() {}
    }

    /// `[kafka-producer]`.
    public struct KafkaProducerSettings: Sendable, Hashable {
        /// `brokers`.
        public var brokers: [String] = ["127.0.0.1:9092"]
        /// `topics`.
        public var topics: [String] = []
        /// `flush_frequency` (seconds).
        public var flushInterval: Duration = .seconds(5)
        /// `MaxRetry`.
        public var maxRetry = 5
        /// `compression`: `none`, `gzip`, `lz4` or `zstd` (Vigil's key; the seed has none).
        public var compression = "none"
        /// SASL and TLS.
        public var security = KafkaSecurity()

        /// Creates the defaults.
        public init() {}
    }
}
