//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import VigilClientSupport

/// A sorted table (`NNNNNN.ldb`, or `.sst` from older versions): data blocks of prefix-compressed
/// entries, an index block that points at them, and a 48-byte footer that points at the index.
enum LevelDBTable {
    static let footerSize = 48
    static let magic: UInt64 = 0xDB47_7524_8B80_FB57
    static let blockTrailerSize = 5

    /// Every entry of a table, in file order, as internal keys (user key, sequence, kind).
    static func writes(_ bytes: [UInt8], limits: LevelDBLimits, file: String) throws(LevelDBError) -> [LevelDBWrite] {
        guard bytes.count >= footerSize else {
            throw LevelDBError(.truncated, file: file, "\(bytes.count) bytes, shorter than a table's footer")
        }
        var footer = LevelDBBytes(bytes[(bytes.count - footerSize)...], file: file)
        _ = try handle(&footer, in: bytes.count)  // the metaindex (filters): not needed to read
        let index = try handle(&footer, in: bytes.count)
        var magicReader = LevelDBBytes(bytes[(bytes.count - 8)...], file: file)
        guard try magicReader.fixed64() == magic else {
            throw LevelDBError(.malformed, file: file, "no table magic number: not a LevelDB table")
        }
        var writes: [LevelDBWrite] = []
        for (_, value) in try entries(of: try block(index, in: bytes, limits: limits, file: file), limits: limits, file: file) {
            var reader = LevelDBBytes(value[...], file: file)
            let data = try handle(&reader, in: bytes.count)
            for (key, value) in try entries(of: try block(data, in: bytes, limits: limits, file: file), limits: limits, file: file) {
                guard writes.count < limits.maxEntries else {
                    throw LevelDBError(.limitExceeded, file: file, "more than \(limits.maxEntries) entries")
                }
                writes.append(try internalWrite(key: key, value: value, file: file))
            }
        }
        return writes
    }

    /// An internal key is the user key and 8 bytes: the sequence number shifted left by 8, or'ed
    /// with the kind (1 value, 0 deletion).
    private static func internalWrite(key: [UInt8], value: [UInt8], file: String) throws(LevelDBError) -> LevelDBWrite {
        guard key.count >= 8 else { throw LevelDBError(.malformed, file: file, "an internal key of \(key.count) bytes") }
        var trailer = LevelDBBytes(key[(key.count - 8)...], file: file)
        let tag = try trailer.fixed64()
        let userKey = key[..<(key.count - 8)]
        switch tag & 0xFF {
        case 1: return LevelDBWrite(sequence: tag >> 8, key: userKey, value: value[...])
        case 0: return LevelDBWrite(sequence: tag >> 8, key: userKey, value: nil)
        default: throw LevelDBError(.malformed, file: file, "internal key kind \(tag & 0xFF)")
        }
    }

    /// A block handle: offset and size as varints, checked to lie inside the file.
    private static func handle(_ reader: inout LevelDBBytes, in fileSize: Int) throws(LevelDBError) -> Range<Int> {
        let offset = try reader.varint64()
        let size = try reader.varint64()
        guard offset <= UInt64(fileSize), size <= UInt64(fileSize) - offset,
            UInt64(fileSize) - offset - size >= UInt64(blockTrailerSize)
        else {
            throw reader.malformed("a block handle (offset \(offset), size \(size)) outside the file's \(fileSize) bytes")
        }
        return Int(offset)..<Int(offset + size)
    }

    /// A block's contents, checksum verified and decompressed.
    private static func block(_ range: Range<Int>, in bytes: [UInt8], limits: LevelDBLimits, file: String) throws(LevelDBError) -> [UInt8] {
        let contents = bytes[range]
        var trailer = LevelDBBytes(bytes[range.upperBound..<(range.upperBound + blockTrailerSize)], file: file)
        let compression = try trailer.byte()
        let checksum = try trailer.fixed32()
        guard CRC32C.update(CRC32C.checksum(contents), with: CollectionOfOne(compression)) == LevelDBChecksum.unmask(checksum) else {
            throw LevelDBError(.checksumMismatch, file: file, "the block at byte \(range.lowerBound) does not match its checksum")
        }
        switch compression {
        case 0: return Array(contents)
        case 1: return try Snappy.decompress(contents, limit: limits.maxBlockBytes, file: file)
        default:
            throw LevelDBError(.unsupported, file: file, "block compression \(compression) (only none and Snappy are read)")
        }
    }

    /// The entries of a block. Each shares a prefix with the previous key: shared length, unshared
    /// length, value length (varints), the unshared key bytes and the value. The block ends with
    /// 32-bit restart offsets and their count, which a sequential reader only needs to skip.
    private static func entries(of block: [UInt8], limits: LevelDBLimits, file: String) throws(LevelDBError) -> [(key: [UInt8], value: [UInt8])] {
        guard block.count >= 4 else { throw LevelDBError(.truncated, file: file, "a block of \(block.count) bytes") }
        var countReader = LevelDBBytes(block[(block.count - 4)...], file: file)
        let restarts = Int(try countReader.fixed32())
        guard restarts <= (block.count - 4) / 4 else {
            throw LevelDBError(.malformed, file: file, "a block claims \(restarts) restart points in \(block.count) bytes")
        }
        var reader = LevelDBBytes(block[..<(block.count - 4 - 4 * restarts)], file: file)
        var entries: [(key: [UInt8], value: [UInt8])] = []
        var key: [UInt8] = []
        while !reader.isAtEnd {
            let shared = Int(try reader.varint32())
            let unshared = Int(try reader.varint32())
            let valueLength = Int(try reader.varint32())
            guard shared <= key.count else { throw reader.malformed("an entry sharing \(shared) bytes of a \(key.count)-byte key") }
            guard shared + unshared <= limits.maxKeyBytes + 8 else {
                throw LevelDBError(.limitExceeded, file: file, "a key of \(shared + unshared) bytes")
            }
            guard valueLength <= limits.maxValueBytes else {
                throw LevelDBError(.limitExceeded, file: file, "a value of \(valueLength) bytes")
            }
            key.removeSubrange(shared...)
            key.append(contentsOf: try reader.bytes(unshared))
            entries.append((key, Array(try reader.bytes(valueLength))))
        }
        return entries
    }
}
