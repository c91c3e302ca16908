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

@testable import VigilMQTT

/// Packets of every type, for both protocol versions, used by the round-trip tests.
enum SamplePackets {
    static func all(_ version: MQTTProtocolVersion) -> [MQTTPacket] {
        let v5 = version == .v5
        let props: [MQTTProperty] =
            v5
            ? [
                .userProperty("k", "v"), .reasonString("fine"),
            ] : []
        var packets: [MQTTPacket] = [
            .connect(
                MQTTConnectPacket(
                    version: version,
                    clientID: "client-1",
                    cleanSession: true,
                    keepAliveSeconds: 30,
                    username: "user",
                    password: ByteBuffer(string: "secret"),
                    will: .init(
                        topic: "will/topic",
                        payload: ByteBuffer(string: "gone"),
                        qos: .atLeastOnce,
                        retain: true,
                        properties: v5 ? [.willDelayInterval(5), .contentType("text/plain")] : []
                    ),
                    properties: v5 ? [.sessionExpiryInterval(60), .receiveMaximum(10), .topicAliasMaximum(5)] : []
                )
            ),
            .connect(
                MQTTConnectPacket(
                    version: version,
                    clientID: "",
                    cleanSession: false,
                    keepAliveSeconds: 0,
                    username: nil,
                    password: nil,
                    will: nil,
                    properties: []
                )
            ),
            .connack(
                MQTTConnAckPacket(sessionPresent: true, reasonCode: 0, properties: v5 ? [.assignedClientIdentifier("abc"), .maximumQoS(1)] : [])
            ),
            .connack(MQTTConnAckPacket(sessionPresent: false, reasonCode: v5 ? 0x87 : 5)),
            .publish(MQTTPublishPacket(topic: "a/b", payload: ByteBuffer(string: "hello"), qos: .atMostOnce, retain: false)),
            .publish(
                MQTTPublishPacket(
                    topic: "a/ü/c",
                    payload: ByteBuffer(bytes: [0, 1, 2, 255]),
                    qos: .atLeastOnce,
                    retain: true,
                    dup: true,
                    packetID: 7,
                    properties: v5
                        ? [
                            .payloadFormatIndicator(1), .messageExpiryInterval(9), .contentType("application/json"),
                            .responseTopic("reply/1"), .correlationData(ByteBuffer(string: "corr")), .userProperty("a", "b"),
                            .subscriptionIdentifier(268_435_455), .topicAlias(3),
                        ] : []
                )
            ),
            .publish(MQTTPublishPacket(topic: "q2", payload: ByteBuffer(), qos: .exactlyOnce, retain: false, packetID: 65535)),
            .ack(MQTTAckPacket(type: .puback, packetID: 1)),
            .ack(MQTTAckPacket(type: .pubrec, packetID: 2)),
            .ack(MQTTAckPacket(type: .pubrel, packetID: 3)),
            .ack(MQTTAckPacket(type: .pubcomp, packetID: 4)),
            .subscribe(
                MQTTSubscribePacket(
                    packetID: 10,
                    subscriptions: [
                        MQTTSubscribeInfo(filter: "a/+/c", qos: .atLeastOnce),
                        MQTTSubscribeInfo(
                            filter: "$share/g/x/#",
                            qos: .exactlyOnce,
                            noLocal: v5,
                            retainAsPublished: v5,
                            retainHandling: v5 ? .doNotSend : .sendOnSubscribe
                        ),
                    ],
                    properties: v5 ? [.subscriptionIdentifier(12)] : []
                )
            ),
            .suback(MQTTSubAckPacket(packetID: 10, reasonCodes: [1, 0x80], properties: props)),
            .unsubscribe(MQTTUnsubscribePacket(packetID: 11, filters: ["a/+/c", "b"], properties: v5 ? [.userProperty("x", "y")] : [])),
            .unsuback(MQTTSubAckPacket(packetID: 11, reasonCodes: v5 ? [0, 0x11] : [], properties: props)),
            .pingreq,
            .pingresp,
            .disconnect(MQTTDisconnectPacket()),
        ]
        if v5 {
            packets += [
                .ack(MQTTAckPacket(type: .puback, packetID: 5, reasonCode: 0x10)),
                .ack(MQTTAckPacket(type: .pubrec, packetID: 6, reasonCode: 0x80, properties: [.reasonString("no")])),
                .disconnect(MQTTDisconnectPacket(reasonCode: 0x8E, properties: [.reasonString("taken over"), .serverReference("other")])),
                .auth(MQTTAuthPacket()),
                .auth(MQTTAuthPacket(reasonCode: 0x18, properties: [.authenticationMethod("SCRAM"), .authenticationData(ByteBuffer(string: "x"))])),
            ]
        }
        return packets
    }

    static func encode(_ packet: MQTTPacket, _ version: MQTTProtocolVersion) -> ByteBuffer {
        var buffer = ByteBuffer()
        packet.write(to: &buffer, version: version)
        return buffer
    }
}

@Suite("MQTT codec")
struct MQTTCodecTests {
    @Test("Every packet type round-trips through an EmbeddedChannel", arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func roundTrip(version: MQTTProtocolVersion) throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MQTTPacketDecoder(version: version)))
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(MQTTPacketEncoder(version: version)))
        for packet in SamplePackets.all(version) {
            try channel.writeOutbound(packet)
            let bytes = try #require(try channel.readOutbound(as: ByteBuffer.self))
            try channel.writeInbound(bytes)
            let decoded = try channel.readInbound(as: MQTTPacket.self)
            #expect(decoded == packet)
        }
        #expect(try channel.finish().isClean)
    }

    @Test("ByteToMessageDecoderVerifier accepts the decoder", arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func verifier(version: MQTTProtocolVersion) throws {
        let pairs = SamplePackets.all(version).map { (SamplePackets.encode($0, version), [$0]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            MQTTPacketDecoder(version: version)
        }
    }

    @Test("Remaining length boundaries encode in 1 to 4 bytes")
    func variableInteger() throws {
        for (value, size) in [(0, 1), (127, 1), (128, 2), (16_383, 2), (16_384, 3), (2_097_151, 3), (2_097_152, 4), (268_435_455, 4)] {
            var buffer = ByteBuffer()
            #expect(buffer.writeMQTTVariableInteger(UInt32(value)) == size)
            #expect(ByteBuffer.mqttVariableIntegerSize(value) == size)
            #expect(try buffer.readMQTTVariableInteger() == UInt32(value))
        }
    }

    @Test("A large PUBLISH with a multi-byte remaining length round-trips")
    func largePublish() throws {
        let payload = ByteBuffer(repeating: 0x41, count: 200_000)
        let packet = MQTTPacket.publish(MQTTPublishPacket(topic: "big", payload: payload, qos: .atLeastOnce, retain: false, packetID: 9))
        var bytes = SamplePackets.encode(packet, .v5)
        var decoder = MQTTPacketDecoder(version: .v5)
        #expect(try decoder.decode(buffer: &bytes) == packet)
        #expect(bytes.readableBytes == 0)
    }

    @Test("The decoder waits for a packet split at every byte")
    func partialInput() throws {
        let packet = SamplePackets.all(.v5)[5]
        let bytes = SamplePackets.encode(packet, .v5)
        var decoder = MQTTPacketDecoder(version: .v5)
        var buffer = ByteBuffer()
        for index in 0..<bytes.readableBytes - 1 {
            buffer.writeInteger(bytes.getInteger(at: index, as: UInt8.self)!)
            let before = buffer.readerIndex
            #expect(try decoder.decode(buffer: &buffer) == nil)
            #expect(buffer.readerIndex == before)
        }
        buffer.writeInteger(bytes.getInteger(at: bytes.readableBytes - 1, as: UInt8.self)!)
        #expect(try decoder.decode(buffer: &buffer) == packet)
    }
}

@Suite("MQTT codec: malformed input")
struct MQTTMalformedInputTests {
    /// Feeds bytes through an EmbeddedChannel and returns the decode error.
    func decodeError(_ bytes: [UInt8], version: MQTTProtocolVersion = .v5, maxPacketSize: Int = 1 << 20) -> MQTTDecodeError? {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTPacketDecoder(version: version, maxPacketSize: maxPacketSize)))
        defer { _ = try? channel.finish() }
        do {
            try channel.writeInbound(ByteBuffer(bytes: bytes))
            _ = try channel.finish()
            return nil
        } catch let error as MQTTDecodeError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test("A remaining length of five bytes is rejected")
    func remainingLengthOverflow() {
        #expect(decodeError([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])?.kind == .remainingLengthOverflow)
    }

    @Test("An oversized packet is rejected from its header, before its body arrives")
    func oversized() {
        #expect(decodeError([0x30, 0x80, 0x80, 0x01], maxPacketSize: 1024)?.kind == .packetTooLarge)
    }

    @Test("A truncated packet at end of stream is an error")
    func truncated() {
        #expect(decodeError([0x30, 0x0A, 0x00, 0x03, 0x61])?.kind == .truncated)
    }

    @Test("Packet type 0 and AUTH under 3.1.1 are unknown packet types")
    func unknownTypes() {
        #expect(decodeError([0x00, 0x00])?.kind == .unknownPacketType)
        #expect(decodeError([0xF0, 0x00], version: .v3_1_1)?.kind == .unknownPacketType)
    }

    @Test("Reserved fixed-header flags are rejected")
    func reservedFlags() {
        #expect(decodeError([0xC1, 0x00])?.kind == .reservedFlags)  // PINGREQ with flags
        #expect(decodeError([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00], version: .v3_1_1)?.kind == .reservedFlags)  // SUBSCRIBE flags 0
        #expect(decodeError([0x60, 0x02, 0x00, 0x01])?.kind == .reservedFlags)  // PUBREL flags 0
        #expect(decodeError([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01])?.kind == .reservedFlags)  // PUBLISH QoS 3
        #expect(decodeError([0x20, 0x02, 0x02, 0x00], version: .v3_1_1)?.kind == .reservedFlags)  // CONNACK flags
    }

    @Test("Lengths inside a packet that exceed it are rejected")
    func badLengths() {
        // PUBLISH whose topic length says 10 but only 1 byte follows.
        #expect(decodeError([0x30, 0x03, 0x00, 0x0A, 0x61])?.kind == .badLength)
        // PINGRESP with a body.
        #expect(decodeError([0xD0, 0x01, 0x00])?.kind == .badLength)
        // PUBACK under 3.1.1 with extra bytes.
        #expect(decodeError([0x40, 0x03, 0x00, 0x01, 0x00], version: .v3_1_1)?.kind == .badLength)
        // Property length beyond the packet.
        #expect(decodeError([0x30, 0x05, 0x00, 0x01, 0x61, 0x09, 0x01])?.kind == .badLength)
    }

    @Test("Invalid UTF-8 and U+0000 in strings are rejected")
    func badUTF8() {
        #expect(decodeError([0x30, 0x04, 0x00, 0x02, 0xC3, 0x28], version: .v3_1_1)?.kind == .invalidUTF8)
        #expect(decodeError([0x30, 0x04, 0x00, 0x02, 0x61, 0x00], version: .v3_1_1)?.kind == .invalidUTF8)
        // An encoded surrogate (U+D800) is ill-formed.
        #expect(decodeError([0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80], version: .v3_1_1)?.kind == .invalidUTF8)
    }

    @Test("Other protocol violations are rejected")
    func malformed() {
        // Wildcard in a received topic name.
        #expect(decodeError([0x30, 0x03, 0x00, 0x01, 0x23], version: .v3_1_1)?.kind == .malformed)
        // QoS 1 PUBLISH with packet identifier 0.
        #expect(decodeError([0x32, 0x05, 0x00, 0x01, 0x61, 0x00, 0x00], version: .v3_1_1)?.kind == .malformed)
        // SUBSCRIBE without filters.
        #expect(decodeError([0x82, 0x02, 0x00, 0x01], version: .v3_1_1)?.kind == .malformed)
        // Unknown property identifier.
        #expect(decodeError([0x30, 0x06, 0x00, 0x01, 0x61, 0x02, 0x7F, 0x00])?.kind == .invalidProperty)
        // Unsupported protocol level in CONNECT.
        #expect(decodeError([0x10, 0x0A, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x03, 0x02, 0x00, 0x3C])?.kind == .unsupportedProtocol)
    }

    @Test("Mutations of captured broker traffic decode or fail with MQTTDecodeError, within the input")
    func seededMutations() {
        let seeds = SeedCorpus.load("mqtt")
        #expect(seeds.count >= 10)
        guard !seeds.isEmpty else { return }
        var mutator = SeededMutator(seed: 0x4D51_5454)
        var packets = 0
        var errors = 0
        for round in 0..<1500 {
            let input = mutator.mutate(seeds[round % seeds.count])
            for version in [MQTTProtocolVersion.v3_1_1, .v5] {
                // Typed throws: MQTTDecodeError is the only possible failure. decodeStream traps if the
                // decoder reads past the input or loops without consuming bytes.
                do throws(MQTTDecodeError) {
                    packets += try MQTTFuzzing.decodeStream(input, version: version, maxPacketSize: 4096)
                } catch {
                    errors += 1
                }
            }
        }
        // Both outcomes occur: mutations are neither all harmless nor all fatal.
        #expect(packets > 1000)
        #expect(errors > 100)
    }

}
