//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

// The Kafka primitive types on a ByteBuffer. Responses arrive as whole frames (the frame decoder
// waits for the size prefix's bytes), so every reader here treats a short buffer as a malformed
// response, not as "need more bytes". Counts and lengths are checked against the readable bytes
// before allocating: an element takes at least one byte, so a count above the bytes left is a lie.

extension ByteBuffer {
    // MARK: - Fixed-width integers

    mutating func kafkaReadInt8(_ context: String = "") throws(KafkaDecodeError) -> Int8 {
        guard let value = readInteger(as: Int8.self) else { throw KafkaDecodeError(.truncated, context) }
        return value
    }

    mutating func kafkaReadInt16(_ context: String = "") throws(KafkaDecodeError) -> Int16 {
        guard let value = readInteger(as: Int16.self) else { throw KafkaDecodeError(.truncated, context) }
        return value
    }

    mutating func kafkaReadInt32(_ context: String = "") throws(KafkaDecodeError) -> Int32 {
        guard let value = readInteger(as: Int32.self) else { throw KafkaDecodeError(.truncated, context) }
        return value
    }

    mutating func kafkaReadInt64(_ context: String = "") throws(KafkaDecodeError) -> Int64 {
        guard let value = readInteger(as: Int64.self) else { throw KafkaDecodeError(.truncated, context) }
        return value
    }

    mutating func kafkaReadBool(_ context: String = "") throws(KafkaDecodeError) -> Bool {
        try kafkaReadInt8(context) != 0
    }

    // MARK: - Varints

    /// An unsigned LEB128 varint of at most 5 bytes (compact lengths, tag numbers).
    mutating func kafkaReadUnsignedVarint(_ context: String = "") throws(KafkaDecodeError) -> UInt32 {
        var result: UInt32 = 0
        for index in 0..<5 {
            guard let byte = readInteger(as: UInt8.self) else { throw KafkaDecodeError(.truncated, context) }
            if index == 4 && byte > 0x0F { throw KafkaDecodeError(.invalidVarint, context) }
            result |= UInt32(byte & 0x7F) << (7 * index)
            if byte & 0x80 == 0 { return result }
        }
        throw KafkaDecodeError(.invalidVarint, context)
    }

    /// A zigzag varint of at most 10 bytes (record fields).
    mutating func kafkaReadVarlong(_ context: String = "") throws(KafkaDecodeError) -> Int64 {
        var raw: UInt64 = 0
        for index in 0..<10 {
            guard let byte = readInteger(as: UInt8.self) else { throw KafkaDecodeError(.truncated, context) }
            if index == 9 && byte > 0x01 { throw KafkaDecodeError(.invalidVarint, context) }
            raw |= UInt64(byte & 0x7F) << (7 * index)
            if byte & 0x80 == 0 { return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1))) }
        }
        throw KafkaDecodeError(.invalidVarint, context)
    }

    /// A zigzag varint that must fit in 32 bits.
    mutating func kafkaReadVarint(_ context: String = "") throws(KafkaDecodeError) -> Int32 {
        let value = try kafkaReadVarlong(context)
        guard let narrow = Int32(exactly: value) else { throw KafkaDecodeError(.invalidVarint, context) }
        return narrow
    }

    @discardableResult
    mutating func kafkaWriteUnsignedVarint(_ value: UInt32) -> Int {
        var value = value
        var written = 0
        while value >= 0x80 {
            written += writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        return written + writeInteger(UInt8(value))
    }

    @discardableResult
    mutating func kafkaWriteVarlong(_ value: Int64) -> Int {
        var raw = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        var written = 0
        while raw >= 0x80 {
            written += writeInteger(UInt8(truncatingIfNeeded: raw) | 0x80)
            raw >>= 7
        }
        return written + writeInteger(UInt8(raw))
    }

    @discardableResult
    mutating func kafkaWriteVarint(_ value: Int32) -> Int { kafkaWriteVarlong(Int64(value)) }

    // MARK: - Lengths and counts

    /// Checks a length or count against the readable bytes, at `minimumElementSize` bytes each.
    ///
    /// Read the length into a local first: in `buffer.kafkaCheck(count: try buffer.read…())` Swift
    /// copies `buffer` before the read runs, so the check would count the length's own bytes as
    /// still readable.
    func kafkaCheck(count: Int, minimumElementSize: Int = 1, _ context: String) throws(KafkaDecodeError) -> Int {
        guard count >= 0, count <= readableBytes / max(minimumElementSize, 1) else {
            throw KafkaDecodeError(.invalidLength, context)
        }
        return count
    }

    /// An array count: INT32 in classic versions, unsigned varint N+1 in flexible ones; `nil` for a
    /// null array.
    mutating func kafkaReadArrayCount(
        flexible: Bool,
        minimumElementSize: Int = 1,
        _ context: String = ""
    ) throws(KafkaDecodeError) -> Int? {
        try kafkaReadNullableLength(flexible: flexible, wide: true, minimumElementSize: minimumElementSize, context)
    }

    /// An array count that must not be null.
    mutating func kafkaReadNonNullArrayCount(
        flexible: Bool,
        minimumElementSize: Int = 1,
        _ context: String = ""
    ) throws(KafkaDecodeError) -> Int {
        guard let count = try kafkaReadArrayCount(flexible: flexible, minimumElementSize: minimumElementSize, context) else {
            throw KafkaDecodeError(.invalidLength, context)
        }
        return count
    }

    mutating func kafkaWriteArrayCount(_ count: Int?, flexible: Bool) {
        kafkaWriteNullableLength(count, flexible: flexible, wide: true)
    }

    // MARK: - Strings and bytes

    /// The length of a nullable string or bytes field, checked against the bytes left; `nil` for
    /// null. Classic fields use a signed INT16 (strings) or INT32 (bytes) with -1 for null, compact
    /// ones an unsigned varint holding N+1 with 0 for null.
    private mutating func kafkaReadNullableLength(
        flexible: Bool,
        wide: Bool,
        minimumElementSize: Int = 1,
        _ context: String
    ) throws(KafkaDecodeError) -> Int? {
        let length: Int
        if flexible {
            let encoded = try kafkaReadUnsignedVarint(context)
            if encoded == 0 { return nil }
            length = Int(encoded) - 1
        } else {
            let encoded = wide ? Int(try kafkaReadInt32(context)) : Int(try kafkaReadInt16(context))
            if encoded == -1 { return nil }
            length = encoded
        }
        return try kafkaCheck(count: length, minimumElementSize: minimumElementSize, context)
    }

    private mutating func kafkaWriteNullableLength(_ length: Int?, flexible: Bool, wide: Bool) {
        if flexible {
            kafkaWriteUnsignedVarint(length.map { UInt32($0 + 1) } ?? 0)
        } else if wide {
            writeInteger(length.map { Int32($0) } ?? -1)
        } else {
            writeInteger(length.map { Int16(truncatingIfNeeded: $0) } ?? -1)
        }
    }

    mutating func kafkaReadNullableString(flexible: Bool, _ context: String = "") throws(KafkaDecodeError) -> String? {
        guard let length = try kafkaReadNullableLength(flexible: flexible, wide: false, context) else { return nil }
        guard let string = readString(length: length) else { throw KafkaDecodeError(.truncated, context) }
        return string
    }

    mutating func kafkaReadString(flexible: Bool, _ context: String = "") throws(KafkaDecodeError) -> String {
        guard let string = try kafkaReadNullableString(flexible: flexible, context) else {
            throw KafkaDecodeError(.invalidLength, context)
        }
        return string
    }

    mutating func kafkaWriteString(_ string: String?, flexible: Bool) {
        kafkaWriteNullableLength(string?.utf8.count, flexible: flexible, wide: false)
        if let string { writeString(string) }
    }

    /// Nullable bytes, returned as a slice of this buffer.
    mutating func kafkaReadNullableBytes(flexible: Bool, _ context: String = "") throws(KafkaDecodeError) -> ByteBuffer? {
        guard let length = try kafkaReadNullableLength(flexible: flexible, wide: true, context) else { return nil }
        guard let bytes = readSlice(length: length) else { throw KafkaDecodeError(.truncated, context) }
        return bytes
    }

    mutating func kafkaReadBytes(flexible: Bool, _ context: String = "") throws(KafkaDecodeError) -> ByteBuffer {
        guard let bytes = try kafkaReadNullableBytes(flexible: flexible, context) else {
            throw KafkaDecodeError(.invalidLength, context)
        }
        return bytes
    }

    mutating func kafkaWriteBytes(_ bytes: ByteBuffer?, flexible: Bool) {
        kafkaWriteNullableLength(bytes?.readableBytes, flexible: flexible, wide: true)
        if let bytes { writeImmutableBuffer(bytes) }
    }

    // MARK: - Topic arrays

    /// Writes the `[topic name, [partition …]]` nesting most requests share, topics in order of
    /// first appearance.
    mutating func kafkaWriteTopicArray<Item>(
        _ items: [Item],
        topic: (Item) -> String,
        partition writePartition: (inout ByteBuffer, Item) -> Void
    ) {
        var order: [String] = []
        var byTopic: [String: [Item]] = [:]
        for item in items {
            let name = topic(item)
            if byTopic[name] == nil { order.append(name) }
            byTopic[name, default: []].append(item)
        }
        kafkaWriteArrayCount(order.count, flexible: false)
        for name in order {
            kafkaWriteString(name, flexible: false)
            let entries = byTopic[name] ?? []
            kafkaWriteArrayCount(entries.count, flexible: false)
            for entry in entries { writePartition(&self, entry) }
        }
    }

    // MARK: - Tagged fields

    /// Skips a flexible version's tagged fields: this client needs none of the optional ones.
    mutating func kafkaSkipTaggedFields(_ context: String = "") throws(KafkaDecodeError) {
        let countRaw = Int(try kafkaReadUnsignedVarint(context))
        let count = try kafkaCheck(count: countRaw, context)
        for _ in 0..<count {
            _ = try kafkaReadUnsignedVarint(context)
            let sizeRaw = Int(try kafkaReadUnsignedVarint(context))
            let size = try kafkaCheck(count: sizeRaw, context)
            moveReaderIndex(forwardBy: size)
        }
    }

    /// Writes an empty tagged-field section.
    mutating func kafkaWriteEmptyTaggedFields() {
        writeInteger(UInt8(0))
    }
}
