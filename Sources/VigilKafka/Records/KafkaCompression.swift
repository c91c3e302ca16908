//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import CVigilCodecs
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
    /// LZ4 frames (liblz4, loaded at run time).
    public static let lz4 = KafkaCompression(attribute: 3)
    /// Zstandard (libzstd, loaded at run time); brokers accept it from Produce v7 and Kafka 2.1.
    public static let zstd = KafkaCompression(attribute: 4)

    /// The codecs by their names in configuration files (librdkafka's `compression.type` names).
    public static let byName: [String: KafkaCompression] = ["none": .none, "gzip": .gzip, "lz4": .lz4, "zstd": .zstd]

    /// `none`, `gzip`, `lz4` or `zstd` (`snappy` and unknown codecs by number).
    public var description: String {
        switch attribute {
        case 0: "none"
        case 1: "gzip"
        case 2: "snappy"
        case 3: "lz4"
        case 4: "zstd"
        default: "codec \(attribute)"
        }
    }

    /// Whether this process can write and read batches in this codec: always for none and gzip;
    /// for lz4 and zstd when their shared library could be loaded.
    public var isAvailable: Bool {
        switch attribute {
        case 0, 1: true
        case 3: cvigil_codec_available(cvigil_codec_lz4) != 0
        case 4: cvigil_codec_available(cvigil_codec_zstd) != 0
        default: false
        }
    }

    func compress(_ section: ByteBuffer) -> ByteBuffer {
        switch attribute {
        case 0: section
        case 1: KafkaGzip.compress(section)
        case 3: KafkaLoadedCodec.compress(section, codec: cvigil_codec_lz4)
        case 4: KafkaLoadedCodec.compress(section, codec: cvigil_codec_zstd)
        default: preconditionFailure("no compressor for \(self)")
        }
    }

    func decompress(_ section: ByteBuffer, limit: Int) throws(KafkaDecodeError) -> ByteBuffer {
        switch attribute {
        case 0: return section
        case 1: return try KafkaGzip.decompress(section, limit: limit)
        case 3: return try KafkaLoadedCodec.decompress(section, codec: cvigil_codec_lz4, name: "lz4", limit: limit)
        case 4: return try KafkaLoadedCodec.decompress(section, codec: cvigil_codec_zstd, name: "zstd", limit: limit)
        default: throw KafkaDecodeError(.unsupportedCompression, "RecordBatch.attributes: \(self) records")
        }
    }
}

/// LZ4 and Zstandard through the libraries `CVigilCodecs` loads, with the inflated size bounded
/// as for gzip.
enum KafkaLoadedCodec {
    static func compress(_ input: ByteBuffer, codec: cvigil_codec) -> ByteBuffer {
        let bound = cvigil_codec_compress_bound(codec, input.readableBytes)
        precondition(bound > 0, "compressing with a codec whose library is not loaded (check isAvailable first)")
        var output = ByteBuffer()
        _ = input.withUnsafeReadableBytes { source in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { target in
                let written = cvigil_codec_compress(codec, source.baseAddress, source.count, target.baseAddress, target.count)
                precondition(written >= 0, "compression into its bound failed")
                return written
            }
        }
        return output
    }

    static func decompress(_ input: ByteBuffer, codec: cvigil_codec, name: String, limit: Int) throws(KafkaDecodeError) -> ByteBuffer {
        var target: UnsafeMutableRawPointer?
        let result = input.withUnsafeReadableBytes { source in
            cvigil_codec_decompress(codec, source.baseAddress, source.count, max(limit, 0), &target)
        }
        defer { cvigil_codec_free(target) }
        switch result {
        case -2: throw KafkaDecodeError(.invalidLength, "\(name) records inflate beyond \(limit) bytes")
        case -3: throw KafkaDecodeError(.unsupportedCompression, "\(name) records, and lib\(name) could not be loaded")
        case -4: throw KafkaDecodeError(.invalidValue, "\(name) records: out of memory")
        case ..<0: throw KafkaDecodeError(.invalidValue, "\(name) records are malformed")
        default:
            guard let target else { return ByteBuffer() }
            return ByteBuffer(bytes: UnsafeRawBufferPointer(start: target, count: result))
        }
    }
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
