//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

extension MySQLColumn {
    /// Parses a Column Definition 41 packet.
    ///
    /// ```
    /// lenenc catalog ("def")   lenenc schema    lenenc table   lenenc org_table
    /// lenenc name              lenenc org_name  lenenc length of fixed fields (0x0C)
    /// 2 character set   4 column length   1 type   2 flags   1 decimals   2 filler
    /// ```
    init(definition payload: ByteBuffer) throws(MySQLDecodeError) {
        var buffer = payload
        guard try buffer.readMySQLLengthEncodedSlice() != nil,
            let schema = try buffer.readMySQLLengthEncodedString(),
            let table = try buffer.readMySQLLengthEncodedString(),
            try buffer.readMySQLLengthEncodedSlice() != nil,
            let name = try buffer.readMySQLLengthEncodedString(),
            try buffer.readMySQLLengthEncodedSlice() != nil,
            let fixedLength = try buffer.readMySQLLengthEncodedInteger(),
            fixedLength >= 10,
            let characterSet = buffer.readMySQLInteger(as: UInt16.self),
            let length = buffer.readMySQLInteger(as: UInt32.self),
            let type = buffer.readInteger(as: UInt8.self),
            let flags = buffer.readMySQLInteger(as: UInt16.self),
            let decimals = buffer.readInteger(as: UInt8.self)
        else { throw MySQLDecodeError(.truncatedPacket, "column definition") }
        self.init(
            name: name,
            table: table,
            schema: schema,
            type: MySQLColumnType(rawValue: type),
            flags: flags,
            characterSet: characterSet,
            length: length,
            decimals: decimals
        )
    }

    /// Serialises a Column Definition 41 packet, as a server would; used by tests.
    func writeDefinition(to buffer: inout ByteBuffer) {
        buffer.writeMySQLLengthEncodedString("def")
        buffer.writeMySQLLengthEncodedString(schema)
        buffer.writeMySQLLengthEncodedString(table)
        buffer.writeMySQLLengthEncodedString(table)
        buffer.writeMySQLLengthEncodedString(name)
        buffer.writeMySQLLengthEncodedString(name)
        buffer.writeMySQLLengthEncodedInteger(0x0C)
        buffer.writeMySQLInteger(characterSet)
        buffer.writeMySQLInteger(length)
        buffer.writeInteger(type.rawValue)
        buffer.writeMySQLInteger(flags)
        buffer.writeInteger(decimals)
        buffer.writeMySQLInteger(UInt16(0))
    }

    /// Converts the text form of a value of this column to a typed value.
    func decodeText(_ slice: ByteBuffer) -> MySQLValue {
        if type.isInteger {
            let text = String(buffer: slice)
            if isUnsigned, let value = UInt64(text) { return .uint(value) }
            if let value = Int64(text) { return .int(value) }
            return .string(text)
        }
        if type.isFloatingPoint, let value = Double(String(buffer: slice)) {
            return .double(value)
        }
        if type.isStringLike, isBinary {
            return .bytes(Array(slice.readableBytesView))
        }
        return .string(String(buffer: slice))
    }
}

/// Reads rows in the text protocol: each value is NULL (0xFB) or a length-encoded string.
enum MySQLTextRow {
    static func decode(_ payload: ByteBuffer, columns: [MySQLColumn]) throws(MySQLDecodeError) -> MySQLRow {
        var buffer = payload
        var values: [MySQLValue] = []
        values.reserveCapacity(columns.count)
        for column in columns {
            if buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == 0xFB {
                buffer.moveReaderIndex(forwardBy: 1)
                values.append(.null)
                continue
            }
            guard let slice = try buffer.readMySQLLengthEncodedSlice() else {
                throw MySQLDecodeError(.truncatedPacket, "text row ends before column '\(column.name)'")
            }
            values.append(column.decodeText(slice))
        }
        guard buffer.readableBytes == 0 else {
            throw MySQLDecodeError(.unexpectedPacket, "text row has \(buffer.readableBytes) bytes after its last column")
        }
        return MySQLRow(columns: columns, values: values)
    }

    /// Serialises a text row, as a server would; used by tests.
    static func write(_ values: [String?], to buffer: inout ByteBuffer) {
        for value in values {
            if let value {
                buffer.writeMySQLLengthEncodedString(value)
            } else {
                buffer.writeInteger(UInt8(0xFB))
            }
        }
    }
}

/// Reads rows in the binary protocol (results of COM_STMT_EXECUTE).
///
/// ```
/// 0x00 header   NULL bitmap ((columns + 7 + 2) / 8 bytes, bit offset 2)   values of non-NULL columns
/// ```
enum MySQLBinaryRow {
    static func decode(_ payload: ByteBuffer, columns: [MySQLColumn]) throws(MySQLDecodeError) -> MySQLRow {
        var buffer = payload
        guard buffer.readInteger(as: UInt8.self) == 0x00 else {
            throw MySQLDecodeError(.unexpectedPacket, "binary row without 0x00 header")
        }
        guard let bitmap = buffer.readBytes(length: (columns.count + 9) / 8) else {
            throw MySQLDecodeError(.truncatedPacket, "binary row NULL bitmap")
        }
        var values: [MySQLValue] = []
        values.reserveCapacity(columns.count)
        for (index, column) in columns.enumerated() {
            let bit = index + 2
            if bitmap[bit / 8] & (1 << (bit % 8)) != 0 {
                values.append(.null)
                continue
            }
            guard let value = try decodeValue(&buffer, column: column) else {
                throw MySQLDecodeError(.truncatedPacket, "binary row ends inside column '\(column.name)'")
            }
            values.append(value)
        }
        return MySQLRow(columns: columns, values: values)
    }

    private static func decodeValue(_ buffer: inout ByteBuffer, column: MySQLColumn) throws(MySQLDecodeError) -> MySQLValue? {
        let unsigned = column.isUnsigned
        switch column.type {
        case .tiny:
            guard let raw = buffer.readInteger(as: UInt8.self) else { return nil }
            return unsigned ? .uint(UInt64(raw)) : .int(Int64(Int8(bitPattern: raw)))
        case .short, .year:
            guard let raw = buffer.readMySQLInteger(as: UInt16.self) else { return nil }
            return unsigned ? .uint(UInt64(raw)) : .int(Int64(Int16(bitPattern: raw)))
        case .long, .int24:
            guard let raw = buffer.readMySQLInteger(as: UInt32.self) else { return nil }
            return unsigned ? .uint(UInt64(raw)) : .int(Int64(Int32(bitPattern: raw)))
        case .longlong:
            guard let raw = buffer.readMySQLInteger(as: UInt64.self) else { return nil }
            return unsigned ? .uint(raw) : .int(Int64(bitPattern: raw))
        case .float:
            guard let raw = buffer.readMySQLInteger(as: UInt32.self) else { return nil }
            return .double(Double(Float(bitPattern: raw)))
        case .double:
            guard let raw = buffer.readMySQLInteger(as: UInt64.self) else { return nil }
            return .double(Double(bitPattern: raw))
        case .date, .datetime, .timestamp:
            return readDateTime(&buffer, dateOnly: column.type == .date, fractionDigits: fractionDigits(column))
        case .time:
            return readTime(&buffer, fractionDigits: fractionDigits(column))
        case .null:
            return .null
        default:
            guard let slice = try buffer.readMySQLLengthEncodedSlice() else { return nil }
            return column.decodeText(slice)
        }
    }

    /// The number of fractional-second digits the text protocol would print for `column`
    /// (`DATETIME(3)` prints three), so both protocols give the same string.
    private static func fractionDigits(_ column: MySQLColumn) -> Int {
        column.decimals <= 6 ? Int(column.decimals) : 0
    }

    private static func fraction(_ micro: UInt32, digits: Int) -> String {
        digits > 0 ? "." + pad(micro, 6).prefix(digits) : ""
    }

    private static func pad(_ value: some BinaryInteger, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: Swift.max(0, width - text.count)) + text
    }

    private static func readDateTime(_ buffer: inout ByteBuffer, dateOnly: Bool, fractionDigits: Int) -> MySQLValue? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            [0, 4, 7, 11].contains(length), buffer.readableBytes > Int(length)
        else { return nil }
        buffer.moveReaderIndex(forwardBy: 1)
        var year: UInt16 = 0
        var month: UInt8 = 0
        var day: UInt8 = 0
        var hour: UInt8 = 0
        var minute: UInt8 = 0
        var second: UInt8 = 0
        var micro: UInt32 = 0
        if length >= 4 {
            year = buffer.readMySQLInteger()!
            month = buffer.readInteger()!
            day = buffer.readInteger()!
        }
        if length >= 7 {
            hour = buffer.readInteger()!
            minute = buffer.readInteger()!
            second = buffer.readInteger()!
        }
        if length == 11 { micro = buffer.readMySQLInteger()! }
        var text = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
        if !dateOnly {
            text += " \(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2))" + fraction(micro, digits: fractionDigits)
        }
        return .string(text)
    }

    private static func readTime(_ buffer: inout ByteBuffer, fractionDigits: Int) -> MySQLValue? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            [0, 8, 12].contains(length), buffer.readableBytes > Int(length)
        else { return nil }
        buffer.moveReaderIndex(forwardBy: 1)
        guard length > 0 else { return .string("00:00:00" + fraction(0, digits: fractionDigits)) }
        let negative: UInt8 = buffer.readInteger()!
        let days: UInt32 = buffer.readMySQLInteger()!
        let hour: UInt8 = buffer.readInteger()!
        let minute: UInt8 = buffer.readInteger()!
        let second: UInt8 = buffer.readInteger()!
        let micro: UInt32 = length == 12 ? buffer.readMySQLInteger()! : 0
        let sign = negative == 1 ? "-" : ""
        let hours = pad(UInt64(days) * 24 + UInt64(hour), 2)
        return .string("\(sign)\(hours):\(pad(minute, 2)):\(pad(second, 2))" + fraction(micro, digits: fractionDigits))
    }
}
