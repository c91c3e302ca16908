//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import NIOSSL
public import VigilClientSupport

/// How to reach a Kafka cluster: shared by ``KafkaProducer`` and ``KafkaConsumerGroup``.
///
/// | Key | Type | Default |
/// |---|---|---|
/// | `bootstrapBrokers` | [``KafkaBrokerAddress``] | required |
/// | `clientID` | String | `vigil` |
/// | `connectTimeout` | Duration | 5 s (TCP, TLS, SASL and ApiVersions) |
/// | `requestTimeout` | Duration | 30 s (added to a fetch's own wait) |
/// | `maximumResponseSize` | Int | 100 MiB (a larger size prefix is a protocol error) |
/// | `tls` | `TLSConfiguration`? | none (plain TCP) |
/// | `sasl` | ``KafkaSASL``? | none |
/// | `reconnect` | `ReconnectPolicy` | 0.1 s doubling to 10 s |
///
/// ```swift
/// let cluster = KafkaConfiguration(bootstrapBrokers: [KafkaBrokerAddress("127.0.0.1:9092")!])
/// ```
public struct KafkaConfiguration: Sendable {
    /// Brokers to ask for metadata first; the others are learnt from it.
    public var bootstrapBrokers: [KafkaBrokerAddress]
    /// The client id sent in every request header (broker logs and quotas).
    public var clientID: String
    /// The limit for TCP connect, TLS, SASL and the ApiVersions exchange.
    public var connectTimeout: Duration
    /// The limit for one response.
    public var requestTimeout: Duration
    /// The largest response frame accepted.
    public var maximumResponseSize: Int
    /// TLS settings; `nil` for plain TCP.
    public var tls: TLSConfiguration?
    /// SASL credentials; `nil` for none.
    public var sasl: KafkaSASL?
    /// How to space reconnection and retry attempts.
    public var reconnect: ReconnectPolicy

    /// Creates a configuration.
    public init(
        bootstrapBrokers: [KafkaBrokerAddress],
        clientID: String = "vigil",
        connectTimeout: Duration = .seconds(5),
        requestTimeout: Duration = .seconds(30),
        maximumResponseSize: Int = 100 << 20,
        tls: TLSConfiguration? = nil,
        sasl: KafkaSASL? = nil,
        reconnect: ReconnectPolicy = ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(10))
    ) {
        self.bootstrapBrokers = bootstrapBrokers
        self.clientID = clientID
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.maximumResponseSize = maximumResponseSize
        self.tls = tls
        self.sasl = sasl
        self.reconnect = reconnect
    }
}

/// SASL credentials for a Kafka connection. Its description leaves the password out.
public struct KafkaSASL: Sendable, Hashable, CustomStringConvertible {
    /// The mechanism.
    public enum Mechanism: String, Sendable, Hashable {
        /// `PLAIN`: the password in clear, so only over TLS in production.
        case plain = "PLAIN"
        /// `SCRAM-SHA-256` (RFC 5802, 7677): the password never crosses the wire, and the broker
        /// proves that it knows it too.
        case scramSHA256 = "SCRAM-SHA-256"
        /// `SCRAM-SHA-512`.
        case scramSHA512 = "SCRAM-SHA-512"
    }

    /// The mechanism.
    public var mechanism: Mechanism
    /// The user name.
    public var username: String
    /// The password; never logged.
    public var password: String

    public var description: String { "KafkaSASL(\(mechanism.rawValue), user: \(username))" }

    /// Creates credentials.
    public init(mechanism: Mechanism = .plain, username: String, password: String) {
        self.mechanism = mechanism
        self.username = username
        self.password = password
    }
}
