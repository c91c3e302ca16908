//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// SUBSCRIBE (section 3.8).
struct MQTTSubscribePacket: Hashable, Sendable {
    var packetID: UInt16
    var subscriptions: [MQTTSubscribeInfo]
    var properties: [MQTTProperty] = []

    func bodySize(v5: Bool) -> Int {
        var size = 2 + (v5 ? properties.mqttEncodedSize : 0)
        for subscription in subscriptions { size += subscription.filter.mqttEncodedSize + 1 }
        return size
    }

    func writeBody(to buffer: inout ByteBuffer, v5: Bool) {
        buffer.writeInteger(packetID)
        if v5 { properties.writeMQTT(to: &buffer) }
        for subscription in subscriptions {
            buffer.writeMQTTString(subscription.filter)
            var options = subscription.qos.rawValue
            if v5 {
                if subscription.noLocal { options |= 0x04 }
                if subscription.retainAsPublished { options |= 0x08 }
                options |= subscription.retainHandling.rawValue << 4
            }
            buffer.writeInteger(options)
        }
    }

    static func readBody(from buffer: inout ByteBuffer, v5: Bool) throws(MQTTDecodeError) -> MQTTSubscribePacket {
        let packetID = try buffer.readMQTTInteger(as: UInt16.self)
        guard packetID != 0 else { throw MQTTDecodeError(.malformed, "packet identifier 0") }
        let properties = v5 ? try [MQTTProperty].readMQTT(from: &buffer) : []
        var subscriptions: [MQTTSubscribeInfo] = []
        while buffer.readableBytes > 0 {
            let filter = try buffer.readMQTTString()
            let options = try buffer.readMQTTInteger(as: UInt8.self)
            guard options & (v5 ? 0xC0 : 0xFC) == 0 else {
                throw MQTTDecodeError(.reservedFlags, "subscription options \(options)")
            }
            guard let qos = MQTTQoS(rawValue: options & 0x03),
                let retainHandling = MQTTRetainHandling(rawValue: (options >> 4) & 0x03)
            else {
                throw MQTTDecodeError(.malformed, "subscription options \(options)")
            }
            subscriptions.append(
                MQTTSubscribeInfo(
                    filter: filter,
                    qos: qos,
                    noLocal: options & 0x04 != 0,
                    retainAsPublished: options & 0x08 != 0,
                    retainHandling: retainHandling
                )
            )
        }
        guard !subscriptions.isEmpty else { throw MQTTDecodeError(.malformed, "SUBSCRIBE without topic filters") }
        return MQTTSubscribePacket(packetID: packetID, subscriptions: subscriptions, properties: properties)
    }
}

/// SUBACK and UNSUBACK (sections 3.9 and 3.11): one reason code per requested filter.
///
/// An MQTT 3.1.1 UNSUBACK carries no reason codes; ``reasonCodes`` is then empty.
struct MQTTSubAckPacket: Hashable, Sendable {
    var packetID: UInt16
    var reasonCodes: [MQTTReasonCode]
    var properties: [MQTTProperty] = []

    func bodySize(v5: Bool, unsuback: Bool) -> Int {
        if unsuback && !v5 { return 2 }
        return 2 + (v5 ? properties.mqttEncodedSize : 0) + reasonCodes.count
    }

    func writeBody(to buffer: inout ByteBuffer, v5: Bool, unsuback: Bool) {
        buffer.writeInteger(packetID)
        if unsuback && !v5 { return }
        if v5 { properties.writeMQTT(to: &buffer) }
        buffer.writeBytes(reasonCodes)
    }

    static func readBody(from buffer: inout ByteBuffer, v5: Bool, unsuback: Bool) throws(MQTTDecodeError) -> MQTTSubAckPacket {
        let packetID = try buffer.readMQTTInteger(as: UInt16.self)
        guard packetID != 0 else { throw MQTTDecodeError(.malformed, "packet identifier 0") }
        if unsuback && !v5 { return MQTTSubAckPacket(packetID: packetID, reasonCodes: []) }
        let properties = v5 ? try [MQTTProperty].readMQTT(from: &buffer) : []
        let codes = buffer.readBytes(length: buffer.readableBytes) ?? []
        guard !codes.isEmpty else { throw MQTTDecodeError(.malformed, "acknowledgement without reason codes") }
        if !v5 {
            for code in codes where code > 2 && code != 0x80 {
                throw MQTTDecodeError(.malformed, "SUBACK return code \(code)")
            }
        }
        return MQTTSubAckPacket(packetID: packetID, reasonCodes: codes, properties: properties)
    }
}

/// UNSUBSCRIBE (section 3.10).
struct MQTTUnsubscribePacket: Hashable, Sendable {
    var packetID: UInt16
    var filters: [String]
    var properties: [MQTTProperty] = []

    func bodySize(v5: Bool) -> Int {
        var size = 2 + (v5 ? properties.mqttEncodedSize : 0)
        for filter in filters { size += filter.mqttEncodedSize }
        return size
    }

    func writeBody(to buffer: inout ByteBuffer, v5: Bool) {
        buffer.writeInteger(packetID)
        if v5 { properties.writeMQTT(to: &buffer) }
        for filter in filters { buffer.writeMQTTString(filter) }
    }

    static func readBody(from buffer: inout ByteBuffer, v5: Bool) throws(MQTTDecodeError) -> MQTTUnsubscribePacket {
        let packetID = try buffer.readMQTTInteger(as: UInt16.self)
        guard packetID != 0 else { throw MQTTDecodeError(.malformed, "packet identifier 0") }
        let properties = v5 ? try [MQTTProperty].readMQTT(from: &buffer) : []
        var filters: [String] = []
        while buffer.readableBytes > 0 { filters.append(try buffer.readMQTTString()) }
        guard !filters.isEmpty else { throw MQTTDecodeError(.malformed, "UNSUBSCRIBE without topic filters") }
        return MQTTUnsubscribePacket(packetID: packetID, filters: filters, properties: properties)
    }
}
