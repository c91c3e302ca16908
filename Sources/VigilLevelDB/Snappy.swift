//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Snappy decompression (the raw format, not the framed one), which LevelDB uses for its blocks.
///
/// A stream is the uncompressed length as a varint, then elements: literals and back-references
/// (copies) into the output written so far. Every length and offset is checked against the declared
/// size and the output, so a hostile stream ends in an error, never a trap or an unbounded buffer.
public enum Snappy {
    /// Decompresses a raw Snappy stream.
    ///
    /// - Parameters:
    ///   - input: The compressed bytes.
    ///   - limit: The largest uncompressed size accepted.
    ///   - file: Named in errors.
    /// - Throws: ``LevelDBError`` when the stream is malformed, truncated or larger than `limit`.
    public static func decompress(_ input: ArraySlice<UInt8>, limit: Int, file: String = "snappy") throws(LevelDBError) -> [UInt8] {
        var reader = LevelDBBytes(input, file: file)
        let length = try reader.length(limit: limit)
        var output: [UInt8] = []
        output.reserveCapacity(length)
        while !reader.isAtEnd {
            let tag = try reader.byte()
            switch tag & 0x03 {
            case 0:  // literal
                var count = Int(tag >> 2) + 1
                if count > 60 {
                    // 61...64: the length minus one follows in 1...4 little-endian bytes.
                    var extended = 0
                    for shift in 0..<(count - 60) { extended |= Int(try reader.byte()) << (8 * shift) }
                    count = extended + 1
                }
                guard count <= length - output.count else { throw overrun(reader, length) }
                output.append(contentsOf: try reader.bytes(count))
            case 1:  // copy, 3-bit length, 11-bit offset
                let count = Int((tag >> 2) & 0x07) + 4
                let offset = Int(tag >> 5) << 8 | Int(try reader.byte())
                try copy(count: count, offset: offset, into: &output, length: length, reader)
            case 2:  // copy, 6-bit length, 16-bit offset
                let count = Int(tag >> 2) + 1
                let offset = Int(try reader.byte()) | Int(try reader.byte()) << 8
                try copy(count: count, offset: offset, into: &output, length: length, reader)
            default:  // copy, 6-bit length, 32-bit offset
                let count = Int(tag >> 2) + 1
                let offset = Int(try reader.fixed32())
                try copy(count: count, offset: offset, into: &output, length: length, reader)
            }
        }
        guard output.count == length else {
            throw LevelDBError(.truncated, file: file, "snappy stream gives \(output.count) of its \(length) bytes")
        }
        return output
    }

    private static func copy(count: Int, offset: Int, into output: inout [UInt8], length: Int, _ reader: LevelDBBytes) throws(LevelDBError) {
        guard offset > 0, offset <= output.count else { throw reader.malformed("a snappy copy from offset \(offset) of \(output.count) bytes") }
        guard count <= length - output.count else { throw overrun(reader, length) }
        // Byte by byte: a copy may overlap what it writes (a run of one repeated byte has offset 1).
        var source = output.count - offset
        for _ in 0..<count {
            output.append(output[source])
            source += 1
        }
    }

    private static func overrun(_ reader: LevelDBBytes, _ length: Int) -> LevelDBError {
        reader.malformed("snappy output beyond its declared \(length) bytes")
    }
}
