//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import VigilClientSupport

/// LevelDB's log format, shared by write-ahead logs (`NNNNNN.log`) and the `MANIFEST`.
///
/// The file is a sequence of 32 KiB blocks. A record is a 7-byte header (masked CRC-32C, length,
/// type) and its data; a record that does not fit the rest of a block is split into first, middle
/// and last fragments. The tail of a block too short for a header is padding.
enum LevelDBLog {
    static let blockSize = 32_768
    static let headerSize = 7

    private enum Fragment: UInt8 {
        case zero = 0
        case full = 1
        case first = 2
        case middle = 3
        case last = 4
    }

    /// The records of a log, reassembled.
    ///
    /// A write cut short by a crash leaves an incomplete record at the end of the newest log; LevelDB
    /// ignores it on recovery (nothing before it was lost), and so does this reader. A checksum that
    /// does not match anywhere else is an error.
    ///
    /// - Parameters:
    ///   - bytes: The file.
    ///   - recordLimit: The largest reassembled record accepted.
    ///   - file: Named in errors.
    static func records(_ bytes: [UInt8], recordLimit: Int, file: String) throws(LevelDBError) -> [[UInt8]] {
        var records: [[UInt8]] = []
        var pending: [UInt8]? = nil
        var offset = 0
        while offset < bytes.count {
            let blockRemaining = blockSize - offset % blockSize
            if blockRemaining < headerSize {
                offset += blockRemaining
                continue
            }
            guard bytes.count - offset >= headerSize else { break }  // a header cut short: the torn tail
            var header = LevelDBBytes(bytes[offset..<(offset + headerSize)], file: file)
            let checksum = try header.fixed32()
            let length = Int(try header.byte()) | Int(try header.byte()) << 8
            let typeByte = try header.byte()
            if typeByte == 0 && length == 0 {
                // Zeros written ahead by a memory-mapped writer: nothing more in this block.
                offset += blockRemaining
                continue
            }
            guard length <= blockRemaining - headerSize else {
                throw LevelDBError(.malformed, file: file, "a log record of \(length) bytes crosses its block at byte \(offset)")
            }
            let start = offset + headerSize
            guard bytes.count - start >= length else { break }  // the torn tail of the newest log
            let data = bytes[start..<(start + length)]
            guard CRC32C.update(CRC32C.checksum(CollectionOfOne(typeByte)), with: data) == LevelDBChecksum.unmask(checksum) else {
                throw LevelDBError(.checksumMismatch, file: file, "the log record at byte \(offset) does not match its checksum")
            }
            offset = start + length
            guard let type = Fragment(rawValue: typeByte), type != .zero else {
                throw LevelDBError(.malformed, file: file, "log record type \(typeByte) at byte \(offset)")
            }
            switch type {
            case .full:
                guard pending == nil else { throw orphan(file, offset) }
                records.append(Array(data))
            case .first:
                guard pending == nil else { throw orphan(file, offset) }
                pending = Array(data)
            case .middle, .last:
                guard var fragments = pending else { throw orphan(file, offset) }
                guard data.count <= recordLimit - fragments.count else {
                    throw LevelDBError(.limitExceeded, file: file, "a log record beyond \(recordLimit) bytes")
                }
                fragments.append(contentsOf: data)
                if type == .last {
                    records.append(fragments)
                    pending = nil
                } else {
                    pending = fragments
                }
            case .zero:
                break
            }
        }
        return records
    }

    private static func orphan(_ file: String, _ offset: Int) -> LevelDBError {
        LevelDBError(.malformed, file: file, "a log fragment out of order before byte \(offset)")
    }
}

/// One operation of a write batch (the record of a write-ahead log).
struct LevelDBWrite {
    var sequence: UInt64
    var key: ArraySlice<UInt8>
    /// `nil` for a deletion.
    var value: ArraySlice<UInt8>?
}

enum LevelDBWriteBatch {
    /// The operations of a write batch: a 64-bit sequence, a 32-bit count, then per operation a tag
    /// (1 put, 0 delete), the key and, for a put, the value, each length-prefixed. Operation `i`
    /// has sequence `sequence + i`.
    static func operations(_ record: [UInt8], limits: LevelDBLimits, file: String) throws(LevelDBError) -> [LevelDBWrite] {
        var reader = LevelDBBytes(record[...], file: file)
        let sequence = try reader.fixed64()
        let count = try reader.fixed32()
        // Each operation takes at least two bytes: a count beyond that is a lie, refused before
        // it sizes anything.
        guard Int(count) <= reader.remaining / 2 else { throw reader.malformed("a write batch of \(count) operations in \(reader.remaining) bytes") }
        guard sequence <= UInt64.max - UInt64(count) else { throw reader.malformed("write batch sequence \(sequence)") }
        var writes: [LevelDBWrite] = []
        writes.reserveCapacity(Int(count))
        for index in 0..<UInt64(count) {
            let tag = try reader.byte()
            let key = try reader.lengthPrefixed(limit: limits.maxKeyBytes)
            switch tag {
            case 1: writes.append(LevelDBWrite(sequence: sequence + index, key: key, value: try reader.lengthPrefixed(limit: limits.maxValueBytes)))
            case 0: writes.append(LevelDBWrite(sequence: sequence + index, key: key, value: nil))
            default: throw reader.malformed("write batch tag \(tag)")
            }
        }
        guard reader.isAtEnd else { throw reader.malformed("\(reader.remaining) bytes after the write batch's \(count) operations") }
        return writes
    }
}
