//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import NIOCore

/// A message received from, or published to, the broker.
public struct MQTTMessage: Sendable, Hashable {
    /// The topic the message was published to (never a topic alias: aliases are resolved).
    public var topic: String
    /// The payload, as a slice of the buffer it was received in.
    public var payload: ByteBuffer
    /// The quality of service the message was delivered with.
    public var qos: MQTTQoS
    /// Whether the broker sent the message because it was retained on the topic.
    public var retain: Bool
    /// MQTT 5 properties of the message; empty under MQTT 3.1.1.
    public var properties: MQTTPublishProperties {
        get { boxedProperties?.value ?? MQTTPublishProperties() }
        set { boxedProperties = newValue.isEmpty ? nil : PropertiesBox(newValue) }
    }
    /// The properties behind one reference, absent when empty (almost always): a message is
    /// copied several times on its way to a consumer, and each copy of the seven reference-counted
    /// fields of the properties cost a retain and a release.
    private var boxedProperties: PropertiesBox?
    /// The acknowledgement a received QoS 1/2 message still owes the broker; `nil` for messages
    /// created locally and for QoS 0. Not part of the message's value (equality, hashing).
    var delivery: MQTTDelivery?

    /// Whether the broker marked this received message as a redelivery (the DUP flag): it may
    /// have been delivered before, on an earlier connection of the same session.
    public var isRedelivery: Bool { delivery?.isRedelivery ?? false }

    /// Creates a message.
    ///
    /// - Parameters:
    ///   - topic: The topic name.
    ///   - payload: The payload bytes.
    ///   - qos: The quality of service.
    ///   - retain: The retain flag.
    ///   - properties: MQTT 5 publication properties.
    public init(
        topic: String,
        payload: ByteBuffer,
        qos: MQTTQoS = .atMostOnce,
        retain: Bool = false,
        properties: MQTTPublishProperties = .init()
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.boxedProperties = properties.isEmpty ? nil : PropertiesBox(properties)
    }

    /// Compares the message's value: topic, payload, QoS, retain flag and properties.
    public static func == (lhs: MQTTMessage, rhs: MQTTMessage) -> Bool {
        lhs.topic == rhs.topic && lhs.payload == rhs.payload && lhs.qos == rhs.qos && lhs.retain == rhs.retain
            && lhs.properties == rhs.properties
    }

    /// Hashes the message's value: topic, payload, QoS, retain flag and properties.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(topic)
        hasher.combine(payload)
        hasher.combine(qos)
        hasher.combine(retain)
        hasher.combine(properties)
    }
}

/// Immutable storage for the properties of an ``MQTTMessage``.
private final class PropertiesBox: Sendable {
    let value: MQTTPublishProperties

    init(_ value: MQTTPublishProperties) {
        self.value = value
    }
}

/// A user property: a name/value pair of UTF-8 strings (MQTT 5).
public struct MQTTUserProperty: Sendable, Hashable {
    /// The property name.
    public var name: String
    /// The property value.
    public var value: String

    /// Creates a user property.
    ///
    /// - Parameters:
    ///   - name: The property name.
    ///   - value: The property value.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// How the payload of an MQTT 5 message is encoded (the payload format indicator).
public enum MQTTPayloadFormatIndicator: UInt8, Sendable, Hashable {
    /// Unspecified bytes.
    case unspecified = 0
    /// UTF-8 encoded character data.
    case utf8 = 1
}

/// The MQTT 5 properties of a publication.
///
/// All fields are optional; under MQTT 3.1.1 they are not sent and received messages carry none.
/// Topic aliases are handled by the connection and never appear here.
public struct MQTTPublishProperties: Sendable, Hashable {
    /// Whether the payload is UTF-8 text.
    public var payloadFormatIndicator: MQTTPayloadFormatIndicator?
    /// How long the broker keeps the message for subscribers that are not connected (whole seconds).
    public var messageExpiry: Duration?
    /// The topic a responder should publish its response to (request/response pattern).
    public var responseTopic: String?
    /// Opaque data that ties a response to its request.
    public var correlationData: ByteBuffer?
    /// The MIME type of the payload.
    public var contentType: String?
    /// Application-defined name/value pairs, in order; names may repeat.
    public var userProperties: [MQTTUserProperty]
    /// Identifiers of the subscriptions that matched a received message (set by the broker).
    public var subscriptionIdentifiers: [Int]

    /// Creates publication properties; every field defaults to absent.
    ///
    /// - Parameters:
    ///   - payloadFormatIndicator: Whether the payload is UTF-8 text.
    ///   - messageExpiry: Message expiry interval, in whole seconds.
    ///   - responseTopic: Response topic for request/response.
    ///   - correlationData: Correlation data for request/response.
    ///   - contentType: MIME type of the payload.
    ///   - userProperties: User properties.
    ///   - subscriptionIdentifiers: Subscription identifiers (only meaningful on received messages).
    public init(
        payloadFormatIndicator: MQTTPayloadFormatIndicator? = nil,
        messageExpiry: Duration? = nil,
        responseTopic: String? = nil,
        correlationData: ByteBuffer? = nil,
        contentType: String? = nil,
        userProperties: [MQTTUserProperty] = [],
        subscriptionIdentifiers: [Int] = []
    ) {
        self.payloadFormatIndicator = payloadFormatIndicator
        self.messageExpiry = messageExpiry
        self.responseTopic = responseTopic
        self.correlationData = correlationData
        self.contentType = contentType
        self.userProperties = userProperties
        self.subscriptionIdentifiers = subscriptionIdentifiers
    }

    /// Whether no property is set.
    public var isEmpty: Bool {
        payloadFormatIndicator == nil && messageExpiry == nil && responseTopic == nil && correlationData == nil
            && contentType == nil && userProperties.isEmpty && subscriptionIdentifiers.isEmpty
    }

    /// The wire form of these properties.
    var mqttProperties: [MQTTProperty] {
        if self.isEmpty { return [] }
        var properties: [MQTTProperty] = []
        if let payloadFormatIndicator { properties.append(.payloadFormatIndicator(payloadFormatIndicator.rawValue)) }
        if let messageExpiry { properties.append(.messageExpiryInterval(UInt32(clamping: messageExpiry.components.seconds))) }
        if let contentType { properties.append(.contentType(contentType)) }
        if let responseTopic { properties.append(.responseTopic(responseTopic)) }
        if let correlationData { properties.append(.correlationData(correlationData)) }
        for property in userProperties { properties.append(.userProperty(property.name, property.value)) }
        for identifier in subscriptionIdentifiers { properties.append(.subscriptionIdentifier(UInt32(clamping: identifier))) }
        return properties
    }

    /// Builds the public view of the properties of a received PUBLISH; the topic alias is dropped.
    init(mqttProperties: [MQTTProperty]) {
        self.init()
        for property in mqttProperties {
            switch property {
            case .payloadFormatIndicator(let v): self.payloadFormatIndicator = MQTTPayloadFormatIndicator(rawValue: v)
            case .messageExpiryInterval(let v): self.messageExpiry = .seconds(Int64(v))
            case .contentType(let v): self.contentType = v
            case .responseTopic(let v): self.responseTopic = v
            case .correlationData(let v): self.correlationData = v
            case .userProperty(let k, let v): self.userProperties.append(MQTTUserProperty(name: k, value: v))
            case .subscriptionIdentifier(let v): self.subscriptionIdentifiers.append(Int(v))
            default: break
            }
        }
    }
}

/// The Last Will: a message the broker publishes when the client disappears without DISCONNECT.
public struct MQTTWill: Sendable, Hashable {
    /// The topic the will is published to.
    public var topic: String
    /// The will payload.
    public var payload: ByteBuffer
    /// The quality of service of the will publication.
    public var qos: MQTTQoS
    /// Whether the broker retains the will publication.
    public var retain: Bool
    /// MQTT 5 properties of the will publication.
    public var properties: MQTTPublishProperties
    /// MQTT 5 will delay interval: how long the broker waits before publishing the will.
    public var delay: Duration?

    /// Creates a Last Will.
    ///
    /// - Parameters:
    ///   - topic: The topic the will is published to.
    ///   - payload: The will payload.
    ///   - qos: The quality of service of the will publication.
    ///   - retain: Whether the broker retains the will publication.
    ///   - properties: MQTT 5 properties of the will publication.
    ///   - delay: MQTT 5 will delay interval.
    public init(
        topic: String,
        payload: ByteBuffer,
        qos: MQTTQoS = .atMostOnce,
        retain: Bool = false,
        properties: MQTTPublishProperties = .init(),
        delay: Duration? = nil
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.delay = delay
    }
}

/// When the broker sends retained messages for a new subscription (MQTT 5).
public enum MQTTRetainHandling: UInt8, Sendable, Hashable {
    /// Send retained messages whenever the subscription is made.
    case sendOnSubscribe = 0
    /// Send retained messages only if the subscription did not exist before.
    case sendOnSubscribeIfNew = 1
    /// Never send retained messages for this subscription.
    case doNotSend = 2
}

/// One topic filter to subscribe to, with its options.
public struct MQTTSubscribeInfo: Sendable, Hashable {
    /// The topic filter, possibly with `+` and `#` wildcards, or a shared subscription
    /// `$share/GROUP/FILTER`.
    public var filter: String
    /// The maximum quality of service the broker may use for matching messages.
    public var qos: MQTTQoS
    /// MQTT 5: do not receive messages this client published itself.
    public var noLocal: Bool
    /// MQTT 5: keep the retain flag of forwarded messages as the publisher set it.
    public var retainAsPublished: Bool
    /// MQTT 5: when retained messages are sent for this subscription.
    public var retainHandling: MQTTRetainHandling

    /// Creates a subscription request.
    ///
    /// - Parameters:
    ///   - filter: The topic filter.
    ///   - qos: The maximum quality of service.
    ///   - noLocal: MQTT 5 no-local option.
    ///   - retainAsPublished: MQTT 5 retain-as-published option.
    ///   - retainHandling: MQTT 5 retain handling option.
    public init(
        filter: String,
        qos: MQTTQoS = .atMostOnce,
        noLocal: Bool = false,
        retainAsPublished: Bool = false,
        retainHandling: MQTTRetainHandling = .sendOnSubscribe
    ) {
        self.filter = filter
        self.qos = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }
}
