//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// One logical packet of the MySQL client/server protocol.
///
/// On the wire every packet has a 4-byte header: a 3-byte little-endian payload length and a 1-byte
/// sequence id. A payload of 2^24 - 1 bytes or more is split into frames of exactly 0xFFFFFF bytes
/// followed by a shorter frame (possibly empty), each with the next sequence id:
///
/// ```
/// +----------------+-----+----------------------+
/// | length (3, LE) | seq | payload (length)     |
/// +----------------+-----+----------------------+
/// ```
struct MySQLPacket: Hashable, Sendable {
    /// The largest payload of one wire frame.
    static let maxFramePayload = 0xFF_FFFF

    /// The sequence id of the last wire frame of this packet; the next packet in the same exchange
    /// carries this value plus one.
    var sequenceID: UInt8
    /// The joined payload of all frames.
    var payload: ByteBuffer

    init(sequenceID: UInt8, payload: ByteBuffer) {
        self.sequenceID = sequenceID
        self.payload = payload
    }

    /// The number of wire frames `payloadLength` bytes need.
    static func frameCount(payloadLength: Int) -> Int {
        payloadLength / maxFramePayload + 1
    }
}

extension ByteBuffer {
    /// Writes `payload` as one logical packet whose first frame has `sequenceID`, splitting it into
    /// 16 MB frames when needed.
    ///
    /// - Returns: The sequence id of the last frame written.
    @discardableResult
    mutating func writeMySQLPacket(sequenceID: UInt8, payload: ByteBuffer) -> UInt8 {
        var payload = payload
        var sequence = sequenceID
        while true {
            let length = Swift.min(payload.readableBytes, MySQLPacket.maxFramePayload)
            writeInteger(UInt8(length & 0xFF))
            writeInteger(UInt16(length >> 8), endianness: .little)
            writeInteger(sequence)
            var frame = payload.readSlice(length: length)!
            writeBuffer(&frame)
            if length < MySQLPacket.maxFramePayload { return sequence }
            sequence &+= 1
        }
    }
}

/// Splits a byte stream into logical MySQL packets, joining 16 MB frames.
///
/// The decoder looks ahead through the frame headers without consuming anything until the final
/// frame of a packet has arrived, so a partial packet never moves the reader index. A packet whose
/// announced size exceeds ``maxPacketSize`` is rejected before it is buffered, and a continuation
/// frame with the wrong sequence id is a protocol violation.
struct MySQLPacketDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = MySQLPacket

    /// The largest logical payload accepted.
    var maxPacketSize: Int

    init(maxPacketSize: Int = 64 << 20) {
        self.maxPacketSize = maxPacketSize
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> MySQLPacket? {
        var offset = buffer.readerIndex
        var total = 0
        var frames = 0
        var lastSequence: UInt8 = 0
        // Pass 1: find the final frame and validate headers without consuming.
        while true {
            guard let low = buffer.getInteger(at: offset, as: UInt8.self),
                let high = buffer.getInteger(at: offset + 1, endianness: .little, as: UInt16.self),
                let sequence = buffer.getInteger(at: offset + 3, as: UInt8.self)
            else { return nil }
            let length = Int(low) | Int(high) << 8
            if frames > 0, sequence != lastSequence &+ 1 {
                throw MySQLDecodeError(.outOfOrderPacket, "frame \(frames) has sequence id \(sequence), expected \(lastSequence &+ 1)")
            }
            lastSequence = sequence
            total += length
            frames += 1
            guard total <= maxPacketSize else {
                throw MySQLDecodeError(.packetTooLarge, "packet of at least \(total) bytes exceeds \(maxPacketSize)")
            }
            offset += 4 + length
            guard offset - buffer.readerIndex <= buffer.readableBytes else { return nil }
            if length < MySQLPacket.maxFramePayload { break }
        }
        // Pass 2: the whole packet is present; consume it.
        if frames == 1 {
            buffer.moveReaderIndex(forwardBy: 4)
            let payload = buffer.readSlice(length: total)!
            return MySQLPacket(sequenceID: lastSequence, payload: payload)
        }
        var payload = ByteBufferAllocator().buffer(capacity: total)
        for _ in 0..<frames {
            let low = buffer.readInteger(as: UInt8.self)!
            let high = buffer.readInteger(endianness: .little, as: UInt16.self)!
            buffer.moveReaderIndex(forwardBy: 1)
            var frame = buffer.readSlice(length: Int(low) | Int(high) << 8)!
            payload.writeBuffer(&frame)
        }
        return MySQLPacket(sequenceID: lastSequence, payload: payload)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MySQLPacket? {
        try decode(buffer: &buffer)
    }
}
