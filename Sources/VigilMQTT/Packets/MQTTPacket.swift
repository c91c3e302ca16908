//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// The control packet types (the high nibble of the first fixed-header byte).
enum MQTTPacketType: UInt8, Sendable {
    case connect = 1
    case connack = 2
    case publish = 3
    case puback = 4
    case pubrec = 5
    case pubrel = 6
    case pubcomp = 7
    case subscribe = 8
    case suback = 9
    case unsubscribe = 10
    case unsuback = 11
    case pingreq = 12
    case pingresp = 13
    case disconnect = 14
    case auth = 15
}

/// Any MQTT control packet, in the form both directions share.
///
/// ```
/// Fixed header:  +--------+--------+ ... +--------+
///                | type|fl| remaining length (1-4) |  variable header and payload ...
///                +--------+--------+ ... +--------+
/// ```
enum MQTTPacket: Hashable, Sendable {
    case connect(MQTTConnectPacket)
    case connack(MQTTConnAckPacket)
    case publish(MQTTPublishPacket)
    /// PUBACK, PUBREC, PUBREL or PUBCOMP.
    case ack(MQTTAckPacket)
    case subscribe(MQTTSubscribePacket)
    case suback(MQTTSubAckPacket)
    case unsubscribe(MQTTUnsubscribePacket)
    case unsuback(MQTTSubAckPacket)
    case pingreq
    case pingresp
    case disconnect(MQTTDisconnectPacket)
    case auth(MQTTAuthPacket)

    var type: MQTTPacketType {
        switch self {
        case .connect: .connect
        case .connack: .connack
        case .publish: .publish
        case .ack(let ack): ack.type
        case .subscribe: .subscribe
        case .suback: .suback
        case .unsubscribe: .unsubscribe
        case .unsuback: .unsuback
        case .pingreq: .pingreq
        case .pingresp: .pingresp
        case .disconnect: .disconnect
        case .auth: .auth
        }
    }

    /// Writes the whole packet, fixed header included.
    ///
    /// - Parameters:
    ///   - buffer: Where to write.
    ///   - version: The protocol version of the connection (CONNECT uses its own).
    func write(to buffer: inout ByteBuffer, version: MQTTProtocolVersion) {
        let v5 = version == .v5
        switch self {
        case .connect(let p):
            Self.writeFixedHeader(.connect, flags: 0, length: p.bodySize, to: &buffer)
            p.writeBody(to: &buffer)
        case .connack(let p):
            Self.writeFixedHeader(.connack, flags: 0, length: p.bodySize(v5: v5), to: &buffer)
            p.writeBody(to: &buffer, v5: v5)
        case .publish(let p):
            p.write(to: &buffer, v5: v5)
        case .ack(let p):
            Self.writeFixedHeader(p.type, flags: p.type == .pubrel ? 0b0010 : 0, length: p.bodySize(v5: v5), to: &buffer)
            p.writeBody(to: &buffer, v5: v5)
        case .subscribe(let p):
            Self.writeFixedHeader(.subscribe, flags: 0b0010, length: p.bodySize(v5: v5), to: &buffer)
            p.writeBody(to: &buffer, v5: v5)
        case .suback(let p):
            Self.writeFixedHeader(.suback, flags: 0, length: p.bodySize(v5: v5, unsuback: false), to: &buffer)
            p.writeBody(to: &buffer, v5: v5, unsuback: false)
        case .unsubscribe(let p):
            Self.writeFixedHeader(.unsubscribe, flags: 0b0010, length: p.bodySize(v5: v5), to: &buffer)
            p.writeBody(to: &buffer, v5: v5)
        case .unsuback(let p):
            Self.writeFixedHeader(.unsuback, flags: 0, length: p.bodySize(v5: v5, unsuback: true), to: &buffer)
            p.writeBody(to: &buffer, v5: v5, unsuback: true)
        case .pingreq:
            Self.writeFixedHeader(.pingreq, flags: 0, length: 0, to: &buffer)
        case .pingresp:
            Self.writeFixedHeader(.pingresp, flags: 0, length: 0, to: &buffer)
        case .disconnect(let p):
            Self.writeFixedHeader(.disconnect, flags: 0, length: p.bodySize(v5: v5), to: &buffer)
            p.writeBody(to: &buffer, v5: v5)
        case .auth(let p):
            Self.writeFixedHeader(.auth, flags: 0, length: p.bodySize, to: &buffer)
            p.writeBody(to: &buffer)
        }
    }

    static func writeFixedHeader(_ type: MQTTPacketType, flags: UInt8, length: Int, to buffer: inout ByteBuffer) {
        buffer.writeInteger(type.rawValue << 4 | flags)
        buffer.writeMQTTVariableInteger(UInt32(length))
    }

    /// Decodes one packet from its fixed-header byte and its complete body.
    ///
    /// - Parameters:
    ///   - header: The first fixed-header byte.
    ///   - body: Exactly the bytes the remaining length announced.
    ///   - version: The protocol version of the connection.
    static func read(header: UInt8, body: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTDecodeError) -> MQTTPacket {
        let flags = header & 0x0F
        guard let type = MQTTPacketType(rawValue: header >> 4) else {
            throw MQTTDecodeError(.unknownPacketType, "packet type 0 is reserved")
        }
        let v5 = version == .v5
        func requireFlags(_ expected: UInt8) throws(MQTTDecodeError) {
            guard flags == expected else {
                throw MQTTDecodeError(.reservedFlags, "\(type) with fixed-header flags \(flags)")
            }
        }
        func requireEnd() throws(MQTTDecodeError) {
            guard body.readableBytes == 0 else {
                throw MQTTDecodeError(.badLength, "\(body.readableBytes) unexpected bytes at the end of \(type)")
            }
        }
        let packet: MQTTPacket
        switch type {
        case .connect:
            try requireFlags(0)
            packet = .connect(try MQTTConnectPacket.readBody(from: &body))
        case .connack:
            try requireFlags(0)
            packet = .connack(try MQTTConnAckPacket.readBody(from: &body, v5: v5))
        case .publish:
            return .publish(try MQTTPublishPacket.readBody(from: &body, flags: flags, v5: v5))
        case .puback, .pubrec, .pubcomp:
            try requireFlags(0)
            packet = .ack(try MQTTAckPacket.readBody(type: type, from: &body, v5: v5))
        case .pubrel:
            try requireFlags(0b0010)
            packet = .ack(try MQTTAckPacket.readBody(type: type, from: &body, v5: v5))
        case .subscribe:
            try requireFlags(0b0010)
            packet = .subscribe(try MQTTSubscribePacket.readBody(from: &body, v5: v5))
        case .suback:
            try requireFlags(0)
            packet = .suback(try MQTTSubAckPacket.readBody(from: &body, v5: v5, unsuback: false))
        case .unsubscribe:
            try requireFlags(0b0010)
            packet = .unsubscribe(try MQTTUnsubscribePacket.readBody(from: &body, v5: v5))
        case .unsuback:
            try requireFlags(0)
            packet = .unsuback(try MQTTSubAckPacket.readBody(from: &body, v5: v5, unsuback: true))
        case .pingreq:
            try requireFlags(0)
            packet = .pingreq
        case .pingresp:
            try requireFlags(0)
            packet = .pingresp
        case .disconnect:
            try requireFlags(0)
            packet = .disconnect(try MQTTDisconnectPacket.readBody(from: &body, v5: v5))
        case .auth:
            guard v5 else { throw MQTTDecodeError(.unknownPacketType, "AUTH is reserved in MQTT 3.1.1") }
            try requireFlags(0)
            packet = .auth(try MQTTAuthPacket.readBody(from: &body))
        }
        try requireEnd()
        return packet
    }
}

/// An MQTT reason code or 3.1.1 return code; values of 0x80 and above are failures.
typealias MQTTReasonCode = UInt8

extension MQTTReasonCode {
    /// Whether the code reports a failure.
    var isMQTTFailure: Bool { self >= 0x80 }
}
