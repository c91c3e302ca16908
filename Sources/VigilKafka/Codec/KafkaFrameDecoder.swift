//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// Splits the byte stream into response frames: a 4-byte big-endian size, then that many bytes.
///
/// The size is checked against ``maximumFrameSize`` before waiting for the body, so a broker (or
/// anything else on the port) announcing a 2 GB frame fails at once instead of buffering it.
struct KafkaFrameDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    /// The most room reserved ahead of the bytes that have arrived: a peer that announces a frame
    /// at the limit and sends nothing more holds this much, not the whole announced size.
    static let maximumReservationAhead = 16 << 20

    var maximumFrameSize: Int

    init(maximumFrameSize: Int = 100 << 20) {
        self.maximumFrameSize = maximumFrameSize
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return nil }
        // A response holds at least its correlation id.
        guard size >= 4, Int(size) <= maximumFrameSize else {
            throw KafkaDecodeError(.frameTooLarge, "frame size \(size)")
        }
        guard buffer.readableBytes >= 4 + Int(size) else {
            // A fetch response is megabytes: room for it at once, instead of doubling (and copying)
            // the buffer a dozen times while it arrives; at most 16 MiB (or as much as has
            // arrived) ahead, so the reservation follows what the peer really sends.
            let missing = 4 + Int(size) - buffer.readableBytes
            let ahead = max(Self.maximumReservationAhead, buffer.readableBytes)
            buffer.reserveCapacity(minimumWritableBytes: min(missing, ahead))
            return nil
        }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(size))
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        try decode(buffer: &buffer)
    }
}
