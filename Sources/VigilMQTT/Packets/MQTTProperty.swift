//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// One MQTT 5 property (section 2.2.2.2 of the MQTT 5 specification).
///
/// Packets carry properties as an ordered list, since a few of them (user properties, subscription
/// identifiers) may repeat.
enum MQTTProperty: Hashable, Sendable {
    case payloadFormatIndicator(UInt8)
    case messageExpiryInterval(UInt32)
    case contentType(String)
    case responseTopic(String)
    case correlationData(ByteBuffer)
    case subscriptionIdentifier(UInt32)
    case sessionExpiryInterval(UInt32)
    case assignedClientIdentifier(String)
    case serverKeepAlive(UInt16)
    case authenticationMethod(String)
    case authenticationData(ByteBuffer)
    case requestProblemInformation(UInt8)
    case willDelayInterval(UInt32)
    case requestResponseInformation(UInt8)
    case responseInformation(String)
    case serverReference(String)
    case reasonString(String)
    case receiveMaximum(UInt16)
    case topicAliasMaximum(UInt16)
    case topicAlias(UInt16)
    case maximumQoS(UInt8)
    case retainAvailable(UInt8)
    case userProperty(String, String)
    case maximumPacketSize(UInt32)
    case wildcardSubscriptionAvailable(UInt8)
    case subscriptionIdentifierAvailable(UInt8)
    case sharedSubscriptionAvailable(UInt8)

    /// The property identifier on the wire.
    var identifier: UInt8 {
        switch self {
        case .payloadFormatIndicator: 0x01
        case .messageExpiryInterval: 0x02
        case .contentType: 0x03
        case .responseTopic: 0x08
        case .correlationData: 0x09
        case .subscriptionIdentifier: 0x0B
        case .sessionExpiryInterval: 0x11
        case .assignedClientIdentifier: 0x12
        case .serverKeepAlive: 0x13
        case .authenticationMethod: 0x15
        case .authenticationData: 0x16
        case .requestProblemInformation: 0x17
        case .willDelayInterval: 0x18
        case .requestResponseInformation: 0x19
        case .responseInformation: 0x1A
        case .serverReference: 0x1C
        case .reasonString: 0x1F
        case .receiveMaximum: 0x21
        case .topicAliasMaximum: 0x22
        case .topicAlias: 0x23
        case .maximumQoS: 0x24
        case .retainAvailable: 0x25
        case .userProperty: 0x26
        case .maximumPacketSize: 0x27
        case .wildcardSubscriptionAvailable: 0x28
        case .subscriptionIdentifierAvailable: 0x29
        case .sharedSubscriptionAvailable: 0x2A
        }
    }

    /// The size of the property on the wire, identifier included.
    var encodedSize: Int {
        switch self {
        case .payloadFormatIndicator, .requestProblemInformation, .requestResponseInformation, .maximumQoS,
            .retainAvailable, .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable,
            .sharedSubscriptionAvailable:
            2
        case .serverKeepAlive, .receiveMaximum, .topicAliasMaximum, .topicAlias:
            3
        case .messageExpiryInterval, .sessionExpiryInterval, .willDelayInterval, .maximumPacketSize:
            5
        case .subscriptionIdentifier(let value):
            1 + ByteBuffer.mqttVariableIntegerSize(Int(value))
        case .contentType(let s), .responseTopic(let s), .assignedClientIdentifier(let s),
            .authenticationMethod(let s), .responseInformation(let s), .serverReference(let s), .reasonString(let s):
            1 + s.mqttEncodedSize
        case .correlationData(let b), .authenticationData(let b):
            3 + b.readableBytes
        case .userProperty(let key, let value):
            1 + key.mqttEncodedSize + value.mqttEncodedSize
        }
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(self.identifier)
        switch self {
        case .payloadFormatIndicator(let v), .requestProblemInformation(let v), .requestResponseInformation(let v),
            .maximumQoS(let v), .retainAvailable(let v), .wildcardSubscriptionAvailable(let v),
            .subscriptionIdentifierAvailable(let v), .sharedSubscriptionAvailable(let v):
            buffer.writeInteger(v)
        case .serverKeepAlive(let v), .receiveMaximum(let v), .topicAliasMaximum(let v), .topicAlias(let v):
            buffer.writeInteger(v)
        case .messageExpiryInterval(let v), .sessionExpiryInterval(let v), .willDelayInterval(let v),
            .maximumPacketSize(let v):
            buffer.writeInteger(v)
        case .subscriptionIdentifier(let v):
            buffer.writeMQTTVariableInteger(v)
        case .contentType(let s), .responseTopic(let s), .assignedClientIdentifier(let s),
            .authenticationMethod(let s), .responseInformation(let s), .serverReference(let s), .reasonString(let s):
            buffer.writeMQTTString(s)
        case .correlationData(let b), .authenticationData(let b):
            buffer.writeMQTTBinary(b)
        case .userProperty(let key, let value):
            buffer.writeMQTTString(key)
            buffer.writeMQTTString(value)
        }
    }

    /// Reads one property from a complete property block.
    static func read(from buffer: inout ByteBuffer) throws(MQTTDecodeError) -> MQTTProperty {
        let identifier = try buffer.readMQTTInteger(as: UInt8.self)
        switch identifier {
        case 0x01: return .payloadFormatIndicator(try buffer.readMQTTInteger())
        case 0x02: return .messageExpiryInterval(try buffer.readMQTTInteger())
        case 0x03: return .contentType(try buffer.readMQTTString())
        case 0x08: return .responseTopic(try buffer.readMQTTString())
        case 0x09: return .correlationData(try buffer.readMQTTBinary())
        case 0x0B:
            let value = try buffer.readMQTTRequiredVariableInteger()
            guard value != 0 else { throw MQTTDecodeError(.malformed, "subscription identifier 0") }
            return .subscriptionIdentifier(value)
        case 0x11: return .sessionExpiryInterval(try buffer.readMQTTInteger())
        case 0x12: return .assignedClientIdentifier(try buffer.readMQTTString())
        case 0x13: return .serverKeepAlive(try buffer.readMQTTInteger())
        case 0x15: return .authenticationMethod(try buffer.readMQTTString())
        case 0x16: return .authenticationData(try buffer.readMQTTBinary())
        case 0x17: return .requestProblemInformation(try buffer.readMQTTInteger())
        case 0x18: return .willDelayInterval(try buffer.readMQTTInteger())
        case 0x19: return .requestResponseInformation(try buffer.readMQTTInteger())
        case 0x1A: return .responseInformation(try buffer.readMQTTString())
        case 0x1C: return .serverReference(try buffer.readMQTTString())
        case 0x1F: return .reasonString(try buffer.readMQTTString())
        case 0x21:
            let value: UInt16 = try buffer.readMQTTInteger()
            guard value != 0 else { throw MQTTDecodeError(.malformed, "receive maximum 0") }
            return .receiveMaximum(value)
        case 0x22: return .topicAliasMaximum(try buffer.readMQTTInteger())
        case 0x23: return .topicAlias(try buffer.readMQTTInteger())
        case 0x24: return .maximumQoS(try buffer.readMQTTInteger())
        case 0x25: return .retainAvailable(try buffer.readMQTTInteger())
        case 0x26:
            let key = try buffer.readMQTTString()
            return .userProperty(key, try buffer.readMQTTString())
        case 0x27: return .maximumPacketSize(try buffer.readMQTTInteger())
        case 0x28: return .wildcardSubscriptionAvailable(try buffer.readMQTTInteger())
        case 0x29: return .subscriptionIdentifierAvailable(try buffer.readMQTTInteger())
        case 0x2A: return .sharedSubscriptionAvailable(try buffer.readMQTTInteger())
        default:
            throw MQTTDecodeError(.invalidProperty, "unknown property identifier \(identifier)")
        }
    }
}

extension [MQTTProperty] {
    /// The size of the property block's contents (without its length prefix).
    var mqttContentSize: Int {
        var size = 0
        for property in self { size += property.encodedSize }
        return size
    }

    /// The size of the property block on the wire, length prefix included.
    var mqttEncodedSize: Int {
        let content = self.mqttContentSize
        return ByteBuffer.mqttVariableIntegerSize(content) + content
    }

    /// Writes the property block with its length prefix.
    func writeMQTT(to buffer: inout ByteBuffer) {
        buffer.writeMQTTVariableInteger(UInt32(self.mqttContentSize))
        for property in self { property.write(to: &buffer) }
    }

    /// The reason string property, if present.
    var mqttReasonString: String? {
        for case .reasonString(let reason) in self { return reason }
        return nil
    }

    /// Reads a property block (length prefix and properties) from a complete packet body.
    static func readMQTT(from buffer: inout ByteBuffer) throws(MQTTDecodeError) -> [MQTTProperty] {
        let length = Int(try buffer.readMQTTRequiredVariableInteger())
        if length == 0 { return [] }
        guard var block = buffer.readSlice(length: length) else {
            throw MQTTDecodeError(.badLength, "property length \(length) exceeds packet")
        }
        var properties: [MQTTProperty] = []
        while block.readableBytes > 0 {
            properties.append(try MQTTProperty.read(from: &block))
        }
        return properties
    }
}
