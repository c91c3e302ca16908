//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// A bounds-checked cursor over a slice of bytes: LevelDB's varints, fixed-width little-endian
/// integers and length-prefixed strings. Every read checks the remaining length first.
struct LevelDBBytes {
    let bytes: ArraySlice<UInt8>
    private(set) var index: Int
    /// Named in errors.
    let file: String

    init(_ bytes: ArraySlice<UInt8>, file: String) {
        self.bytes = bytes
        self.index = bytes.startIndex
        self.file = file
    }

    var isAtEnd: Bool { index >= bytes.endIndex }
    var remaining: Int { bytes.endIndex - index }

    mutating func byte() throws(LevelDBError) -> UInt8 {
        guard index < bytes.endIndex else { throw truncated("a byte") }
        defer { index += 1 }
        return bytes[index]
    }

    mutating func fixed32() throws(LevelDBError) -> UInt32 { try littleEndian(UInt32.self) }

    mutating func fixed64() throws(LevelDBError) -> UInt64 { try littleEndian(UInt64.self) }

    private mutating func littleEndian<Value: FixedWidthInteger>(_: Value.Type) throws(LevelDBError) -> Value {
        let width = Value.bitWidth / 8
        guard remaining >= width else { throw truncated("a \(Value.bitWidth)-bit integer") }
        var value: Value = 0
        for shift in 0..<width { value |= Value(bytes[index + shift]) << (8 * shift) }
        index += width
        return value
    }

    /// A varint of at most 10 bytes; one that does not fit 64 bits is malformed.
    mutating func varint64() throws(LevelDBError) -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 7) {
            let byte = try byte()
            let bits = UInt64(byte & 0x7F)
            guard shift < 63 || bits <= 1 else { throw malformed("a varint beyond 64 bits") }
            value |= bits << UInt64(shift)
            if byte & 0x80 == 0 { return value }
        }
        throw malformed("a varint longer than 10 bytes")
    }

    mutating func varint32() throws(LevelDBError) -> UInt32 {
        let value = try varint64()
        guard value <= UInt64(UInt32.max) else { throw malformed("a 32-bit varint of \(value)") }
        return UInt32(value)
    }

    /// A length checked against what is left before it is used: never a trap on a hostile length.
    mutating func length(limit: Int) throws(LevelDBError) -> Int {
        let value = try varint64()
        guard value <= UInt64(limit) else { throw LevelDBError(.limitExceeded, file: file, "a length of \(value) bytes, the limit is \(limit)") }
        return Int(value)
    }

    mutating func bytes(_ count: Int) throws(LevelDBError) -> ArraySlice<UInt8> {
        guard count >= 0, remaining >= count else { throw truncated("\(count) bytes") }
        defer { index += count }
        return bytes[index..<(index + count)]
    }

    /// A varint length followed by that many bytes.
    mutating func lengthPrefixed(limit: Int) throws(LevelDBError) -> ArraySlice<UInt8> {
        try bytes(try length(limit: limit))
    }

    func truncated(_ what: String) -> LevelDBError {
        LevelDBError(.truncated, file: file, "ends at byte \(index - bytes.startIndex) where \(what) was expected")
    }

    func malformed(_ what: String) -> LevelDBError {
        LevelDBError(.malformed, file: file, "\(what) at byte \(index - bytes.startIndex)")
    }
}

/// LevelDB stores CRC-32C checksums "masked" (rotated and offset) so that the CRC of data that
/// itself holds CRCs stays well mixed.
enum LevelDBChecksum {
    static func unmask(_ masked: UInt32) -> UInt32 {
        let rotated = masked &- 0xA282_EAD8
        return (rotated >> 17) | (rotated << 15)
    }
}
