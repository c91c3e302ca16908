//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// Wire primitives of the MySQL client/server protocol.
///
/// All fixed-width integers are little-endian. A length-encoded integer is one byte below 0xFB, or a
/// marker byte followed by 2 (0xFC), 3 (0xFD) or 8 (0xFE) bytes; 0xFB stands for SQL NULL inside a
/// text row and 0xFF is never a valid first byte. Every reader here returns `nil` without moving the
/// reader index when the buffer is too short.
extension ByteBuffer {
    /// Reads a length-encoded integer, or returns `nil` when the buffer ends first.
    ///
    /// - Throws: ``MySQLDecodeError`` when the first byte is 0xFB or 0xFF.
    mutating func readMySQLLengthEncodedInteger() throws(MySQLDecodeError) -> UInt64? {
        guard let first = getInteger(at: readerIndex, as: UInt8.self) else { return nil }
        switch first {
        case 0..<0xFB:
            moveReaderIndex(forwardBy: 1)
            return UInt64(first)
        case 0xFC:
            guard let value = getInteger(at: readerIndex + 1, endianness: .little, as: UInt16.self) else { return nil }
            moveReaderIndex(forwardBy: 3)
            return UInt64(value)
        case 0xFD:
            guard let bytes = getBytes(at: readerIndex + 1, length: 3) else { return nil }
            moveReaderIndex(forwardBy: 4)
            return UInt64(bytes[0]) | UInt64(bytes[1]) << 8 | UInt64(bytes[2]) << 16
        case 0xFE:
            guard let value = getInteger(at: readerIndex + 1, endianness: .little, as: UInt64.self) else { return nil }
            moveReaderIndex(forwardBy: 9)
            return value
        default:
            throw MySQLDecodeError(.invalidLengthEncodedInteger, "unexpected marker byte 0x\(String(first, radix: 16))")
        }
    }

    /// Writes a length-encoded integer in its shortest form.
    @discardableResult
    mutating func writeMySQLLengthEncodedInteger(_ value: UInt64) -> Int {
        switch value {
        case 0..<0xFB:
            return writeInteger(UInt8(value))
        case 0xFB...0xFFFF:
            return writeInteger(UInt8(0xFC)) + writeInteger(UInt16(value), endianness: .little)
        case 0x1_0000...0xFF_FFFF:
            return writeInteger(UInt8(0xFD)) + writeInteger(UInt8(value & 0xFF)) + writeInteger(UInt16(value >> 8), endianness: .little)
        default:
            return writeInteger(UInt8(0xFE)) + writeInteger(value, endianness: .little)
        }
    }

    /// Reads a length-encoded string as raw bytes, or returns `nil` when the buffer ends first.
    mutating func readMySQLLengthEncodedSlice() throws(MySQLDecodeError) -> ByteBuffer? {
        let start = readerIndex
        guard let length = try readMySQLLengthEncodedInteger() else { return nil }
        guard length <= UInt64(readableBytes), let slice = readSlice(length: Int(length)) else {
            moveReaderIndex(to: start)
            return nil
        }
        return slice
    }

    /// Reads a length-encoded UTF-8 string, or returns `nil` when the buffer ends first.
    mutating func readMySQLLengthEncodedString() throws(MySQLDecodeError) -> String? {
        guard let slice = try readMySQLLengthEncodedSlice() else { return nil }
        return String(buffer: slice)
    }

    /// Writes `bytes` prefixed with their length-encoded length.
    @discardableResult
    mutating func writeMySQLLengthEncodedBytes(_ bytes: some Collection<UInt8>) -> Int {
        writeMySQLLengthEncodedInteger(UInt64(bytes.count)) + writeBytes(bytes)
    }

    /// Writes a UTF-8 string prefixed with its length-encoded length.
    @discardableResult
    mutating func writeMySQLLengthEncodedString(_ string: String) -> Int {
        writeMySQLLengthEncodedBytes(Array(string.utf8))
    }

    /// Reads a NUL-terminated string, or returns `nil` when no NUL byte follows.
    mutating func readMySQLNullTerminatedString() -> String? {
        guard let end = readableBytesView.firstIndex(of: 0) else { return nil }
        let length = end - readableBytesView.startIndex
        let string = readString(length: length)
        moveReaderIndex(forwardBy: 1)
        return string
    }

    /// Writes a string followed by a NUL byte.
    @discardableResult
    mutating func writeMySQLNullTerminatedString(_ string: String) -> Int {
        writeString(string) + writeInteger(UInt8(0))
    }

    /// Reads a little-endian integer.
    mutating func readMySQLInteger<T: FixedWidthInteger>(as type: T.Type = T.self) -> T? {
        readInteger(endianness: .little, as: type)
    }

    /// Writes a little-endian integer.
    @discardableResult
    mutating func writeMySQLInteger<T: FixedWidthInteger>(_ value: T) -> Int {
        writeInteger(value, endianness: .little)
    }
}
