//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import FuzzSupport
import NIOCore
import Testing
import VigilClientSupport

@testable import VigilKafka

@Suite("Kafka record batch v2")
struct KafkaRecordBatchTests {
    static func fixture(_ name: String) throws -> ByteBuffer {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil))
        return ByteBuffer(bytes: try Data(contentsOf: url))
    }

    static let records = [
        KafkaProducerRecord(
            topic: "t",
            key: ByteBuffer(string: "k1"),
            value: ByteBuffer(string: "v1"),
            headers: [KafkaHeader(key: "h", value: ByteBuffer(string: "x"))],
            timestamp: 1_000
        ),
        KafkaProducerRecord(topic: "t", key: nil, value: nil, headers: [KafkaHeader(key: "null", value: nil)], timestamp: 1_005),
        KafkaProducerRecord(topic: "t", key: ByteBuffer(string: ""), value: ByteBuffer(repeating: 7, count: 3000), timestamp: 999),
    ]

    static func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        KafkaRecordBatch.write(records: records, defaultTimestamp: 0, producerID: 42, producerEpoch: 3, baseSequence: 17, to: &buffer)
        return buffer
    }

    @Test("encode then decode keeps keys, values, headers, timestamps and producer fields")
    func roundTrip() throws {
        var buffer = Self.encoded()
        let batch = try KafkaRecordBatch.read(&buffer)
        #expect(batch.producerID == 42)
        #expect(batch.producerEpoch == 3)
        #expect(batch.baseSequence == 17)
        #expect(batch.lastOffsetDelta == 2)
        #expect(batch.maxTimestamp == 1_005)
        #expect(batch.records.map(\.offset) == [0, 1, 2])
        #expect(batch.records.map(\.timestamp) == [1_000, 1_005, 999])
        #expect(batch.records.map(\.key) == Self.records.map(\.key))
        #expect(batch.records.map(\.value) == Self.records.map(\.value))
        #expect(batch.records.map(\.headers) == Self.records.map(\.headers))
    }

    @Test("a flipped bit anywhere after the CRC field is caught")
    func crcMismatch() throws {
        let good = Self.encoded()
        for index in [21, 30, 61, good.readableBytes - 1] {
            var bad = good
            bad.setInteger(bad.getInteger(at: index, as: UInt8.self)! ^ 0x10, at: index)
            #expect(throws: KafkaDecodeError(.crcMismatch, "RecordBatch.crc")) { try KafkaRecordBatch.read(&bad) }
        }
    }

    @Test("a fetch's truncated last batch is left out; a lying record count is an error")
    func truncationAndCounts() throws {
        var two = Self.encoded()
        var second = Self.encoded()
        two.writeBuffer(&second)
        let cut = two.getSlice(at: 0, length: two.readableBytes - 10)!
        #expect(try KafkaRecordBatch.readBatches(from: cut).count == 1)
        #expect(try KafkaRecordBatch.readBatches(from: two).count == 2)

        var lying = Self.encoded()
        lying.setInteger(Int32.max, at: 57)
        // Recompute the CRC so only the count is wrong.
        let crc = lying.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[21...])) }
        lying.setInteger(crc, at: 17)
        #expect(throws: KafkaDecodeError(.invalidLength, "RecordBatch.recordCount")) { try KafkaRecordBatch.read(&lying) }

        var tiny = ByteBuffer()
        tiny.writeInteger(Int64(0))
        tiny.writeInteger(Int32(3))
        tiny.writeBytes([0, 0, 0, 0, 0])
        #expect(throws: KafkaDecodeError(.invalidLength, "RecordBatch.batchLength")) { try KafkaRecordBatch.readBatches(from: tiny) }
    }

    @Test("the next fetch offset from batch headers matches the parsed batches; hostile offsets are errors")
    func nextOffsetFromHeaders() throws {
        var two = Self.encoded()
        var second = Self.encoded()
        second.setInteger(Int64(3), at: 0)  // baseOffset is outside the CRC
        two.writeBuffer(&second)
        #expect(try KafkaRecordBatch.nextOffset(after: two, from: 0) == 6)
        // The truncated last batch is not consumed, as readBatches leaves it out.
        let cut = two.getSlice(at: 0, length: two.readableBytes - 10)!
        #expect(try KafkaRecordBatch.nextOffset(after: cut, from: 0) == 3)
        #expect(try KafkaRecordBatch.readBatches(from: cut).map { $0.baseOffset + Int64($0.lastOffsetDelta) + 1 } == [3])
        #expect(try KafkaRecordBatch.nextOffset(after: ByteBuffer(), from: 41) == 41)
        // A response that starts before the requested offset never moves the position back.
        #expect(try KafkaRecordBatch.nextOffset(after: Self.encoded(), from: 10) == 10)

        for (baseOffset, lastOffsetDelta) in [(Int64.max - 1, Int32(5)), (Int64(-1), Int32(0)), (Int64(0), Int32(-2))] {
            var hostile = Self.encoded()
            hostile.setInteger(baseOffset, at: 0)
            hostile.setInteger(lastOffsetDelta, at: 23)
            #expect(throws: KafkaDecodeError(.invalidLength, "RecordBatch.lastOffsetDelta")) {
                try KafkaRecordBatch.nextOffset(after: hostile, from: 0)
            }
        }
    }

    @Test("batches written by librdkafka 2.16 (captured from Tansu) decode with their headers")
    func librdkafkaBatches() throws {
        var total = 0
        for index in 0..<3 {
            var buffer = try Self.fixture("librdkafka-batch-\(index).bin")
            let batch = try KafkaRecordBatch.read(&buffer)
            #expect(batch.producerID >= 0)
            #expect(batch.baseSequence == 0)
            for record in batch.records {
                #expect(record.key.map { String(buffer: $0).hasPrefix("key-") } == true)
                #expect(record.headers.map(\.key) == ["h", "empty", "null"])
                #expect(record.headers.map(\.value) == [ByteBuffer(string: "v"), ByteBuffer(), nil])
            }
            total += batch.records.count
        }
        #expect(total == 200)
    }
}

@Suite("Kafka gzip batches")
struct KafkaGzipTests {
    /// The test records in one batch.
    static func encode(_ compression: KafkaCompression) -> ByteBuffer {
        var buffer = ByteBuffer()
        KafkaRecordBatch.write(
            records: KafkaRecordBatchTests.records,
            defaultTimestamp: 0,
            producerID: 1,
            producerEpoch: 0,
            baseSequence: 0,
            compression: compression,
            to: &buffer
        )
        return buffer
    }

    @Test("a gzip batch round-trips and is smaller than the plain one")
    func gzipRoundTrip() throws {
        let plain = Self.encode(.none)
        var packed = Self.encode(.gzip)
        #expect(packed.readableBytes < plain.readableBytes)
        let batch = try KafkaRecordBatch.read(&packed)
        #expect(batch.compression == 1)
        #expect(batch.records.map(\.value) == KafkaRecordBatchTests.records.map(\.value))
        #expect(batch.records.map(\.headers) == KafkaRecordBatchTests.records.map(\.headers))
    }

    @Test("inflating past the limit, or a truncated stream, is a decode error")
    func gzipLimits() {
        let bomb = KafkaGzip.compress(ByteBuffer(repeating: 0, count: 1 << 20))
        #expect(bomb.readableBytes < 4096)
        #expect(throws: KafkaDecodeError.self) { try KafkaGzip.decompress(bomb, limit: 1 << 16) }
        #expect(throws: KafkaDecodeError.self) { try KafkaGzip.decompress(bomb.getSlice(at: 0, length: bomb.readableBytes / 2)!, limit: 1 << 22) }
        #expect(throws: KafkaDecodeError.self) { try KafkaGzip.decompress(ByteBuffer(bytes: [1, 2, 3, 4]), limit: 1 << 22) }
        #expect((try? KafkaGzip.decompress(bomb, limit: 1 << 22))?.readableBytes == 1 << 20)
    }
}

@Suite("Kafka lz4 and zstd batches (liblz4 and libzstd loaded at run time)")
struct KafkaLoadedCodecTests {
    static let codecs: [KafkaCompression] = [.lz4, .zstd]

    @Test("the libraries load on this system", arguments: codecs)
    func available(_ codec: KafkaCompression) {
        // Debian's liblz4-1 and libzstd1 come with apt itself; CI must have them.
        #expect(codec.isAvailable)
        #expect(!KafkaCompression(attribute: 2).isAvailable)
    }

    @Test("a batch round-trips and is smaller than the plain one", arguments: codecs)
    func roundTrip(_ codec: KafkaCompression) throws {
        let plain = KafkaGzipTests.encode(.none)
        var packed = KafkaGzipTests.encode(codec)
        #expect(packed.readableBytes < plain.readableBytes)
        let batch = try KafkaRecordBatch.read(&packed)
        #expect(batch.compression == codec.attribute)
        #expect(batch.records.map(\.value) == KafkaRecordBatchTests.records.map(\.value))
        #expect(batch.records.map(\.headers) == KafkaRecordBatchTests.records.map(\.headers))
    }

    @Test("inflating past the limit, a truncated frame, garbage and seeded corruptions are decode errors", arguments: codecs)
    func limitsAndMalformedInput(_ codec: KafkaCompression) throws {
        let bomb = codec.compress(ByteBuffer(repeating: 0, count: 1 << 20))
        #expect(bomb.readableBytes < 8192)
        #expect(throws: KafkaDecodeError.self) { try codec.decompress(bomb, limit: 1 << 16) }
        #expect(throws: KafkaDecodeError.self) { try codec.decompress(bomb.getSlice(at: 0, length: bomb.readableBytes / 2)!, limit: 1 << 22) }
        #expect(throws: KafkaDecodeError.self) { try codec.decompress(ByteBuffer(bytes: [1, 2, 3, 4]), limit: 1 << 22) }
        #expect(throws: KafkaDecodeError.self) { try codec.decompress(ByteBuffer(), limit: 1 << 22) }
        #expect(try codec.decompress(bomb, limit: 1 << 20).readableBytes == 1 << 20)

        // Seeded byte flips of a real frame: an error or some bytes within the limit, never a crash.
        var text = ByteBuffer()
        for index in 0..<2000 { text.writeString("record \(index) value \(index * 7919 % 104_729);") }
        let frame = Array(codec.compress(text).readableBytesView)
        var mutator = SeededMutator(seed: 0x5eed)
        for _ in 0..<500 {
            if let inflated = try? codec.decompress(ByteBuffer(bytes: mutator.mutate(frame)), limit: 1 << 20) {
                #expect(inflated.readableBytes <= 1 << 20)
            }
        }
    }
}
