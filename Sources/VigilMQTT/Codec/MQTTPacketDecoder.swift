//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// Splits a byte stream into MQTT packets.
///
/// The decoder reads the fixed header, rejects a packet whose announced size exceeds
/// ``maxPacketSize`` before buffering it, waits until the whole packet is present and then parses it.
/// It returns `nil` while more bytes are needed and never moves the reader index past a partial
/// packet. Any violation of the specification throws an ``MQTTDecodeError``.
struct MQTTPacketDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = MQTTPacket

    /// The protocol version used to parse version-dependent packets.
    var version: MQTTProtocolVersion
    /// The largest accepted packet, fixed header included.
    var maxPacketSize: Int

    init(version: MQTTProtocolVersion, maxPacketSize: Int = 268_435_460) {
        self.version = version
        self.maxPacketSize = maxPacketSize
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> MQTTPacket? {
        try self.decodePacket(buffer: &buffer)
    }

    /// Typed-throws form of ``decode(buffer:)``.
    mutating func decodePacket(buffer: inout ByteBuffer) throws(MQTTDecodeError) -> MQTTPacket? {
        guard let header = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        let type = header >> 4
        if type == 0 || (type == 15 && version != .v5) {
            throw MQTTDecodeError(.unknownPacketType, "packet type \(type)")
        }
        var rest = buffer
        rest.moveReaderIndex(forwardBy: 1)
        guard let length = try rest.readMQTTVariableInteger() else { return nil }
        let headerSize = rest.readerIndex - buffer.readerIndex
        guard headerSize + Int(length) <= maxPacketSize else {
            throw MQTTDecodeError(.packetTooLarge, "packet of \(headerSize + Int(length)) bytes, limit \(maxPacketSize)")
        }
        guard var body = rest.readSlice(length: Int(length)) else { return nil }
        buffer.moveReaderIndex(to: rest.readerIndex)
        return try MQTTPacket.read(header: header, body: &body, version: version)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MQTTPacket? {
        if let packet = try self.decodePacket(buffer: &buffer) { return packet }
        if seenEOF && buffer.readableBytes > 0 {
            throw MQTTDecodeError(.truncated, "\(buffer.readableBytes) bytes of an incomplete packet at end of stream")
        }
        return nil
    }
}

/// Encodes MQTT packets; used in tests and by pipelines that write ``MQTTPacket`` values.
struct MQTTPacketEncoder: MessageToByteEncoder {
    typealias OutboundIn = MQTTPacket

    /// The protocol version used to write version-dependent packets.
    var version: MQTTProtocolVersion

    func encode(data: MQTTPacket, out: inout ByteBuffer) {
        data.write(to: &out, version: version)
    }
}
