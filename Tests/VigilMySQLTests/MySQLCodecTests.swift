//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import FuzzSupport
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import VigilMySQL

/// Builds wire frames for the tests.
func framed(_ payload: ByteBuffer, sequenceID: UInt8) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeMySQLPacket(sequenceID: sequenceID, payload: payload)
    return buffer
}

@Suite("MySQL wire primitives and packet framing")
struct MySQLCodecTests {
    @Test("Length-encoded integers use 1, 3, 4 or 9 bytes at the documented boundaries")
    func lengthEncodedIntegers() throws {
        let cases: [(UInt64, Int)] = [
            (0, 1), (250, 1), (251, 3), (0xFFFF, 3), (0x1_0000, 4), (0xFF_FFFF, 4), (0x100_0000, 9), (UInt64.max, 9),
        ]
        for (value, size) in cases {
            var buffer = ByteBuffer()
            #expect(buffer.writeMySQLLengthEncodedInteger(value) == size)
            #expect(try buffer.readMySQLLengthEncodedInteger() == value)
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test("A truncated length-encoded integer returns nil and leaves the reader index alone")
    func truncatedLengthEncodedInteger() throws {
        for bytes: [UInt8] in [[0xFC, 1], [0xFD, 1, 2], [0xFE, 1, 2, 3, 4, 5, 6, 7], []] {
            var buffer = ByteBuffer(bytes: bytes)
            #expect(try buffer.readMySQLLengthEncodedInteger() == nil)
            #expect(buffer.readableBytes == bytes.count)
        }
        var string = ByteBuffer(bytes: [5, 0x61, 0x62])
        #expect(try string.readMySQLLengthEncodedString() == nil)
        #expect(string.readableBytes == 3)
    }

    @Test("0xFB and 0xFF are not length-encoded integers", arguments: [UInt8(0xFB), 0xFF])
    func invalidMarker(marker: UInt8) {
        var buffer = ByteBuffer(bytes: [marker, 0, 0])
        #expect(throws: MySQLDecodeError.self) { try buffer.readMySQLLengthEncodedInteger() }
    }

    @Test("Length-encoded and NUL-terminated strings round-trip, including UTF-8")
    func strings() throws {
        var buffer = ByteBuffer()
        buffer.writeMySQLLengthEncodedString("Grüße 🎙️")
        buffer.writeMySQLNullTerminatedString("mysql_native_password")
        buffer.writeMySQLLengthEncodedString(String(repeating: "x", count: 300))
        #expect(try buffer.readMySQLLengthEncodedString() == "Grüße 🎙️")
        #expect(buffer.readMySQLNullTerminatedString() == "mysql_native_password")
        #expect(try buffer.readMySQLLengthEncodedString()?.count == 300)
        #expect(buffer.readableBytes == 0)
    }

    @Test("ByteToMessageDecoderVerifier accepts the packet decoder")
    func verifier() throws {
        let payloads = [
            ByteBuffer(), ByteBuffer(string: "a"), ByteBuffer(bytes: [0x00, 0x01, 0x02, 0xFE, 0xFF]),
            ByteBuffer(string: String(repeating: "q", count: 1000)),
        ]
        let pairs = payloads.enumerated().map { index, payload in
            (framed(payload, sequenceID: UInt8(index)), [MySQLPacket(sequenceID: UInt8(index), payload: payload)])
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { MySQLPacketDecoder() }
    }

    @Test("A payload of 16 MB or more is split into 0xFFFFFF-byte frames and joined again", arguments: [0xFF_FFFF, 0xFF_FFFF + 10])
    func splitPackets(size: Int) throws {
        let pattern = (0..<4096).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var payload = ByteBuffer()
        while payload.readableBytes < size { payload.writeBytes(pattern.prefix(size - payload.readableBytes)) }
        let wire = framed(payload, sequenceID: 3)
        // The first frame is full, the last carries the rest (possibly nothing).
        #expect(wire.getInteger(at: 3, as: UInt8.self) == 3)
        #expect(wire.readableBytes == size + 8)
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MySQLPacketDecoder()))
        var first = wire.getSlice(at: 0, length: wire.readableBytes - 3)!
        try channel.writeInbound(first)
        #expect(try channel.readInbound(as: MySQLPacket.self) == nil)
        first = wire.getSlice(at: wire.readableBytes - 3, length: 3)!
        try channel.writeInbound(first)
        let packet = try #require(try channel.readInbound(as: MySQLPacket.self))
        #expect(packet.sequenceID == 4)
        #expect(packet.payload == payload)
        #expect(try channel.finish().isClean)
    }

    @Test("A continuation frame with the wrong sequence id is a protocol violation")
    func outOfOrderContinuation() throws {
        var wire = ByteBuffer()
        wire.writeBytes([0xFF, 0xFF, 0xFF, 7])
        wire.writeRepeatingByte(0x41, count: 0xFF_FFFF)
        wire.writeBytes([0x01, 0x00, 0x00, 9, 0x42])
        var decoder = MySQLPacketDecoder()
        #expect(throws: MySQLDecodeError.self) { try decoder.decode(buffer: &wire) }
    }

    @Test("A packet larger than the limit is rejected before it is buffered")
    func tooLarge() throws {
        var decoder = MySQLPacketDecoder(maxPacketSize: 100)
        var wire = ByteBuffer(bytes: [101, 0, 0, 0, 1, 2, 3])
        #expect { try decoder.decode(buffer: &wire) } throws: { ($0 as? MySQLDecodeError)?.kind == .packetTooLarge }
        var fits = framed(ByteBuffer(repeating: 1, count: 100), sequenceID: 0)
        #expect(try decoder.decode(buffer: &fits)?.payload.readableBytes == 100)
    }

    @Test("Mutations of captured MariaDB traffic frame and parse or fail with MySQLDecodeError, within the input")
    func seededMutations() {
        let seeds = SeedCorpus.load("mysql")
        #expect(seeds.count >= 4)
        guard !seeds.isEmpty else { return }
        var mutator = SeededMutator(seed: 0x4D59_5351)
        var parsed = 0
        var errors = 0
        for round in 0..<1500 {
            // Typed throws: MySQLDecodeError is the only possible failure. decodeStream runs every
            // packet parser on every payload and traps if the framer reads past the input.
            do throws(MySQLDecodeError) {
                parsed += try MySQLFuzzing.decodeStream(mutator.mutate(seeds[round % seeds.count])).parsed
            } catch {
                errors += 1
            }
        }
        #expect(parsed > 1000)
        #expect(errors > 100)
    }

}
