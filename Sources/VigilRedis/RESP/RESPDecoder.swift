//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// Limits that keep a hostile or broken server from exhausting memory or the stack.
struct RESPDecoderLimits: Hashable, Sendable {
    /// The deepest nesting of aggregates (arrays, maps, sets, attributes, pushes).
    var maxDepth = 64
    /// The longest bulk string, bulk error or verbatim string; Redis's own default
    /// `proto-max-bulk-len` is 512 MiB.
    var maxBulkLength = 512 * 1024 * 1024
    /// The largest element count of one aggregate.
    var maxAggregateCount = 1 << 24
    /// The longest line (simple string, error, number) before CRLF.
    var maxLineLength = 64 * 1024
}

/// Splits a byte stream into RESP3 values.
///
/// The parsing lives in `ByteBuffer.readRESPValue(limits:)`; this type only adapts it to NIO.
/// It returns `nil` while a value is incomplete and never moves the reader index past one.
struct RESPDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = RESPValue

    var limits: RESPDecoderLimits
    /// How far the completeness check of a large value got in earlier reads.
    private var progress = RESPScanProgress()

    init(limits: RESPDecoderLimits = RESPDecoderLimits()) {
        self.limits = limits
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        try buffer.readRESPValue(limits: limits, progress: &progress)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        if let value = try buffer.readRESPValue(limits: limits, progress: &progress) { return value }
        if seenEOF && buffer.readableBytes > 0 {
            throw RESPDecodeError(.truncated, "\(buffer.readableBytes) bytes of an incomplete value at end of stream")
        }
        return nil
    }
}

/// Writes RESP3 values; used by tests and fake servers.
struct RESPEncoder: MessageToByteEncoder {
    typealias OutboundIn = RESPValue

    func encode(data: RESPValue, out: inout ByteBuffer) {
        out.writeRESPValue(data)
    }
}

/// How far a completeness check of a large value got: the bytes after the reader index already
/// seen to be whole elements or headers, and per open aggregate (outermost first) how many
/// elements are still to come.
struct RESPScanProgress {
    var offset = 0
    var pending = [1]
}

private let cr = UInt8(ascii: "\r")
private let lf = UInt8(ascii: "\n")

extension ByteBuffer {
    /// Reads one complete RESP3 value.
    ///
    /// - Parameter limits: Bounds on nesting, bulk lengths, counts and line lengths.
    /// - Returns: The value, or `nil` when the buffer holds only part of it (the reader index is
    ///   then unchanged).
    /// - Throws: ``RESPDecodeError`` for malformed input or input beyond the limits.
    mutating func readRESPValue(limits: RESPDecoderLimits = RESPDecoderLimits()) throws(RESPDecodeError) -> RESPValue? {
        var progress = RESPScanProgress()
        return try readRESPValue(limits: limits, progress: &progress)
    }

    /// Reads one complete RESP3 value, resuming the completeness check of a large value where the
    /// previous call (on the same, longer, buffer) stopped.
    ///
    /// A large reply arrives in many reads and is tried after each one. For an aggregate beyond a
    /// few kilobytes, checking completeness first walks only the headers and allocates nothing, so
    /// its values are built once, when whole; `progress` keeps the walk from starting over at each
    /// read, which would cost n²/k for a reply of n bytes in reads of k. Anything else is parsed in
    /// one pass: a scalar is cheap to retry, and most replies are scalars.
    mutating func readRESPValue(limits: RESPDecoderLimits, progress: inout RESPScanProgress) throws(RESPDecodeError) -> RESPValue? {
        guard let marker = self.getInteger(at: self.readerIndex, as: UInt8.self) else { return nil }
        if Self.isAggregate(marker), self.readableBytes > Self.singlePassLimit {
            do {
                guard try self.scanRESP(limits: limits, progress: &progress) else { return nil }
            } catch {
                progress = RESPScanProgress()
                throw error
            }
            progress = RESPScanProgress()
        }
        var copy = self
        guard let value = try copy.parseRESP(limits: limits, depth: 0) else { return nil }
        self = copy
        return value
    }

    /// Walks the headers of one value from where `progress` stopped; returns whether it is whole.
    ///
    /// The same checks as the parser (types, nesting, bulk and aggregate limits), so that an
    /// error surfaces as early as it would there.
    fileprivate func scanRESP(limits: RESPDecoderLimits, progress: inout RESPScanProgress) throws(RESPDecodeError) -> Bool {
        var view = self
        view.moveReaderIndex(forwardBy: progress.offset)
        while let open = progress.pending.last {
            if open == 0 {
                progress.pending.removeLast()
                continue
            }
            guard let marker = view.getInteger(at: view.readerIndex, as: UInt8.self) else { return false }
            let depth = progress.pending.count - 1
            switch marker {
            case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: ","), UInt8(ascii: "#"),
                UInt8(ascii: "("), UInt8(ascii: "_"):
                guard try view.readRESPLine(after: 1, limit: limits.maxLineLength) != nil else { return false }
                progress.pending[depth] -= 1
            case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
                var probe = view
                guard let line = try probe.readRESPLine(after: 1, limit: limits.maxLineLength) else { return false }
                let length = try Self.parseLength(line)
                if length >= 0 {
                    guard length <= limits.maxBulkLength else {
                        throw RESPDecodeError(.bulkTooLong, "bulk of \(length) bytes, limit \(limits.maxBulkLength)")
                    }
                    guard probe.readableBytes >= length + 2 else { return false }
                    probe.moveReaderIndex(forwardBy: length + 2)
                }
                view = probe
                progress.pending[depth] -= 1
            case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
                guard depth < limits.maxDepth else {
                    throw RESPDecodeError(.nestingTooDeep, "more than \(limits.maxDepth) nested aggregates")
                }
                guard let line = try view.readRESPLine(after: 1, limit: limits.maxLineLength) else { return false }
                let count = try Self.parseLength(line)
                progress.pending[depth] -= 1
                if count >= 0 {
                    guard count <= limits.maxAggregateCount else {
                        throw RESPDecodeError(.aggregateTooLarge, "\(count) elements, limit \(limits.maxAggregateCount)")
                    }
                    switch marker {
                    case UInt8(ascii: "%"): progress.pending.append(2 * count)
                    // An attribute and the value it describes are one element, one level deeper.
                    case UInt8(ascii: "|"): progress.pending.append(2 * count + 1)
                    default: progress.pending.append(count)
                    }
                }
            default:
                throw RESPDecodeError(.invalidType, "type byte 0x\(String(marker, radix: 16))")
            }
            progress.offset = view.readerIndex - self.readerIndex
        }
        return true
    }

    /// The buffered size up to which an aggregate is parsed without checking completeness first.
    static let singlePassLimit = 4096

    private static func isAggregate(_ marker: UInt8) -> Bool {
        switch marker {
        case UInt8(ascii: "*"), UInt8(ascii: "%"), UInt8(ascii: "~"), UInt8(ascii: "|"), UInt8(ascii: ">"): true
        default: false
        }
    }

    private mutating func parseRESP(limits: RESPDecoderLimits, depth: Int) throws(RESPDecodeError) -> RESPValue? {
        guard let marker = self.getInteger(at: self.readerIndex, as: UInt8.self) else { return nil }
        switch marker {
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: ","), UInt8(ascii: "#"),
            UInt8(ascii: "("), UInt8(ascii: "_"):
            break
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            break
        case UInt8(ascii: "*"), UInt8(ascii: "%"), UInt8(ascii: "~"), UInt8(ascii: "|"), UInt8(ascii: ">"):
            guard depth < limits.maxDepth else {
                throw RESPDecodeError(.nestingTooDeep, "more than \(limits.maxDepth) nested aggregates")
            }
        default:
            throw RESPDecodeError(.invalidType, "type byte 0x\(String(marker, radix: 16))")
        }
        guard let line = try self.readRESPLine(after: 1, limit: limits.maxLineLength) else { return nil }
        switch marker {
        case UInt8(ascii: "+"):
            return .simpleString(String(buffer: line))
        case UInt8(ascii: "-"):
            return .simpleError(String(buffer: line))
        case UInt8(ascii: ":"):
            guard let value = Int64(String(buffer: line)) else {
                throw RESPDecodeError(.invalidInteger, "'\(String(buffer: line).prefix(40))'")
            }
            return .integer(value)
        case UInt8(ascii: ","):
            return .double(try Self.parseDouble(line))
        case UInt8(ascii: "#"):
            switch String(buffer: line) {
            case "t": return .boolean(true)
            case "f": return .boolean(false)
            default: throw RESPDecodeError(.invalidBoolean, "'\(String(buffer: line).prefix(40))'")
            }
        case UInt8(ascii: "("):
            let text = String(buffer: line)
            let digits = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
            guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                throw RESPDecodeError(.invalidInteger, "big number '\(text.prefix(40))'")
            }
            return .bigNumber(text)
        case UInt8(ascii: "_"):
            guard line.readableBytes == 0 else { throw RESPDecodeError(.invalidType, "null with payload") }
            return .null
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            let length = try Self.parseLength(line)
            if length < 0 {
                guard marker == UInt8(ascii: "$") else { throw RESPDecodeError(.invalidLength, "negative length") }
                return .null
            }
            guard length <= limits.maxBulkLength else {
                throw RESPDecodeError(.bulkTooLong, "bulk of \(length) bytes, limit \(limits.maxBulkLength)")
            }
            guard self.readableBytes >= length + 2 else { return nil }
            let payload = self.readSlice(length: length)!
            guard self.readInteger(as: UInt8.self) == cr, self.readInteger(as: UInt8.self) == lf else {
                throw RESPDecodeError(.missingCRLF, "bulk payload of \(length) bytes not followed by CRLF")
            }
            switch marker {
            case UInt8(ascii: "$"):
                return .bulkString(payload)
            case UInt8(ascii: "!"):
                return .bulkError(String(buffer: payload))
            default:
                guard length >= 4, payload.getInteger(at: payload.readerIndex + 3, as: UInt8.self) == UInt8(ascii: ":") else {
                    throw RESPDecodeError(.invalidVerbatimString, "no 'xxx:' format prefix")
                }
                let format = payload.getString(at: payload.readerIndex, length: 3) ?? ""
                return .verbatimString(format: format, text: payload.getSlice(at: payload.readerIndex + 4, length: length - 4)!)
            }
        default:
            let count = try Self.parseLength(line)
            if count < 0 {
                guard marker == UInt8(ascii: "*") else { throw RESPDecodeError(.invalidLength, "negative count") }
                return .null
            }
            guard count <= limits.maxAggregateCount else {
                throw RESPDecodeError(.aggregateTooLarge, "\(count) elements, limit \(limits.maxAggregateCount)")
            }
            let isPairs = marker == UInt8(ascii: "%") || marker == UInt8(ascii: "|")
            // Every element needs at least three bytes: a count larger than what is buffered cannot
            // be complete yet, and must not drive an allocation.
            let minimumBytes = (isPairs ? 2 : 1) * count * 3
            guard self.readableBytes >= minimumBytes else { return nil }
            if isPairs {
                var entries: [RESPMapEntry] = []
                entries.reserveCapacity(count)
                for _ in 0..<count {
                    guard let key = try self.parseRESP(limits: limits, depth: depth + 1),
                        let value = try self.parseRESP(limits: limits, depth: depth + 1)
                    else { return nil }
                    entries.append(RESPMapEntry(key: key, value: value))
                }
                if marker == UInt8(ascii: "%") { return .map(entries) }
                // The described value counts as one level deeper, so chains of attributes are bounded too.
                guard let value = try self.parseRESP(limits: limits, depth: depth + 1) else { return nil }
                return .attribute(entries, value)
            }
            var values: [RESPValue] = []
            values.reserveCapacity(count)
            for _ in 0..<count {
                guard let value = try self.parseRESP(limits: limits, depth: depth + 1) else { return nil }
                values.append(value)
            }
            switch marker {
            case UInt8(ascii: "*"): return .array(values)
            case UInt8(ascii: "~"): return .set(values)
            default: return .push(values)
            }
        }
    }

    /// Reads the line that starts `offset` bytes after the reader index, without its CRLF.
    private mutating func readRESPLine(after offset: Int, limit: Int) throws(RESPDecodeError) -> ByteBuffer? {
        let start = self.readerIndex + offset
        let end = self.writerIndex
        let found: Int? = self.withUnsafeReadableBytes { bytes in
            var index = offset
            while index < bytes.count {
                if bytes[index] == lf { return index + self.readerIndex }
                index += 1
            }
            return nil
        }
        guard let lfIndex = found else {
            if end - start > limit { throw RESPDecodeError(.lineTooLong, "no CRLF within \(limit) bytes") }
            return nil
        }
        guard lfIndex > start, self.getInteger(at: lfIndex - 1, as: UInt8.self) == cr else {
            throw RESPDecodeError(.missingCRLF, "line ends with LF only")
        }
        guard lfIndex - 1 - start <= limit else { throw RESPDecodeError(.lineTooLong, "line longer than \(limit) bytes") }
        let line = self.getSlice(at: start, length: lfIndex - 1 - start)!
        self.moveReaderIndex(to: lfIndex + 1)
        return line
    }

    /// Parses a length or count: `-1`, or decimal digits (at most 18, far beyond any limit).
    private static func parseLength(_ line: ByteBuffer) throws(RESPDecodeError) -> Int {
        let value: Int? = line.withUnsafeReadableBytes { bytes in
            if bytes.count == 2 && bytes[0] == UInt8(ascii: "-") && bytes[1] == UInt8(ascii: "1") { return -1 }
            guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
            var result = 0
            for byte in bytes {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                result = result * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return result
        }
        guard let value else {
            let text = String(buffer: line)
            // Longer digit strings are valid RESP but exceed every limit: report them as such.
            if text.utf8.count > 18, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
                return Int.max
            }
            throw RESPDecodeError(.invalidLength, "'\(text.prefix(40))'")
        }
        return value
    }

    private static func parseDouble(_ line: ByteBuffer) throws(RESPDecodeError) -> Double {
        let text = String(buffer: line)
        switch text {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "-nan": return .nan
        default:
            // Swift's parser also accepts hexadecimal and "infinity"; RESP allows decimal only.
            guard !text.isEmpty,
                text.utf8.allSatisfy({ ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || "+-.eE".utf8.contains($0) }),
                let value = Double(text)
            else {
                throw RESPDecodeError(.invalidDouble, "'\(text.prefix(40))'")
            }
            return value
        }
    }

    /// Writes a RESP3 value.
    ///
    /// - Parameter value: The value; doubles are written in Swift's shortest round-trip form.
    mutating func writeRESPValue(_ value: RESPValue) {
        switch value {
        case .simpleString(let text): self.writeRESPLine("+", text)
        case .simpleError(let text): self.writeRESPLine("-", text)
        case .integer(let number): self.writeRESPLine(":", String(number))
        case .bulkString(let buffer): self.writeRESPBulk("$", buffer)
        case .null: self.writeStaticString("_\r\n")
        case .double(let number):
            let text = number.isNaN ? "nan" : number == .infinity ? "inf" : number == -.infinity ? "-inf" : "\(number)"
            self.writeRESPLine(",", text)
        case .boolean(let flag): self.writeStaticString(flag ? "#t\r\n" : "#f\r\n")
        case .bigNumber(let text): self.writeRESPLine("(", text)
        case .bulkError(let text): self.writeRESPBulk("!", ByteBuffer(string: text))
        case .verbatimString(let format, let text):
            var payload = ByteBuffer(string: format + ":")
            payload.writeImmutableBuffer(text)
            self.writeRESPBulk("=", payload)
        case .array(let values): self.writeRESPAggregate("*", values)
        case .set(let values): self.writeRESPAggregate("~", values)
        case .push(let values): self.writeRESPAggregate(">", values)
        case .map(let entries):
            self.writeRESPLine("%", String(entries.count))
            for entry in entries {
                self.writeRESPValue(entry.key)
                self.writeRESPValue(entry.value)
            }
        case .attribute(let entries, let inner):
            self.writeRESPLine("|", String(entries.count))
            for entry in entries {
                self.writeRESPValue(entry.key)
                self.writeRESPValue(entry.value)
            }
            self.writeRESPValue(inner)
        }
    }

    private mutating func writeRESPLine(_ marker: StaticString, _ text: String) {
        self.writeStaticString(marker)
        self.writeString(text)
        self.writeStaticString("\r\n")
    }

    private mutating func writeRESPBulk(_ marker: StaticString, _ payload: ByteBuffer) {
        self.writeRESPLine(marker, String(payload.readableBytes))
        self.writeImmutableBuffer(payload)
        self.writeStaticString("\r\n")
    }

    private mutating func writeRESPAggregate(_ marker: StaticString, _ values: [RESPValue]) {
        self.writeRESPLine(marker, String(values.count))
        for value in values { self.writeRESPValue(value) }
    }
}
