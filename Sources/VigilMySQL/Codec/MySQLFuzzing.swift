//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// The decoders' contract in one call, for the libFuzzer target `fuzz-mysql` (docs/FUZZING.md) and
/// the seeded mutation tests.
///
/// `package` access keeps it out of the public API: the fuzz targets are targets of this package,
/// declared only when the manifest sees `VIGIL_FUZZ=1`.
package enum MySQLFuzzing {
    /// What one stream decoded to.
    package struct Outcome: Sendable {
        /// Logical packets framed.
        package var packets = 0
        /// Payloads that some packet parser accepted.
        package var parsed = 0
    }

    /// Every column type, signed and unsigned/binary, so any row payload is tried against all of
    /// them before the stream has supplied column definitions of its own.
    private static let allColumns: [MySQLColumn] = (Array(0x00...0x13) + Array(0xF5...0xFF)).flatMap { raw in
        [
            MySQLColumn(name: "s\(raw)", type: MySQLColumnType(rawValue: UInt8(raw)), decimals: UInt8(raw % 7)),
            MySQLColumn(name: "u\(raw)", type: MySQLColumnType(rawValue: UInt8(raw)), flags: 32 | 128, characterSet: 63),
        ]
    }

    /// Frames `bytes` as one connection's byte stream and parses every payload as each packet the
    /// client reads (handshake, auth switch, OK, EOF, ERR, prepare OK, column definition, text and
    /// binary rows); traps if the framer reads past the input or frames a packet without consuming
    /// bytes (the fuzzer reports a trap as a crash). Parser errors are expected and ignored: they
    /// are typed ``MySQLDecodeError``, so no other error can escape.
    ///
    /// - Throws: The framer's ``MySQLDecodeError``.
    @discardableResult
    package static func decodeStream(_ bytes: some Sequence<UInt8>) throws(MySQLDecodeError) -> Outcome {
        var buffer = ByteBuffer(bytes: bytes)
        let total = buffer.readableBytes
        var decoder = MySQLPacketDecoder(maxPacketSize: 1 << 20)
        var outcome = Outcome()
        var columns: [MySQLColumn] = []
        while buffer.readableBytes > 0 {
            let before = buffer.readerIndex
            let packet: MySQLPacket
            do {
                guard let next = try decoder.decode(buffer: &buffer) else {
                    precondition(buffer.readerIndex == before, "a partial packet moved the reader index")
                    break
                }
                packet = next
            } catch let error as MySQLDecodeError {
                throw error
            } catch {
                preconditionFailure("the framer threw \(type(of: error)), not MySQLDecodeError")
            }
            precondition(buffer.readerIndex > before, "a packet consumed no bytes")
            precondition(buffer.readerIndex <= total, "the framer read past the input")
            outcome.packets += 1
            if let column = try? MySQLColumn(definition: packet.payload), columns.count < 64 {
                columns.append(column)
            }
            outcome.parsed += parsePayload(packet.payload, columns: columns.isEmpty ? allColumns : columns)
        }
        return outcome
    }

    /// Runs every parser on `payload`; returns how many accepted it.
    private static func parsePayload(_ payload: ByteBuffer, columns: [MySQLColumn]) -> Int {
        let attempts: [Bool] = [
            (try? MySQLHandshakeV10(payload: payload)) != nil,
            (try? MySQLHandshakeResponse41(payload: payload)) != nil,
            (try? MySQLAuthSwitchRequest(payload: payload)) != nil,
            (try? MySQLOKPacket(payload: payload)) != nil,
            (try? MySQLEOFPacket(payload: payload)) != nil,
            MySQLEOFPacket.matches(payload),
            (try? MySQLError(payload: payload)) != nil,
            (try? MySQLPrepareOK(payload: payload)) != nil,
            (try? MySQLTextRow.decode(payload, columns: columns)) != nil,
            (try? MySQLBinaryRow.decode(payload, columns: columns)) != nil,
        ]
        return attempts.filter { $0 }.count
    }
}
