//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

// Wire primitives of MQTT (section 1.5 of both specifications): two- and four-byte integers are
// big-endian, a variable byte integer uses seven bits per byte with a continuation bit, strings
// and binary data carry a two-byte length prefix.

extension ByteBuffer {
    /// Reads a variable byte integer (at most four bytes).
    ///
    /// - Returns: The value, or `nil` when the buffer does not yet hold all of its bytes.
    mutating func readMQTTVariableInteger() throws(MQTTDecodeError) -> UInt32? {
        var value: UInt32 = 0
        var shift: UInt32 = 0
        var index = self.readerIndex
        for _ in 0..<4 {
            guard let byte = self.getInteger(at: index, as: UInt8.self) else { return nil }
            index += 1
            value |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                self.moveReaderIndex(to: index)
                return value
            }
            shift += 7
        }
        throw MQTTDecodeError(.remainingLengthOverflow, "variable byte integer longer than four bytes")
    }

    /// Writes a variable byte integer.
    @discardableResult
    mutating func writeMQTTVariableInteger(_ value: UInt32) -> Int {
        var value = value
        var written = 0
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value > 0 { byte |= 0x80 }
            written += self.writeInteger(byte)
        } while value > 0
        return written
    }

    /// The number of bytes a variable byte integer takes on the wire.
    static func mqttVariableIntegerSize(_ value: Int) -> Int {
        switch value {
        case ..<128: 1
        case ..<16_384: 2
        case ..<2_097_152: 3
        default: 4
        }
    }

    /// Reads a fixed-width integer of a complete packet body, or throws when it is missing.
    mutating func readMQTTInteger<T: FixedWidthInteger>(as: T.Type = T.self) throws(MQTTDecodeError) -> T {
        guard let value = self.readInteger(as: T.self) else {
            throw MQTTDecodeError(.badLength, "packet ends inside a \(T.bitWidth / 8)-byte integer")
        }
        return value
    }

    /// Reads a variable byte integer from a complete packet body, or throws when it is missing.
    mutating func readMQTTRequiredVariableInteger() throws(MQTTDecodeError) -> UInt32 {
        guard let value = try self.readMQTTVariableInteger() else {
            throw MQTTDecodeError(.badLength, "packet ends inside a variable byte integer")
        }
        return value
    }

    /// Reads a length-prefixed UTF-8 string, validating it as the specification requires:
    /// well-formed UTF-8 without U+0000.
    mutating func readMQTTString() throws(MQTTDecodeError) -> String {
        let length = Int(try self.readMQTTInteger(as: UInt16.self))
        guard self.readableBytes >= length else {
            throw MQTTDecodeError(.badLength, "string length \(length) exceeds packet")
        }
        let string: String? = self.withUnsafeReadableBytes { raw in
            let bytes = UnsafeRawBufferPointer(rebasing: raw[..<length])
            // Fast path: printable ASCII needs no decoding.
            var ascii = true
            for byte in bytes where byte == 0 || byte >= 0x80 {
                ascii = false
                break
            }
            if ascii { return String(decoding: bytes, as: UTF8.self) }
            if bytes.contains(0) { return nil }
            return String(validating: bytes, as: UTF8.self)
        }
        guard let string else {
            throw MQTTDecodeError(.invalidUTF8, "string is not well-formed UTF-8 or contains U+0000")
        }
        self.moveReaderIndex(forwardBy: length)
        return string
    }

    /// Reads length-prefixed binary data as a slice that shares storage with this buffer.
    mutating func readMQTTBinary() throws(MQTTDecodeError) -> ByteBuffer {
        let length = Int(try self.readMQTTInteger(as: UInt16.self))
        guard let slice = self.readSlice(length: length) else {
            throw MQTTDecodeError(.badLength, "binary length \(length) exceeds packet")
        }
        return slice
    }

    /// Writes a length-prefixed UTF-8 string.
    @discardableResult
    mutating func writeMQTTString(_ string: String) -> Int {
        let lengthIndex = self.writerIndex
        self.writeInteger(UInt16(0))
        let length = self.writeString(string)
        self.setInteger(UInt16(truncatingIfNeeded: length), at: lengthIndex)
        return 2 + length
    }

    /// Writes length-prefixed binary data.
    @discardableResult
    mutating func writeMQTTBinary(_ bytes: ByteBuffer) -> Int {
        self.writeInteger(UInt16(truncatingIfNeeded: bytes.readableBytes))
        var bytes = bytes
        return 2 + self.writeBuffer(&bytes)
    }
}

extension String {
    /// The number of bytes of the string on the wire, length prefix included.
    var mqttEncodedSize: Int { 2 + self.utf8.count }
}
