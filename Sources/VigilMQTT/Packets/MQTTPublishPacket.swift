//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// PUBLISH: a message in either direction (section 3.3).
struct MQTTPublishPacket: Hashable, Sendable {
    /// The topic name; empty under MQTT 5 when only a topic alias is sent.
    var topic: String
    var payload: ByteBuffer
    var qos: MQTTQoS
    var retain: Bool
    var dup: Bool = false
    /// The packet identifier; 0 for QoS 0.
    var packetID: UInt16 = 0
    var properties: [MQTTProperty] = []

    func write(to buffer: inout ByteBuffer, v5: Bool) {
        var flags = qos.rawValue << 1
        if retain { flags |= 0x01 }
        if dup { flags |= 0x08 }
        var length = topic.mqttEncodedSize + payload.readableBytes
        if qos != .atMostOnce { length += 2 }
        if v5 { length += properties.mqttEncodedSize }
        MQTTPacket.writeFixedHeader(.publish, flags: flags, length: length, to: &buffer)
        buffer.writeMQTTString(topic)
        if qos != .atMostOnce { buffer.writeInteger(packetID) }
        if v5 { properties.writeMQTT(to: &buffer) }
        var payload = self.payload
        buffer.writeBuffer(&payload)
    }

    static func readBody(from buffer: inout ByteBuffer, flags: UInt8, v5: Bool) throws(MQTTDecodeError) -> MQTTPublishPacket {
        guard let qos = MQTTQoS(rawValue: (flags >> 1) & 0x03) else {
            throw MQTTDecodeError(.reservedFlags, "PUBLISH with QoS 3")
        }
        let topic = try buffer.readMQTTString()
        if topic.isEmpty && !v5 {
            throw MQTTDecodeError(.malformed, "empty topic name")
        }
        for byte in topic.utf8 where byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#") {
            throw MQTTDecodeError(.malformed, "topic name contains a wildcard")
        }
        var packetID: UInt16 = 0
        if qos != .atMostOnce {
            packetID = try buffer.readMQTTInteger()
            guard packetID != 0 else { throw MQTTDecodeError(.malformed, "packet identifier 0") }
        }
        let properties = v5 ? try [MQTTProperty].readMQTT(from: &buffer) : []
        let payload = buffer.readSlice(length: buffer.readableBytes)!
        return MQTTPublishPacket(
            topic: topic,
            payload: payload,
            qos: qos,
            retain: flags & 0x01 != 0,
            dup: flags & 0x08 != 0,
            packetID: packetID,
            properties: properties
        )
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP (sections 3.4 to 3.7): a packet identifier and, under
/// MQTT 5, an optional reason code and properties.
struct MQTTAckPacket: Hashable, Sendable {
    var type: MQTTPacketType
    var packetID: UInt16
    var reasonCode: MQTTReasonCode = 0
    var properties: [MQTTProperty] = []

    func bodySize(v5: Bool) -> Int {
        guard v5 else { return 2 }
        if properties.isEmpty { return reasonCode == 0 ? 2 : 3 }
        return 3 + properties.mqttEncodedSize
    }

    func writeBody(to buffer: inout ByteBuffer, v5: Bool) {
        buffer.writeInteger(packetID)
        guard v5, reasonCode != 0 || !properties.isEmpty else { return }
        buffer.writeInteger(reasonCode)
        if !properties.isEmpty { properties.writeMQTT(to: &buffer) }
    }

    static func readBody(type: MQTTPacketType, from buffer: inout ByteBuffer, v5: Bool) throws(MQTTDecodeError) -> MQTTAckPacket {
        let packetID = try buffer.readMQTTInteger(as: UInt16.self)
        guard packetID != 0 else { throw MQTTDecodeError(.malformed, "packet identifier 0") }
        var packet = MQTTAckPacket(type: type, packetID: packetID)
        if v5 {
            if buffer.readableBytes > 0 { packet.reasonCode = try buffer.readMQTTInteger() }
            if buffer.readableBytes > 0 { packet.properties = try [MQTTProperty].readMQTT(from: &buffer) }
        }
        return packet
    }
}
