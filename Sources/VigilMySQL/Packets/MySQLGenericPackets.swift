//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// An OK packet (header 0x00, or 0xFE when it ends a result set under `CLIENT_DEPRECATE_EOF`).
struct MySQLOKPacket: Hashable, Sendable {
    var affectedRows: UInt64 = 0
    var lastInsertID: UInt64 = 0
    var status: MySQLServerStatus = .autocommit
    var warnings: UInt16 = 0
    var info = ""
}

extension MySQLOKPacket {
    /// Parses an OK packet; the header byte is not checked so that both 0x00 and 0xFE work.
    init(payload: ByteBuffer) throws(MySQLDecodeError) {
        var buffer = payload
        buffer.moveReaderIndex(forwardBy: Swift.min(1, buffer.readableBytes))
        guard let affectedRows = try buffer.readMySQLLengthEncodedInteger(),
            let lastInsertID = try buffer.readMySQLLengthEncodedInteger(),
            let status = buffer.readMySQLInteger(as: UInt16.self),
            let warnings = buffer.readMySQLInteger(as: UInt16.self)
        else { throw MySQLDecodeError(.truncatedPacket, "OK packet") }
        self.affectedRows = affectedRows
        self.lastInsertID = lastInsertID
        self.status = MySQLServerStatus(rawValue: status)
        self.warnings = warnings
        // Without CLIENT_SESSION_TRACK the rest is human-readable info.
        self.info = buffer.readString(length: buffer.readableBytes) ?? ""
    }

    func write(to buffer: inout ByteBuffer, header: UInt8 = 0x00) {
        buffer.writeInteger(header)
        buffer.writeMySQLLengthEncodedInteger(affectedRows)
        buffer.writeMySQLLengthEncodedInteger(lastInsertID)
        buffer.writeMySQLInteger(status.rawValue)
        buffer.writeMySQLInteger(warnings)
        buffer.writeString(info)
    }
}

/// An EOF packet (header 0xFE, payload shorter than 9 bytes), used by servers without
/// `CLIENT_DEPRECATE_EOF`.
struct MySQLEOFPacket: Hashable, Sendable {
    var warnings: UInt16 = 0
    var status: MySQLServerStatus = .autocommit
}

extension MySQLEOFPacket {
    init(payload: ByteBuffer) throws(MySQLDecodeError) {
        var buffer = payload
        guard buffer.readInteger(as: UInt8.self) == 0xFE else {
            throw MySQLDecodeError(.unexpectedPacket, "not an EOF packet")
        }
        self.warnings = buffer.readMySQLInteger(as: UInt16.self) ?? 0
        self.status = MySQLServerStatus(rawValue: buffer.readMySQLInteger(as: UInt16.self) ?? 0)
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0xFE))
        buffer.writeMySQLInteger(warnings)
        buffer.writeMySQLInteger(status.rawValue)
    }

    /// Whether `payload` is an EOF packet rather than a row or OK packet that starts with 0xFE.
    static func matches(_ payload: ByteBuffer) -> Bool {
        payload.readableBytes < 9 && payload.getInteger(at: payload.readerIndex, as: UInt8.self) == 0xFE
    }
}

extension MySQLError {
    /// Parses an ERR packet (header 0xFF).
    ///
    /// The `#` marker and SQLSTATE are optional because a server may refuse a client before the
    /// capabilities are agreed.
    init(payload: ByteBuffer) throws(MySQLDecodeError) {
        var buffer = payload
        guard buffer.readInteger(as: UInt8.self) == 0xFF, let code = buffer.readMySQLInteger(as: UInt16.self) else {
            throw MySQLDecodeError(.truncatedPacket, "ERR packet")
        }
        var sqlState = "HY000"
        if buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == UInt8(ascii: "#"), buffer.readableBytes >= 6 {
            buffer.moveReaderIndex(forwardBy: 1)
            sqlState = buffer.readString(length: 5) ?? sqlState
        }
        self.init(code: code, sqlState: sqlState, message: buffer.readString(length: buffer.readableBytes) ?? "")
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0xFF))
        buffer.writeMySQLInteger(code)
        buffer.writeInteger(UInt8(ascii: "#"))
        buffer.writeString(sqlState)
        buffer.writeString(message)
    }
}
