//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import VigilClientSupport

/// Record batch v2 (magic 2), the only format Kafka 4 accepts and every broker since 0.11 writes.
///
/// ```
/// baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 = 2 | crc uint32
/// ┌ attributes int16 | lastOffsetDelta int32 | firstTimestamp int64 | maxTimestamp int64
/// │ producerId int64 | producerEpoch int16 | baseSequence int32 | recordCount int32
/// └ records: length varint | attributes int8 | timestampDelta varlong | offsetDelta varint
///            keyLength varint | key | valueLength varint | value | headerCount varint | headers
/// (the CRC-32C covers the bracketed part: attributes to the end)
/// ```
struct KafkaRecordBatch: Hashable, Sendable {
    /// The size of everything before the records.
    static let headerSize = 61
    /// Bytes from the start of the batch up to and including `batchLength`.
    static let lengthPrefixSize = 12

    var baseOffset: Int64 = 0
    var partitionLeaderEpoch: Int32 = -1
    var attributes: Int16 = 0
    var lastOffsetDelta: Int32 = 0
    var firstTimestamp: Int64 = 0
    var maxTimestamp: Int64 = 0
    var producerID: Int64 = -1
    var producerEpoch: Int16 = -1
    var baseSequence: Int32 = -1
    var records: [KafkaRecord] = []

    /// The compression codec (attribute bits 0–2).
    var compression: Int16 { attributes & 0x07 }
    /// A transaction marker, not application data (attribute bit 5).
    var isControl: Bool { attributes & 0x20 != 0 }

    // MARK: - Writing

    /// Writes an uncompressed batch of records whose offsets are 0..<count relative to the batch.
    ///
    /// The records' `offset` fields are ignored: the broker assigns offsets.
    static func write(
        records: [KafkaProducerRecord],
        defaultTimestamp: Int64,
        producerID: Int64,
        producerEpoch: Int16,
        baseSequence: Int32,
        compression: KafkaCompression = .none,
        to buffer: inout ByteBuffer
    ) {
        let start = buffer.writerIndex
        let firstTimestamp = records.first.map { $0.timestamp ?? defaultTimestamp } ?? defaultTimestamp
        var maxTimestamp = firstTimestamp
        buffer.writeInteger(Int64(0))
        buffer.writeInteger(Int32(0))  // batchLength, set below
        buffer.writeInteger(Int32(-1))
        buffer.writeInteger(Int8(2))
        buffer.writeInteger(UInt32(0))  // crc, set below
        let crcStart = buffer.writerIndex
        buffer.writeInteger(compression.attribute)
        buffer.writeInteger(Int32(max(records.count - 1, 0)))
        buffer.writeInteger(firstTimestamp)
        let maxTimestampIndex = buffer.writerIndex
        buffer.writeInteger(Int64(0))
        buffer.writeInteger(producerID)
        buffer.writeInteger(producerEpoch)
        buffer.writeInteger(baseSequence)
        buffer.writeInteger(Int32(records.count))
        var section = ByteBuffer()
        var body = ByteBuffer()
        for (index, record) in records.enumerated() {
            let timestamp = record.timestamp ?? defaultTimestamp
            maxTimestamp = max(maxTimestamp, timestamp)
            body.clear()
            body.writeInteger(Int8(0))
            body.kafkaWriteVarlong(timestamp - firstTimestamp)
            body.kafkaWriteVarint(Int32(index))
            writeVarintBytes(record.key, to: &body)
            writeVarintBytes(record.value, to: &body)
            body.kafkaWriteVarint(Int32(record.headers.count))
            for header in record.headers {
                body.kafkaWriteVarint(Int32(header.key.utf8.count))
                body.writeString(header.key)
                writeVarintBytes(header.value, to: &body)
            }
            section.kafkaWriteVarint(Int32(body.readableBytes))
            section.writeImmutableBuffer(body)
        }
        buffer.writeImmutableBuffer(compression.compress(section))
        buffer.setInteger(maxTimestamp, at: maxTimestampIndex)
        buffer.setInteger(Int32(buffer.writerIndex - start - lengthPrefixSize), at: start + 8)
        let crc = buffer.withUnsafeReadableBytes { bytes in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[(crcStart - buffer.readerIndex)...]))
        }
        buffer.setInteger(crc, at: crcStart - 4)
    }

    private static func writeVarintBytes(_ bytes: ByteBuffer?, to buffer: inout ByteBuffer) {
        guard let bytes else {
            buffer.kafkaWriteVarint(-1)
            return
        }
        buffer.kafkaWriteVarint(Int32(bytes.readableBytes))
        buffer.writeImmutableBuffer(bytes)
    }

    // MARK: - Reading

    /// Reads every complete batch in a Fetch response's `records` field.
    ///
    /// A broker may cut the last batch short at the fetch size limit; that partial batch is not an
    /// error and is left out (the next fetch starts at it). Anything else that does not parse is.
    static func readBatches(
        from bytes: ByteBuffer,
        maxRecordsPerBatch: Int = 1 << 20,
        maxInflatedBytes: Int = 64 << 20
    ) throws(KafkaDecodeError) -> [KafkaRecordBatch] {
        var buffer = bytes
        var batches: [KafkaRecordBatch] = []
        while buffer.readableBytes >= lengthPrefixSize + 5 {
            guard let batchLength = buffer.getInteger(at: buffer.readerIndex + 8, as: Int32.self) else { break }
            // The smallest legal batch is its 49-byte header after the length field.
            guard batchLength >= Int32(headerSize - lengthPrefixSize) else { throw KafkaDecodeError(.invalidLength, "RecordBatch.batchLength") }
            guard buffer.readableBytes >= lengthPrefixSize + Int(batchLength) else { break }
            var batchBytes = buffer.readSlice(length: lengthPrefixSize + Int(batchLength))!
            batches.append(try read(&batchBytes, maxRecords: maxRecordsPerBatch, maxInflatedBytes: maxInflatedBytes))
        }
        return batches
    }

    /// The offset after the last whole batch in `bytes` (as ``readBatches(from:maxRecordsPerBatch:maxInflatedBytes:)``
    /// frames them), or `start` when there is none, from the batch headers alone: a consumer
    /// sends its next fetch with it while the records of this one are still being checked and
    /// parsed.
    static func nextOffset(after bytes: ByteBuffer, from start: Int64) throws(KafkaDecodeError) -> Int64 {
        var next = start
        var index = bytes.readerIndex
        while bytes.writerIndex - index >= lengthPrefixSize + 5 {
            guard let baseOffset = bytes.getInteger(at: index, as: Int64.self),
                let batchLength = bytes.getInteger(at: index + 8, as: Int32.self)
            else { break }
            guard batchLength >= Int32(headerSize - lengthPrefixSize) else { throw KafkaDecodeError(.invalidLength, "RecordBatch.batchLength") }
            guard bytes.writerIndex - index >= lengthPrefixSize + Int(batchLength) else { break }
            // baseOffset (8), batchLength (4), partitionLeaderEpoch (4), magic (1), crc (4), attributes (2).
            guard let lastOffsetDelta = bytes.getInteger(at: index + 23, as: Int32.self) else { break }
            guard baseOffset >= 0, lastOffsetDelta >= 0, baseOffset <= Int64.max - Int64(lastOffsetDelta) - 1 else {
                throw KafkaDecodeError(.invalidLength, "RecordBatch.lastOffsetDelta")
            }
            next = max(next, baseOffset + Int64(lastOffsetDelta) + 1)
            index += lengthPrefixSize + Int(batchLength)
        }
        return next
    }

    /// Reads one whole batch (exactly `batchLength` bytes follow the length field).
    static func read(
        _ buffer: inout ByteBuffer,
        maxRecords: Int = 1 << 20,
        maxInflatedBytes: Int = 64 << 20
    ) throws(KafkaDecodeError) -> KafkaRecordBatch {
        var batch = KafkaRecordBatch()
        batch.baseOffset = try buffer.kafkaReadInt64("RecordBatch.baseOffset")
        let length = try buffer.kafkaReadInt32("RecordBatch.batchLength")
        guard length >= 0, Int(length) == buffer.readableBytes else { throw KafkaDecodeError(.invalidLength, "RecordBatch.batchLength") }
        batch.partitionLeaderEpoch = try buffer.kafkaReadInt32("RecordBatch.partitionLeaderEpoch")
        let magic = try buffer.kafkaReadInt8("RecordBatch.magic")
        guard magic == 2 else { throw KafkaDecodeError(.invalidMagic, "RecordBatch.magic \(magic)") }
        let crc = UInt32(bitPattern: try buffer.kafkaReadInt32("RecordBatch.crc"))
        let actual = buffer.withUnsafeReadableBytes { CRC32C.checksum($0) }
        guard crc == actual else { throw KafkaDecodeError(.crcMismatch, "RecordBatch.crc") }
        batch.attributes = try buffer.kafkaReadInt16("RecordBatch.attributes")
        batch.lastOffsetDelta = try buffer.kafkaReadInt32("RecordBatch.lastOffsetDelta")
        batch.firstTimestamp = try buffer.kafkaReadInt64("RecordBatch.firstTimestamp")
        batch.maxTimestamp = try buffer.kafkaReadInt64("RecordBatch.maxTimestamp")
        batch.producerID = try buffer.kafkaReadInt64("RecordBatch.producerId")
        batch.producerEpoch = try buffer.kafkaReadInt16("RecordBatch.producerEpoch")
        batch.baseSequence = try buffer.kafkaReadInt32("RecordBatch.baseSequence")
        let count = try buffer.kafkaReadInt32("RecordBatch.recordCount")
        var records = try KafkaCompression(attribute: batch.compression).decompress(buffer, limit: maxInflatedBytes)
        // A record takes at least 7 bytes, which bounds the count before reserving space.
        guard count >= 0, Int(count) <= maxRecords, Int(count) <= records.readableBytes / 7 + 1 else {
            throw KafkaDecodeError(.invalidLength, "RecordBatch.recordCount")
        }
        batch.records.reserveCapacity(Int(count))
        for _ in 0..<count {
            batch.records.append(try readRecord(&records, batch: batch))
        }
        guard records.readableBytes == 0 else { throw KafkaDecodeError(.invalidLength, "RecordBatch.records") }
        return batch
    }

    private static func readRecord(_ buffer: inout ByteBuffer, batch: KafkaRecordBatch) throws(KafkaDecodeError) -> KafkaRecord {
        let lengthRaw = Int(try buffer.kafkaReadVarint("Record.length"))
        let length = try buffer.kafkaCheck(count: lengthRaw, "Record.length")
        var body = buffer.readSlice(length: length)!
        _ = try body.kafkaReadInt8("Record.attributes")
        let timestampDelta = try body.kafkaReadVarlong("Record.timestampDelta")
        let offsetDelta = try body.kafkaReadVarint("Record.offsetDelta")
        let key = try readVarintBytes(&body, "Record.key")
        let value = try readVarintBytes(&body, "Record.value")
        let headerCountRaw = Int(try body.kafkaReadVarint("Record.headers"))
        let headerCount = try body.kafkaCheck(count: headerCountRaw, minimumElementSize: 2, "Record.headers")
        var headers: [KafkaHeader] = []
        headers.reserveCapacity(headerCount)
        for _ in 0..<headerCount {
            let keyLengthRaw = Int(try body.kafkaReadVarint("Header.key"))
            let keyLength = try body.kafkaCheck(count: keyLengthRaw, "Header.key")
            guard let key = body.readString(length: keyLength) else { throw KafkaDecodeError(.truncated, "Header.key") }
            headers.append(KafkaHeader(key: key, value: try readVarintBytes(&body, "Header.value")))
        }
        guard body.readableBytes == 0 else { throw KafkaDecodeError(.invalidLength, "Record.length") }
        return KafkaRecord(
            offset: batch.baseOffset &+ Int64(offsetDelta),
            timestamp: batch.firstTimestamp &+ timestampDelta,
            key: key,
            value: value,
            headers: headers
        )
    }

    private static func readVarintBytes(_ buffer: inout ByteBuffer, _ context: String) throws(KafkaDecodeError) -> ByteBuffer? {
        let length = try buffer.kafkaReadVarint(context)
        if length == -1 { return nil }
        _ = try buffer.kafkaCheck(count: Int(length), context)
        return buffer.readSlice(length: Int(length))!
    }
}
