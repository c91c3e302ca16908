//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// DISCONNECT (section 3.14); under MQTT 5 it may carry a reason code and properties and may be
/// sent by the broker too.
struct MQTTDisconnectPacket: Hashable, Sendable {
    var reasonCode: MQTTReasonCode = 0
    var properties: [MQTTProperty] = []

    func bodySize(v5: Bool) -> Int {
        guard v5, reasonCode != 0 || !properties.isEmpty else { return 0 }
        return 1 + properties.mqttEncodedSize
    }

    func writeBody(to buffer: inout ByteBuffer, v5: Bool) {
        guard v5, reasonCode != 0 || !properties.isEmpty else { return }
        buffer.writeInteger(reasonCode)
        properties.writeMQTT(to: &buffer)
    }

    static func readBody(from buffer: inout ByteBuffer, v5: Bool) throws(MQTTDecodeError) -> MQTTDisconnectPacket {
        var packet = MQTTDisconnectPacket()
        guard v5 else { return packet }
        if buffer.readableBytes > 0 { packet.reasonCode = try buffer.readMQTTInteger() }
        if buffer.readableBytes > 0 { packet.properties = try [MQTTProperty].readMQTT(from: &buffer) }
        return packet
    }

    /// The reason string property, if any.
    var reasonString: String? {
        for case .reasonString(let reason) in properties { return reason }
        return nil
    }
}

/// AUTH (MQTT 5 only, section 3.15): extended authentication exchange.
struct MQTTAuthPacket: Hashable, Sendable {
    var reasonCode: MQTTReasonCode = 0
    var properties: [MQTTProperty] = []

    var bodySize: Int {
        guard reasonCode != 0 || !properties.isEmpty else { return 0 }
        return 1 + properties.mqttEncodedSize
    }

    func writeBody(to buffer: inout ByteBuffer) {
        guard reasonCode != 0 || !properties.isEmpty else { return }
        buffer.writeInteger(reasonCode)
        properties.writeMQTT(to: &buffer)
    }

    static func readBody(from buffer: inout ByteBuffer) throws(MQTTDecodeError) -> MQTTAuthPacket {
        var packet = MQTTAuthPacket()
        if buffer.readableBytes > 0 { packet.reasonCode = try buffer.readMQTTInteger() }
        if buffer.readableBytes > 0 { packet.properties = try [MQTTProperty].readMQTT(from: &buffer) }
        return packet
    }
}
