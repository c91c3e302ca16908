//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// A command packet the client sends; each starts a new exchange with sequence id 0.
enum MySQLCommand: Hashable, Sendable {
    /// COM_QUIT (0x01): the server closes the connection without answering.
    case quit
    /// COM_QUERY (0x03): a statement in the text protocol.
    case query(String)
    /// COM_PING (0x0E): answered with OK.
    case ping
    /// COM_STMT_PREPARE (0x16).
    case prepare(String)
    /// COM_STMT_EXECUTE (0x17) with the statement's id and one value per parameter.
    case execute(statementID: UInt32, binds: [MySQLValue])
    /// COM_STMT_CLOSE (0x19): not answered.
    case closeStatement(UInt32)

    /// Whether the server answers this command.
    var expectsResponse: Bool {
        switch self {
        case .quit, .closeStatement: false
        default: true
        }
    }

    func write(to buffer: inout ByteBuffer) {
        switch self {
        case .quit:
            buffer.writeInteger(UInt8(0x01))
        case .query(let sql):
            buffer.writeInteger(UInt8(0x03))
            buffer.writeString(sql)
        case .ping:
            buffer.writeInteger(UInt8(0x0E))
        case .prepare(let sql):
            buffer.writeInteger(UInt8(0x16))
            buffer.writeString(sql)
        case .execute(let statementID, let binds):
            Self.writeExecute(statementID: statementID, binds: binds, to: &buffer)
        case .closeStatement(let statementID):
            buffer.writeInteger(UInt8(0x19))
            buffer.writeMySQLInteger(statementID)
        }
    }

    /// ```
    /// 0x17  4 statement id  1 flags (0: no cursor)  4 iteration count (1)
    /// if parameters: NULL bitmap ((n + 7) / 8)  1 new-params-bound (1)  n × (1 type, 1 unsigned flag)  values
    /// ```
    private static func writeExecute(statementID: UInt32, binds: [MySQLValue], to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0x17))
        buffer.writeMySQLInteger(statementID)
        buffer.writeInteger(UInt8(0))
        buffer.writeMySQLInteger(UInt32(1))
        guard !binds.isEmpty else { return }
        var bitmap = [UInt8](repeating: 0, count: (binds.count + 7) / 8)
        for (index, bind) in binds.enumerated() where bind.isNull {
            bitmap[index / 8] |= 1 << (index % 8)
        }
        buffer.writeBytes(bitmap)
        buffer.writeInteger(UInt8(1))
        for bind in binds {
            switch bind {
            case .null: buffer.writeBytes([MySQLColumnType.null.rawValue, 0])
            case .int: buffer.writeBytes([MySQLColumnType.longlong.rawValue, 0])
            case .uint: buffer.writeBytes([MySQLColumnType.longlong.rawValue, 0x80])
            case .double: buffer.writeBytes([MySQLColumnType.double.rawValue, 0])
            case .string: buffer.writeBytes([MySQLColumnType.varString.rawValue, 0])
            case .bytes: buffer.writeBytes([MySQLColumnType.blob.rawValue, 0])
            }
        }
        for bind in binds {
            switch bind {
            case .null: break
            case .int(let value): buffer.writeMySQLInteger(value)
            case .uint(let value): buffer.writeMySQLInteger(value)
            case .double(let value): buffer.writeMySQLInteger(value.bitPattern)
            case .string(let text): buffer.writeMySQLLengthEncodedString(text)
            case .bytes(let bytes): buffer.writeMySQLLengthEncodedBytes(bytes)
            }
        }
    }
}

/// The answer to COM_STMT_PREPARE: `0x00, 4 statement id, 2 columns, 2 parameters, 1 filler, 2 warnings`.
struct MySQLPrepareOK: Hashable, Sendable {
    var statementID: UInt32
    var columnCount: UInt16
    var parameterCount: UInt16
}

extension MySQLPrepareOK {
    init(payload: ByteBuffer) throws(MySQLDecodeError) {
        var buffer = payload
        guard buffer.readInteger(as: UInt8.self) == 0x00,
            let statementID = buffer.readMySQLInteger(as: UInt32.self),
            let columnCount = buffer.readMySQLInteger(as: UInt16.self),
            let parameterCount = buffer.readMySQLInteger(as: UInt16.self)
        else { throw MySQLDecodeError(.truncatedPacket, "COM_STMT_PREPARE OK") }
        self.statementID = statementID
        self.columnCount = columnCount
        self.parameterCount = parameterCount
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0))
        buffer.writeMySQLInteger(statementID)
        buffer.writeMySQLInteger(columnCount)
        buffer.writeMySQLInteger(parameterCount)
        buffer.writeInteger(UInt8(0))
        buffer.writeMySQLInteger(UInt16(0))
    }
}
