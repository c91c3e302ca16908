//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// CONNECT: the first packet a client sends (section 3.1).
struct MQTTConnectPacket: Hashable, Sendable {
    struct Will: Hashable, Sendable {
        var topic: String
        var payload: ByteBuffer
        var qos: MQTTQoS
        var retain: Bool
        var properties: [MQTTProperty]
    }

    var version: MQTTProtocolVersion
    var clientID: String
    var cleanSession: Bool
    var keepAliveSeconds: UInt16
    var username: String?
    var password: ByteBuffer?
    var will: Will?
    var properties: [MQTTProperty]

    private var v5: Bool { version == .v5 }

    var bodySize: Int {
        var size = 6 + 1 + 1 + 2  // "MQTT" name, level, flags, keep-alive
        if v5 { size += properties.mqttEncodedSize }
        size += clientID.mqttEncodedSize
        if let will {
            if v5 { size += will.properties.mqttEncodedSize }
            size += will.topic.mqttEncodedSize + 2 + will.payload.readableBytes
        }
        if let username { size += username.mqttEncodedSize }
        if let password { size += 2 + password.readableBytes }
        return size
    }

    func writeBody(to buffer: inout ByteBuffer) {
        buffer.writeMQTTString("MQTT")
        buffer.writeInteger(version.level)
        var flags: UInt8 = 0
        if username != nil { flags |= 0x80 }
        if password != nil { flags |= 0x40 }
        if let will {
            flags |= 0x04 | will.qos.rawValue << 3
            if will.retain { flags |= 0x20 }
        }
        if cleanSession { flags |= 0x02 }
        buffer.writeInteger(flags)
        buffer.writeInteger(keepAliveSeconds)
        if v5 { properties.writeMQTT(to: &buffer) }
        buffer.writeMQTTString(clientID)
        if let will {
            if v5 { will.properties.writeMQTT(to: &buffer) }
            buffer.writeMQTTString(will.topic)
            buffer.writeMQTTBinary(will.payload)
        }
        if let username { buffer.writeMQTTString(username) }
        if let password { buffer.writeMQTTBinary(password) }
    }

    static func readBody(from buffer: inout ByteBuffer) throws(MQTTDecodeError) -> MQTTConnectPacket {
        let name = try buffer.readMQTTString()
        guard name == "MQTT" else { throw MQTTDecodeError(.unsupportedProtocol, "protocol name \(name)") }
        let version: MQTTProtocolVersion
        switch try buffer.readMQTTInteger(as: UInt8.self) {
        case 4: version = .v3_1_1
        case 5: version = .v5
        case let level: throw MQTTDecodeError(.unsupportedProtocol, "protocol level \(level)")
        }
        let v5 = version == .v5
        let flags = try buffer.readMQTTInteger(as: UInt8.self)
        guard flags & 0x01 == 0 else { throw MQTTDecodeError(.reservedFlags, "CONNECT reserved flag set") }
        let keepAlive = try buffer.readMQTTInteger(as: UInt16.self)
        let properties = v5 ? try [MQTTProperty].readMQTT(from: &buffer) : []
        let clientID = try buffer.readMQTTString()
        var will: Will?
        let willQoSBits = (flags >> 3) & 0x03
        if flags & 0x04 != 0 {
            guard let qos = MQTTQoS(rawValue: willQoSBits) else { throw MQTTDecodeError(.malformed, "will QoS 3") }
            let willProperties = v5 ? try [MQTTProperty].readMQTT(from: &buffer) : []
            let topic = try buffer.readMQTTString()
            let payload = try buffer.readMQTTBinary()
            will = Will(topic: topic, payload: payload, qos: qos, retain: flags & 0x20 != 0, properties: willProperties)
        } else if willQoSBits != 0 || flags & 0x20 != 0 {
            throw MQTTDecodeError(.malformed, "will QoS or retain without will flag")
        }
        let username = flags & 0x80 != 0 ? try buffer.readMQTTString() : nil
        if !v5 && flags & 0x40 != 0 && username == nil {
            throw MQTTDecodeError(.malformed, "password without username in MQTT 3.1.1")
        }
        let password = flags & 0x40 != 0 ? try buffer.readMQTTBinary() : nil
        return MQTTConnectPacket(
            version: version,
            clientID: clientID,
            cleanSession: flags & 0x02 != 0,
            keepAliveSeconds: keepAlive,
            username: username,
            password: password,
            will: will,
            properties: properties
        )
    }
}

/// CONNACK: the broker's answer to CONNECT (section 3.2).
struct MQTTConnAckPacket: Hashable, Sendable {
    var sessionPresent: Bool
    /// The 3.1.1 return code or MQTT 5 reason code; 0 is success.
    var reasonCode: MQTTReasonCode
    var properties: [MQTTProperty] = []

    func bodySize(v5: Bool) -> Int { 2 + (v5 ? properties.mqttEncodedSize : 0) }

    func writeBody(to buffer: inout ByteBuffer, v5: Bool) {
        buffer.writeInteger(UInt8(sessionPresent ? 1 : 0))
        buffer.writeInteger(reasonCode)
        if v5 { properties.writeMQTT(to: &buffer) }
    }

    static func readBody(from buffer: inout ByteBuffer, v5: Bool) throws(MQTTDecodeError) -> MQTTConnAckPacket {
        let flags = try buffer.readMQTTInteger(as: UInt8.self)
        guard flags & 0xFE == 0 else { throw MQTTDecodeError(.reservedFlags, "CONNACK reserved flags set") }
        let code = try buffer.readMQTTInteger(as: UInt8.self)
        let properties = v5 ? try [MQTTProperty].readMQTT(from: &buffer) : []
        return MQTTConnAckPacket(sessionPresent: flags & 1 != 0, reasonCode: code, properties: properties)
    }
}
