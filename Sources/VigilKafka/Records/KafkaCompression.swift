//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import CVigilZlib
import NIOCore

/// The compression of a record batch's records section (attribute bits 0–2).
public struct KafkaCompression: Hashable, Sendable, CustomStringConvertible {
    /// The attribute value.
    let attribute: Int16

    /// No compression.
    public static let none = KafkaCompression(attribute: 0)
    /// gzip (zlib's deflate in a gzip wrapper), which every client and broker reads.
    public static let gzip = KafkaCompression(attribute: 1)

    /// `none` or `gzip`.
    public var description: String { attribute == 0 ? "none" : "gzip" }
}

/// gzip through zlib, with the inflated size bounded so a small hostile batch cannot expand into
/// gigabytes (a "zip bomb").
enum KafkaGzip {
    static func compress(_ input: ByteBuffer) -> ByteBuffer {
        var stream = z_stream()
        // 15 window bits + 16 selects the gzip wrapper rather than raw zlib.
        guard
            deflateInit2_(
                &stream,
                Z_DEFAULT_COMPRESSION,
                Z_DEFLATED,
                15 + 16,
                8,
                Z_DEFAULT_STRATEGY,
                ZLIB_VERSION,
                Int32(MemoryLayout<z_stream>.size)
            ) == Z_OK
        else { preconditionFailure("deflateInit2 failed: zlib out of memory") }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, UInt(input.readableBytes)))
        var output = ByteBuffer()
        _ = input.withUnsafeReadableBytes { source in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { target in
                stream.next_in = UnsafeMutablePointer(mutating: source.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(source.count)
                stream.next_out = target.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(target.count)
                // With deflateBound's room one Z_FINISH call always completes.
                let status = deflate(&stream, Z_FINISH)
                precondition(status == Z_STREAM_END, "deflate with deflateBound room did not finish")
                return target.count - Int(stream.avail_out)
            }
        }
        return output
    }

    static func decompress(_ input: ByteBuffer, limit: Int) throws(KafkaDecodeError) -> ByteBuffer {
        var stream = z_stream()
        // 15 + 32: accept a gzip or zlib header, whichever the producer wrote.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw KafkaDecodeError(.invalidValue, "gzip: inflateInit2")
        }
        defer { inflateEnd(&stream) }
        var output = ByteBuffer()
        let status: Int32 = input.withUnsafeReadableBytes { source in
            stream.next_in = UnsafeMutablePointer(mutating: source.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(source.count)
            while true {
                if output.readableBytes >= limit { return Z_BUF_ERROR }
                let chunk = min(max(source.count * 4, 64 << 10), limit - output.readableBytes)
                var result: Int32 = Z_OK
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: chunk) { target in
                    let room = min(target.count, chunk)
                    stream.next_out = target.bindMemory(to: Bytef.self).baseAddress
                    stream.avail_out = uInt(room)
                    result = inflate(&stream, Z_NO_FLUSH)
                    return room - Int(stream.avail_out)
                }
                if result == Z_STREAM_END { return Z_STREAM_END }
                if result != Z_OK { return result }
                if stream.avail_in == 0 && stream.avail_out != 0 { return Z_DATA_ERROR }
            }
        }
        guard status == Z_STREAM_END else {
            throw KafkaDecodeError(status == Z_BUF_ERROR ? .invalidLength : .invalidValue, "gzip records (zlib status \(status))")
        }
        return output
    }
}
