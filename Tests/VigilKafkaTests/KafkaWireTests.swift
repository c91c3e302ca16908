//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import Testing

@testable import VigilKafka

@Suite("Kafka wire primitives")
struct KafkaWireTests {
    @Test(
        "zigzag varints round-trip at the edges",
        arguments: [Int64(0), 1, -1, 63, -64, 64, 300, -300, Int64(Int32.max), Int64(Int32.min), .max, .min]
    )
    func varlongRoundTrip(value: Int64) throws {
        var buffer = ByteBuffer()
        buffer.kafkaWriteVarlong(value)
        #expect(try buffer.kafkaReadVarlong() == value)
        #expect(buffer.readableBytes == 0)
    }

    @Test("zigzag encoding matches the protocol guide's examples")
    func zigzagBytes() {
        var buffer = ByteBuffer()
        buffer.kafkaWriteVarint(0)
        buffer.kafkaWriteVarint(-1)
        buffer.kafkaWriteVarint(1)
        buffer.kafkaWriteVarint(-2)
        buffer.kafkaWriteVarint(150)
        #expect(Array(buffer.readableBytesView) == [0x00, 0x01, 0x02, 0x03, 0xAC, 0x02])
    }

    @Test("unsigned varints round-trip and reject a sixth byte")
    func unsignedVarint() throws {
        for value: UInt32 in [0, 1, 127, 128, 16_383, 16_384, .max] {
            var buffer = ByteBuffer()
            buffer.kafkaWriteUnsignedVarint(value)
            #expect(try buffer.kafkaReadUnsignedVarint() == value)
        }
        var tooLong = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(throws: KafkaDecodeError(.invalidVarint)) { try tooLong.kafkaReadUnsignedVarint() }
        var truncated = ByteBuffer(bytes: [0x80])
        #expect(throws: KafkaDecodeError(.truncated)) { try truncated.kafkaReadUnsignedVarint() }
    }

    @Test("classic and compact strings round-trip, null included")
    func strings() throws {
        for flexible in [false, true] {
            var buffer = ByteBuffer()
            buffer.kafkaWriteString("héllo", flexible: flexible)
            buffer.kafkaWriteString(nil, flexible: flexible)
            buffer.kafkaWriteString("", flexible: flexible)
            #expect(try buffer.kafkaReadNullableString(flexible: flexible) == "héllo")
            #expect(try buffer.kafkaReadNullableString(flexible: flexible) == nil)
            #expect(try buffer.kafkaReadString(flexible: flexible) == "")
        }
    }

    @Test("a length beyond the bytes left is an error, not an allocation")
    func hostileLengths() {
        var string = ByteBuffer(bytes: [0x7F, 0xFF, 0x41])
        #expect(throws: KafkaDecodeError(.invalidLength)) { try string.kafkaReadString(flexible: false) }
        var bytes = ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF, 0x00])
        #expect(throws: KafkaDecodeError(.invalidLength)) { try bytes.kafkaReadBytes(flexible: false) }
        var array = ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF, 0x00, 0x00])
        #expect(throws: KafkaDecodeError(.invalidLength)) { try array.kafkaReadArrayCount(flexible: false, minimumElementSize: 4) }
        var negative = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFE])
        #expect(throws: KafkaDecodeError(.invalidLength)) { try negative.kafkaReadArrayCount(flexible: false) }
        var compact = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
        #expect(throws: KafkaDecodeError(.invalidLength)) { try compact.kafkaReadArrayCount(flexible: true) }
    }

    @Test("tagged fields are skipped, and a tag larger than the frame is an error")
    func taggedFields() throws {
        var buffer = ByteBuffer()
        buffer.kafkaWriteUnsignedVarint(2)
        buffer.kafkaWriteUnsignedVarint(0)
        buffer.kafkaWriteUnsignedVarint(3)
        buffer.writeBytes([1, 2, 3])
        buffer.kafkaWriteUnsignedVarint(5)
        buffer.kafkaWriteUnsignedVarint(0)
        buffer.writeInteger(Int16(42))
        try buffer.kafkaSkipTaggedFields()
        #expect(try buffer.kafkaReadInt16() == 42)
        var hostile = ByteBuffer(bytes: [0x01, 0x00, 0x7F])
        #expect(throws: KafkaDecodeError(.invalidLength)) { try hostile.kafkaSkipTaggedFields() }
    }

    @Test("Kafka's murmur2 vectors")
    func checksums() {
        #expect(KafkaPartitioner.murmur2(Array("21".utf8)) == -973_932_308)
        #expect(KafkaPartitioner.murmur2(Array("foobar".utf8)) == -790_332_482)
        #expect(KafkaPartitioner.murmur2(Array("a-little-bit-long-string".utf8)) == -985_981_536)
        #expect(KafkaPartitioner.murmur2(Array("a-little-bit-longer-string".utf8)) == -1_486_304_829)
        #expect(KafkaPartitioner.murmur2(Array("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8".utf8)) == -58_897_971)
        #expect(KafkaPartitioner.murmur2(Array("abc".utf8)) == 479_470_107)
    }
}
