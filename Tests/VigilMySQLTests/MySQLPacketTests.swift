//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import Testing

@testable import VigilMySQL

extension ByteBuffer {
    init(hex: String) {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        self.init(bytes: bytes)
    }
}

@Suite("MySQL packets")
struct MySQLPacketTests {
    /// The handshake MariaDB 10.11.19 (Debian 12) sent on a fresh connection, header included.
    static let recordedHandshake =
        "640000000a352e352e352d31302e31312e31392d4d6172696144422d302b646562313275310006000000215e383b60"
        + "51553600fef7080200ff81150000000000001d0000004d61217c6f3a714c663f457c006d7973716c5f6e61746976655f"
        + "70617373776f726400"

    @Test("A recorded MariaDB 10.11 handshake parses")
    func recordedHandshake() throws {
        var wire = ByteBuffer(hex: Self.recordedHandshake)
        var decoder = MySQLPacketDecoder()
        let packet = try #require(try decoder.decode(buffer: &wire))
        #expect(packet.sequenceID == 0)
        let handshake = try MySQLHandshakeV10(payload: packet.payload)
        #expect(handshake.serverVersion == "5.5.5-10.11.19-MariaDB-0+deb12u1")
        #expect(handshake.connectionID == 6)
        #expect(handshake.authPluginData.count == 20)
        #expect(handshake.authPluginData.prefix(8) == Array("!^8;`QU6".utf8)[...])
        #expect(handshake.authPluginData.suffix(12) == Array("Ma!|o:qLf?E|".utf8)[...])
        #expect(handshake.capabilities.contains([.protocol41, .secureConnection, .pluginAuth, .deprecateEOF]))
        #expect(handshake.characterSet == 8)
        #expect(handshake.authPluginName == "mysql_native_password")
    }

    @Test("A handshake round-trips through write and parse")
    func handshakeRoundTrip() throws {
        let handshake = MySQLHandshakeV10(
            serverVersion: "8.0.36",
            connectionID: 42,
            authPluginData: Array(1...20),
            capabilities: [.protocol41, .secureConnection, .pluginAuth, .connectWithDB]
        )
        var buffer = ByteBuffer()
        handshake.write(to: &buffer)
        #expect(try MySQLHandshakeV10(payload: buffer) == handshake)
    }

    @Test("A handshake with another protocol version is refused")
    func protocolVersion9() {
        #expect { try MySQLHandshakeV10(payload: ByteBuffer(bytes: [9, 0x35, 0])) } throws: {
            ($0 as? MySQLDecodeError)?.kind == .unsupportedProtocolVersion
        }
    }

    @Test("mysql_native_password scramble matches an independent computation")
    func scrambleVector() {
        // Python: s1 = sha1(b"secret"); s2 = sha1(s1); s1 XOR sha1(bytes(range(1, 21)) + s2).
        let scramble = MySQLNativePassword.scramble(password: "secret", nonce: Array(1...20))
        #expect(scramble == Array(ByteBuffer(hex: "b32bb3a583e1340c0a1108d58b1be49781ad8c2f").readableBytesView))
        #expect(MySQLNativePassword.scramble(password: "", nonce: Array(1...20)).isEmpty)
    }

    @Test("The scramble unmasks to a SHA1 whose SHA1 is what MariaDB's PASSWORD('secret') stores")
    func scrambleAgainstServerHash() {
        // SELECT PASSWORD('secret') on MariaDB 10.11 returns *14E65567ABDB5135D0CFD9A70B3032C179A49EE7.
        let stored = Array(ByteBuffer(hex: "14e65567abdb5135d0cfd9a70b3032c179a49ee7").readableBytesView)
        let nonce: [UInt8] = Array("abcdefghij0123456789".utf8)
        let scramble = MySQLNativePassword.scramble(password: "secret", nonce: nonce)
        // What the server does: SHA1(nonce + stored) XOR scramble = SHA1(password); SHA1 of that = stored.
        let recovered = zip(scramble, MySQLNativePassword.sha1(nonce + stored)).map { $0 ^ $1 }
        #expect(MySQLNativePassword.sha1(recovered) == stored)
    }

    @Test("HandshakeResponse41 round-trips with and without length-encoded auth data and database")
    func handshakeResponse() throws {
        for capabilities: MySQLCapabilities in [
            [.protocol41, .secureConnection, .pluginAuth, .pluginAuthLengthEncodedData, .connectWithDB],
            [.protocol41, .secureConnection],
        ] {
            let response = MySQLHandshakeResponse41(
                capabilities: capabilities,
                maxPacketSize: 1 << 24,
                characterSet: 45,
                username: "vigil",
                authResponse: Array(repeating: 7, count: 20),
                database: capabilities.contains(.connectWithDB) ? "announcer" : nil,
                authPluginName: capabilities.contains(.pluginAuth) ? "mysql_native_password" : nil
            )
            var buffer = ByteBuffer()
            response.write(to: &buffer)
            #expect(buffer.getInteger(at: 0, endianness: .little, as: UInt32.self) == capabilities.rawValue)
            #expect(try MySQLHandshakeResponse41(payload: buffer) == response)
        }
    }

    @Test("OK, EOF and ERR packets round-trip")
    func genericPackets() throws {
        let ok = MySQLOKPacket(affectedRows: 10_000, lastInsertID: 70_000, status: [.autocommit, .moreResultsExist], warnings: 2, info: "Records: 3")
        var buffer = ByteBuffer()
        ok.write(to: &buffer)
        #expect(try MySQLOKPacket(payload: buffer) == ok)

        let eof = MySQLEOFPacket(warnings: 1, status: .autocommit)
        buffer.clear()
        eof.write(to: &buffer)
        #expect(MySQLEOFPacket.matches(buffer))
        #expect(try MySQLEOFPacket(payload: buffer) == eof)

        let error = MySQLError(code: 1064, sqlState: "42000", message: "You have an error in your SQL syntax")
        buffer.clear()
        error.write(to: &buffer)
        #expect(try MySQLError(payload: buffer) == error)
        // Before capabilities are agreed a server may omit '#' and the SQLSTATE.
        let early = try MySQLError(payload: ByteBuffer(bytes: [0xFF, 0x10, 0x04] + Array("Too many connections".utf8)))
        #expect(early == MySQLError(code: 1040, sqlState: "HY000", message: "Too many connections"))
    }

    @Test("Truncated OK and ERR packets throw instead of trapping")
    func truncated() {
        #expect(throws: MySQLDecodeError.self) { try MySQLOKPacket(payload: ByteBuffer(bytes: [0x00, 0x01])) }
        #expect(throws: MySQLDecodeError.self) { try MySQLError(payload: ByteBuffer(bytes: [0xFF, 0x10])) }
        #expect(throws: MySQLDecodeError.self) { try MySQLColumn(definition: ByteBuffer(bytes: [3, 0x64, 0x65, 0x66, 0])) }
    }

    @Test("Column definitions round-trip")
    func columnDefinition() throws {
        let column = MySQLColumn(
            name: "channel_id",
            table: "members",
            schema: "announcer",
            type: .longlong,
            flags: 1 | 32,
            characterSet: 63,
            length: 20
        )
        var buffer = ByteBuffer()
        column.writeDefinition(to: &buffer)
        let parsed = try MySQLColumn(definition: buffer)
        #expect(parsed == column)
        #expect(parsed.isUnsigned)
    }

    @Test("Text rows decode NULL (0xFB), integers, doubles, text and binary by column type")
    func textRow() throws {
        let columns = [
            MySQLColumn(name: "id", type: .longlong), MySQLColumn(name: "big", type: .longlong, flags: 32),
            MySQLColumn(name: "name", type: .varString), MySQLColumn(name: "note", type: .blob),
            MySQLColumn(name: "ratio", type: .double), MySQLColumn(name: "raw", type: .blob, characterSet: 63),
            MySQLColumn(name: "price", type: .newDecimal),
        ]
        var buffer = ByteBuffer()
        MySQLTextRow.write(["-5", "18446744073709551615", "Zoë", nil, "0.25", "\u{1}\u{2}", "12.50"], to: &buffer)
        let row = try MySQLTextRow.decode(buffer, columns: columns)
        #expect(row.values == [.int(-5), .uint(.max), .string("Zoë"), .null, .double(0.25), .bytes([1, 2]), .string("12.50")])
        #expect(row["name"]?.string == "Zoë")
        #expect(row["note"]?.isNull == true)
        #expect(row["missing"] == nil)
        #expect(try row.decode("id", as: Int.self) == -5)
        #expect(try row.decode("id", as: Int64.self) == -5)
        #expect(try row.decode("big", as: UInt64.self) == .max)
        #expect(try row.decode("id", as: Bool.self))
        #expect(throws: MySQLClientError.self) { try row.decode("big", as: Int64.self) }
        #expect(try row.decode("note", as: String?.self) == nil)
        #expect(throws: MySQLClientError.self) { try row.decode("note", as: Int.self) }

        var short = ByteBuffer()
        MySQLTextRow.write(["1"], to: &short)
        #expect(throws: MySQLDecodeError.self) { try MySQLTextRow.decode(short, columns: columns) }
    }

    @Test("Binary rows decode the NULL bitmap, integers, doubles, strings, dates and times")
    func binaryRow() throws {
        let columns = [
            MySQLColumn(name: "tiny", type: .tiny), MySQLColumn(name: "null", type: .varString),
            MySQLColumn(name: "long", type: .long), MySQLColumn(name: "big", type: .longlong, flags: 32),
            MySQLColumn(name: "d", type: .double), MySQLColumn(name: "s", type: .varString),
            MySQLColumn(name: "day", type: .date), MySQLColumn(name: "at", type: .datetime, decimals: 6),
            MySQLColumn(name: "t", type: .time), MySQLColumn(name: "f", type: .float),
            MySQLColumn(name: "ms", type: .datetime, decimals: 3),
        ]
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(0))
        // Column 1 is NULL: bit 1 + 2 = 3 of the bitmap (11 columns need 2 bytes).
        buffer.writeBytes([0b0000_1000, 0])
        buffer.writeInteger(UInt8(bitPattern: -3))
        buffer.writeMySQLInteger(Int32(-70_000))
        buffer.writeMySQLInteger(UInt64.max)
        buffer.writeMySQLInteger((2.5).bitPattern)
        buffer.writeMySQLLengthEncodedString("ünïcode")
        buffer.writeBytes([4])
        buffer.writeMySQLInteger(UInt16(2026))
        buffer.writeBytes([11, 23])
        buffer.writeBytes([11])
        buffer.writeMySQLInteger(UInt16(2026))
        buffer.writeBytes([1, 2, 3, 4, 5])
        buffer.writeMySQLInteger(UInt32(60))
        buffer.writeBytes([8, 1])
        buffer.writeMySQLInteger(UInt32(1))
        buffer.writeBytes([2, 3, 4])
        buffer.writeMySQLInteger(Float(1.5).bitPattern)
        // DATETIME(3) with zero microseconds: the server sends 7 bytes, the text protocol prints ".000".
        buffer.writeBytes([7])
        buffer.writeMySQLInteger(UInt16(2026))
        buffer.writeBytes([1, 2, 3, 4, 5])
        let row = try MySQLBinaryRow.decode(buffer, columns: columns)
        #expect(
            row.values == [
                .int(-3), .null, .int(-70_000), .uint(.max), .double(2.5), .string("ünïcode"), .string("2026-11-23"),
                .string("2026-01-02 03:04:05.000060"), .string("-26:03:04"), .double(1.5), .string("2026-01-02 03:04:05.000"),
            ]
        )
        buffer.moveWriterIndex(to: buffer.writerIndex - 2)
        #expect(throws: MySQLDecodeError.self) { try MySQLBinaryRow.decode(buffer, columns: columns) }
    }

    @Test("COM_STMT_EXECUTE carries the NULL bitmap, types with the unsigned flag, and values")
    func executeEncoding() {
        var buffer = ByteBuffer()
        MySQLCommand.execute(statementID: 7, binds: [.int(-1), .null, .string("a"), .double(0.5), .uint(3)]).write(to: &buffer)
        var expected = ByteBuffer(bytes: [0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0])
        expected.writeBytes([0b0000_0010, 1])
        expected.writeBytes([0x08, 0, 0x06, 0, 0xFD, 0, 0x05, 0, 0x08, 0x80])
        expected.writeMySQLInteger(Int64(-1))
        expected.writeBytes([1, 0x61])
        expected.writeMySQLInteger((0.5).bitPattern)
        expected.writeMySQLInteger(UInt64(3))
        #expect(buffer == expected)
    }

    @Test("Seed addresses split into host and port")
    func addressParsing() {
        let configuration = MySQLConnectionConfiguration(address: "db.example.test:3307", username: "u", password: "p", database: "d")
        #expect(configuration.host == "db.example.test")
        #expect(configuration.port == 3307)
        #expect(MySQLConnectionConfiguration(address: "localhost", username: "u", password: "p", database: nil).port == 3306)
        let v6 = MySQLConnectionConfiguration(address: "[::1]:3310", username: "u", password: "p", database: nil)
        #expect(v6.host == "::1")
        #expect(v6.port == 3310)
        #expect(MySQLConnectionConfiguration(address: "::1", username: "u", password: "p", database: nil).host == "::1")
    }
}
