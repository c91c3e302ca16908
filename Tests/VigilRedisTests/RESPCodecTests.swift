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

@testable import VigilRedis

/// One value of every RESP3 type, with the exact bytes the specification gives for it.
enum SampleRESP {
    static let pairs: [(String, RESPValue)] = [
        ("+OK\r\n", .simpleString("OK")),
        ("+\r\n", .simpleString("")),
        ("-ERR unknown command 'FOO'\r\n", .simpleError("ERR unknown command 'FOO'")),
        (":0\r\n", .integer(0)),
        (":-9223372036854775808\r\n", .integer(.min)),
        (":9223372036854775807\r\n", .integer(.max)),
        ("$5\r\nhello\r\n", .bulkString("hello")),
        ("$0\r\n\r\n", .bulkString("")),
        ("$4\r\na\r\nb\r\n", .bulkString(ByteBuffer(string: "a\r\nb"))),
        ("_\r\n", .null),
        (",1.5\r\n", .double(1.5)),
        (",-0.25\r\n", .double(-0.25)),
        (",inf\r\n", .double(.infinity)),
        (",-inf\r\n", .double(-.infinity)),
        ("#t\r\n", .boolean(true)),
        ("#f\r\n", .boolean(false)),
        ("(3492890328409238509324850943850943825024385\r\n", .bigNumber("3492890328409238509324850943850943825024385")),
        ("(-12\r\n", .bigNumber("-12")),
        ("!21\r\nSYNTAX invalid syntax\r\n", .bulkError("SYNTAX invalid syntax")),
        ("=15\r\ntxt:Some string\r\n", .verbatimString(format: "txt", text: ByteBuffer(string: "Some string"))),
        ("*0\r\n", .array([])),
        ("*3\r\n:1\r\n$3\r\ntwo\r\n_\r\n", .array([.integer(1), .bulkString("two"), .null])),
        ("*2\r\n*1\r\n+a\r\n*0\r\n", .array([.array([.simpleString("a")]), .array([])])),
        (
            "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
            .map([RESPMapEntry(key: .simpleString("first"), value: .integer(1)), RESPMapEntry(key: .simpleString("second"), value: .integer(2))])
        ),
        ("~2\r\n+orange\r\n+apple\r\n", .set([.simpleString("orange"), .simpleString("apple")])),
        (
            "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.1923\r\n*1\r\n:2039123\r\n",
            .attribute(
                [RESPMapEntry(key: .simpleString("key-popularity"), value: .map([RESPMapEntry(key: .bulkString("a"), value: .double(0.1923))]))],
                .array([.integer(2_039_123)])
            )
        ),
        (">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", .push([.bulkString("message"), .bulkString("ch"), .bulkString("hi")])),
    ]

    static var values: [RESPValue] { pairs.map(\.1) }
}

@Suite("RESP3 codec")
struct RESPCodecTests {
    @Test("Each RESP3 type decodes from the specification's bytes", arguments: SampleRESP.pairs.indices)
    func decodeSpecificationBytes(index: Int) throws {
        let (text, expected) = SampleRESP.pairs[index]
        var buffer = ByteBuffer(string: text)
        let value = try buffer.readRESPValue()
        #expect(value == expected)
        #expect(buffer.readableBytes == 0)
    }

    @Test("Encoding and decoding every RESP3 type gives the same value", arguments: SampleRESP.pairs.indices)
    func roundTrip(index: Int) throws {
        let (text, value) = SampleRESP.pairs[index]
        var buffer = ByteBuffer()
        buffer.writeRESPValue(value)
        #expect(String(buffer: buffer) == text)
        #expect(try buffer.readRESPValue() == value)
    }

    @Test("RESP2 nulls and NaN decode")
    func resp2NullsAndNaN() throws {
        var buffer = ByteBuffer(string: "$-1\r\n*-1\r\n,nan\r\n")
        #expect(try buffer.readRESPValue() == .null)
        #expect(try buffer.readRESPValue() == .null)
        guard case .double(let value) = try buffer.readRESPValue() else {
            Issue.record("not a double")
            return
        }
        #expect(value.isNaN)
    }

    @Test("Round trip through EmbeddedChannel with the decoder and encoder")
    func embeddedChannelRoundTrip() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder()))
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(RESPEncoder()))
        for value in SampleRESP.values {
            try channel.writeOutbound(value)
            let bytes = try #require(try channel.readOutbound(as: ByteBuffer.self))
            try channel.writeInbound(bytes)
            #expect(try channel.readInbound(as: RESPValue.self) == value)
        }
        #expect(try channel.finish().isClean)
    }

    @Test("ByteToMessageDecoderVerifier accepts the decoder")
    func verifier() throws {
        let pairs = SampleRESP.pairs.map { (ByteBuffer(string: $0.0), [$0.1]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { RESPDecoder() }
    }

    @Test("Every proper prefix of a value is incomplete and leaves the reader index alone")
    func partialInput() throws {
        for (text, _) in SampleRESP.pairs {
            let bytes = Array(text.utf8)
            for length in 0..<bytes.count {
                var buffer = ByteBuffer(bytes: bytes[0..<length])
                #expect(try buffer.readRESPValue() == nil, "prefix \(length) of \(text.debugDescription)")
                #expect(buffer.readableBytes == length)
            }
        }
    }

    @Test("A large reply arriving in small reads decodes once, when it is complete")
    func largeReplyInChunks() throws {
        let entries = (0..<5_000).map {
            RESPValue.array([.bulkString("\($0)-0"), .array([.bulkString("field"), .bulkString(String(repeating: "v", count: $0 % 50))])])
        }
        let reply = RESPValue.array(entries)
        var encoded = ByteBuffer()
        encoded.writeRESPValue(reply)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder()))
        while encoded.readableBytes > 0 {
            try channel.writeInbound(encoded.readSlice(length: min(16_384, encoded.readableBytes))!)
            if encoded.readableBytes > 0 { #expect(try channel.readInbound(as: RESPValue.self) == nil) }
        }
        #expect(try channel.readInbound(as: RESPValue.self) == reply)
        #expect(try channel.finish().isClean)
    }

    @Test("The completeness check of a large value resumes where the last read stopped, for every type, in reads of any size")
    func resumedScan() throws {
        var entries: [RESPValue] = []
        for index in 0..<400 {
            entries.append(
                .attribute(
                    [RESPMapEntry(key: .simpleString("ttl"), value: .integer(Int64(index)))],
                    .map([
                        RESPMapEntry(key: .bulkString("k\(index)"), value: .set([.double(1.5), .boolean(index % 2 == 0), .null])),
                        RESPMapEntry(key: .simpleString("v"), value: .push([.bigNumber("123456789012345678901234567890"), .simpleError("ERR x")])),
                    ])
                )
            )
        }
        let reply = RESPValue.array(entries + [.verbatimString(format: "txt", text: ByteBuffer(string: "end"))])
        var encoded = ByteBuffer()
        encoded.writeRESPValue(reply)
        #expect(encoded.readableBytes > 4 * ByteBuffer.singlePassLimit)
        for chunk in [1, 7, 100, 4_096] {
            var decoder = RESPDecoder()
            var buffer = ByteBuffer()
            var source = encoded
            var decoded: RESPValue?
            while decoded == nil, let slice = source.readSlice(length: min(chunk, source.readableBytes)) {
                buffer.writeImmutableBuffer(slice)
                decoded = try decoder.decode(buffer: &buffer)
                if decoded == nil { #expect(buffer.readerIndex == 0) }
            }
            #expect(decoded == reply, "reads of \(chunk) bytes")
            #expect(source.readableBytes == 0 && buffer.readableBytes == 0)
        }
        // White box: the walk keeps its place between reads and never goes back.
        var progress = RESPScanProgress()
        var offsets: [Int] = []
        for length in stride(from: ByteBuffer.singlePassLimit + 1, to: encoded.readableBytes, by: 1_000) {
            var prefix = encoded.getSlice(at: 0, length: length)!
            #expect(try prefix.readRESPValue(limits: RESPDecoderLimits(), progress: &progress) == nil)
            offsets.append(progress.offset)
        }
        #expect(offsets == offsets.sorted() && offsets.last! > offsets.first!)
        // A limit broken far into a value is found, and the progress is reset for what follows.
        var deep = ByteBuffer(string: "*1201\r\n" + String(repeating: "+pad\r\n", count: 1_200))
        deep.writeString("?bad\r\n")
        var failed = RESPScanProgress()
        #expect { try deep.readRESPValue(limits: RESPDecoderLimits(), progress: &failed) } throws: {
            ($0 as? RESPDecodeError)?.kind == .invalidType
        }
        #expect(failed.offset == 0 && failed.pending == [1])
    }

    @Test(
        "Malformed input throws a typed error",
        arguments: [
            ("?what\r\n", RESPDecodeError.Kind.invalidType),
            (":12a\r\n", .invalidInteger),
            (":99999999999999999999\r\n", .invalidInteger),
            ("$abc\r\n", .invalidLength),
            ("$-2\r\n", .invalidLength),
            ("*-5\r\n", .invalidLength),
            ("%-1\r\n", .invalidLength),
            ("!-1\r\n", .invalidLength),
            ("$3\r\nabcd\r\n", .missingCRLF),
            ("+OK\n", .missingCRLF),
            (",1.5x\r\n", .invalidDouble),
            (",0x1p3\r\n", .invalidDouble),
            ("#x\r\n", .invalidBoolean),
            ("(12a\r\n", .invalidInteger),
            ("=3\r\ntxt\r\n", .invalidVerbatimString),
            ("_x\r\n", .invalidType),
        ]
    )
    func malformed(input: String, kind: RESPDecodeError.Kind) {
        var buffer = ByteBuffer(string: input)
        #expect {
            _ = try buffer.readRESPValue()
        } throws: { error in
            (error as? RESPDecodeError)?.kind == kind
        }
    }

    @Test("Nesting deeper than the limit is rejected, including chains of attributes")
    func nestingLimit() throws {
        let limits = RESPDecoderLimits(maxDepth: 8)
        var ok = ByteBuffer(string: String(repeating: "*1\r\n", count: 8) + ":1\r\n")
        #expect(try ok.readRESPValue(limits: limits) != nil)
        var deep = ByteBuffer(string: String(repeating: "*1\r\n", count: 9) + ":1\r\n")
        #expect(throws: RESPDecodeError.self) { try deep.readRESPValue(limits: limits) }
        // Without a limit this would recurse once per 4 bytes: a stack overflow for hostile input.
        var attributes = ByteBuffer(string: String(repeating: "|0\r\n", count: 100_000))
        #expect { try attributes.readRESPValue() } throws: { ($0 as? RESPDecodeError)?.kind == .nestingTooDeep }
        var arrays = ByteBuffer(string: String(repeating: ">1\r\n", count: 100_000))
        #expect { try arrays.readRESPValue() } throws: { ($0 as? RESPDecodeError)?.kind == .nestingTooDeep }
    }

    @Test("Bulk lengths, element counts and lines beyond the limits are rejected before buffering")
    func sizeLimits() throws {
        let limits = RESPDecoderLimits(maxBulkLength: 16, maxAggregateCount: 4, maxLineLength: 32)
        var bulk = ByteBuffer(string: "$17\r\n")
        #expect { try bulk.readRESPValue(limits: limits) } throws: { ($0 as? RESPDecodeError)?.kind == .bulkTooLong }
        var huge = ByteBuffer(string: "$9223372036854775807\r\n")
        #expect { try huge.readRESPValue() } throws: { ($0 as? RESPDecodeError)?.kind == .bulkTooLong }
        var array = ByteBuffer(string: "*5\r\n")
        #expect { try array.readRESPValue(limits: limits) } throws: { ($0 as? RESPDecodeError)?.kind == .aggregateTooLarge }
        var line = ByteBuffer(string: "+" + String(repeating: "a", count: 40))
        #expect { try line.readRESPValue(limits: limits) } throws: { ($0 as? RESPDecodeError)?.kind == .lineTooLong }
        // A large announced count with few bytes buffered is simply incomplete: nothing is allocated.
        var many = ByteBuffer(string: "*16000000\r\n:1\r\n")
        #expect(try many.readRESPValue() == nil)
    }

    @Test("Mutations of captured redis-server traffic decode or fail with RESPDecodeError, within the input")
    func seededMutations() {
        let seeds = SeedCorpus.load("resp")
        #expect(seeds.count >= 10)
        guard !seeds.isEmpty else { return }
        var mutator = SeededMutator(seed: 0x5245_5350)
        var values = 0
        var errors = 0
        for round in 0..<1500 {
            // Typed throws: RESPDecodeError is the only possible failure. decodeStream traps if the
            // decoder reads past the input or loops without consuming bytes.
            do throws(RESPDecodeError) {
                values += try RESPFuzzing.decodeStream(mutator.mutate(seeds[round % seeds.count]))
            } catch {
                errors += 1
            }
        }
        #expect(values > 1000)
        #expect(errors > 100)
    }

    @Test("Commands are written as arrays of bulk strings")
    func commandEncoding() {
        var command = RedisCommand("SET")
        command.append("key")
        command.append(ByteBuffer(bytes: [0, 255]))
        command.append("EX", 60)
        var buffer = ByteBuffer()
        command.write(to: &buffer)
        #expect(
            buffer == ByteBuffer(bytes: Array("*5\r\n$3\r\nSET\r\n$3\r\nkey\r\n$2\r\n".utf8) + [0, 255] + Array("\r\n$2\r\nEX\r\n$2\r\n60\r\n".utf8))
        )
        #expect(command.name == "SET")
        #expect(command.count == 5)

        let literal: RedisCommand = ["hget", "ü", "f"]
        var literalBuffer = ByteBuffer()
        literal.write(to: &literalBuffer)
        #expect(String(buffer: literalBuffer) == "*3\r\n$4\r\nhget\r\n$2\r\nü\r\n$1\r\nf\r\n")
        #expect(literal.name == "HGET")
        #expect(literal.description == "HGET (2 arguments)")
    }

    @Test("A command decodes on the server side as an array of bulk strings")
    func commandAsServerSees() throws {
        let command = RedisCommand("XADD", "s", "MAXLEN", "~", 100, "*", "f", 1.5)
        var buffer = ByteBuffer()
        command.write(to: &buffer)
        let value = try #require(try buffer.readRESPValue())
        #expect(value.array?.compactMap(\.string) == ["XADD", "s", "MAXLEN", "~", "100", "*", "f", "1.5"])
    }

    @Test("The array header is right below and above ten arguments", arguments: [1, 9, 10, 11, 123])
    func commandHeader(count: Int) throws {
        let command = RedisCommand((0..<count).map { "a\($0)" })
        var buffer = ByteBuffer()
        command.write(to: &buffer)
        #expect(String(buffer: buffer).hasPrefix("*\(count)\r\n$2\r\na0\r\n"))
        let value = try #require(try buffer.readRESPValue())
        #expect(value.array?.compactMap(\.string) == (0..<count).map { "a\($0)" })
    }
}

/// Xorshift64*: a deterministic generator, so a failing random input can be reproduced.
struct XorShiftGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 1 : seed }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
}
