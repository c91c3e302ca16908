//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Crypto
import CryptoExtras
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing
import VigilSASL

@testable import VigilKafka

/// A broker that requires SCRAM (the server side written from RFC 5802 here, apart from the
/// client's code): SaslHandshake, two SaslAuthenticate rounds that check the client's proof against
/// the stored key, then Metadata.
final class SCRAMBroker: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let mechanism: String
    let password: String
    let salt: [UInt8] = Array("vigil-test-salt!".utf8)
    let iterations = 4_096
    let apiVersions: ByteBuffer
    /// The client-first-message-bare and server-first-message of the exchange in progress.
    let exchange = Mutex<(clientFirstBare: String, serverFirst: String)?>(nil)
    let authenticated = Atomic<Int>(0)

    init(mechanism: String, password: String) throws {
        self.mechanism = mechanism
        self.password = password
        var fixture = try KafkaRecordBatchTests.fixture("tansu-apiversions-v3.bin")
        fixture.moveReaderIndex(forwardBy: 4)
        self.apiVersions = fixture
    }

    private func hmac(_ data: [UInt8], _ key: [UInt8]) -> [UInt8] {
        mechanism == "SCRAM-SHA-256"
            ? Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: key)))
            : Array(HMAC<SHA512>.authenticationCode(for: data, using: SymmetricKey(data: key)))
    }

    private func digest(_ data: [UInt8]) -> [UInt8] {
        mechanism == "SCRAM-SHA-256" ? Array(SHA256.hash(data: data)) : Array(SHA512.hash(data: data))
    }

    /// The server's reply to a SaslAuthenticate token, or nil for a failed proof.
    private func authenticate(_ token: String) -> String? {
        if token.hasPrefix("n,,") {
            let bare = String(token.dropFirst(3))
            guard let nonce = bare.split(separator: ",").first(where: { $0.hasPrefix("r=") })?.dropFirst(2) else { return nil }
            let serverFirst = "r=\(nonce)server-part,s=\(Base64.encode(salt)),i=\(iterations)"
            exchange.withLock { $0 = (bare, serverFirst) }
            return serverFirst
        }
        guard let (bare, serverFirst) = exchange.withLock({ $0 }), let proofRange = token.range(of: ",p=") else { return nil }
        let withoutProof = String(token[..<proofRange.lowerBound])
        guard let proof = Base64.decode(String(token[proofRange.upperBound...])) else { return nil }
        let salted = try! KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8),
            salt: salt,
            using: mechanism == "SCRAM-SHA-256" ? .sha256 : .sha512,
            outputByteCount: mechanism == "SCRAM-SHA-256" ? 32 : 64,
            unsafeUncheckedRounds: iterations
        ).withUnsafeBytes { Array($0) }
        let storedKey = digest(hmac(Array("Client Key".utf8), salted))
        let authMessage = Array("\(bare),\(serverFirst),\(withoutProof)".utf8)
        let clientSignature = hmac(authMessage, storedKey)
        let clientKey = zip(proof, clientSignature).map { $0 ^ $1 }
        guard digest(clientKey) == storedKey else { return nil }
        authenticated.add(1, ordering: .relaxed)
        return "v=" + Base64.encode(hmac(authMessage, hmac(Array("Server Key".utf8), salted)))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = Self.unwrapInboundIn(data)
        guard let key = frame.readInteger(as: Int16.self), let version = frame.readInteger(as: Int16.self),
            let correlationID = frame.readInteger(as: Int32.self),
            let clientIDLength = frame.readInteger(as: Int16.self)
        else { return }
        frame.moveReaderIndex(forwardBy: max(0, Int(clientIDLength)))
        var body = ByteBuffer()
        switch key {
        case KafkaAPIKey.apiVersions.rawValue:
            body = apiVersions
        case KafkaAPIKey.saslHandshake.rawValue:
            let asked = frame.readInteger(as: Int16.self).flatMap { frame.readString(length: Int($0)) }
            body.writeInteger(asked == mechanism ? Int16(0) : Int16(33))
            body.writeInteger(Int32(1))
            body.kafkaWriteString(mechanism, flexible: false)
        case KafkaAPIKey.saslAuthenticate.rawValue:
            let token = frame.readInteger(as: Int32.self).flatMap { frame.readString(length: Int($0)) } ?? ""
            if let reply = authenticate(token) {
                body.writeInteger(Int16(0))
                body.kafkaWriteString(nil, flexible: false)
                body.writeInteger(Int32(reply.utf8.count))
                body.writeString(reply)
            } else {
                body.writeInteger(Int16(58))
                body.kafkaWriteString("Authentication failed: invalid credentials", flexible: false)
                body.writeInteger(Int32(0))
            }
            if version >= 1 { body.writeInteger(Int64(0)) }
        default:  // Metadata: this broker alone, no topics
            body.writeInteger(Int32(0))
            body.writeInteger(Int32(1))
            body.writeInteger(Int32(1))
            body.kafkaWriteString("127.0.0.1", flexible: false)
            body.writeInteger(Int32(9092))
            body.kafkaWriteString(nil, flexible: false)
            body.kafkaWriteString("scram", flexible: false)
            body.writeInteger(Int32(1))
            body.writeInteger(Int32(0))
        }
        FakeBroker.respond(correlationID: correlationID, body: &body, context: context)
    }

    static func with<Result>(
        mechanism: String,
        password: String,
        _ body: (SCRAMBroker, KafkaBrokerAddress) async throws -> Result
    ) async throws -> Result {
        let broker = try SCRAMBroker(mechanism: mechanism, password: password)
        return try await FakeBroker.serving(broker) { try await body(broker, $0) }
    }
}

@Suite("Kafka SASL SCRAM")
struct KafkaSCRAMTests {
    static let nonce = "rOprNGfwEbeRWgbNEkqO"
    static let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"

    @Test("SCRAM-SHA-256 gives RFC 7677's messages; SCRAM-SHA-512 those of Python's hashlib and hmac for the same inputs")
    func vectors() throws {
        var sha256 = SCRAMClient(hash: .sha256, username: "user", password: "pencil", clientNonce: Self.nonce)
        #expect(sha256.clientFirstMessage == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        #expect(
            try sha256.clientFinalMessage(serverFirst: Self.serverFirst)
                == "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        )
        #expect(sha256.verify(serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))
        #expect(!sha256.verify(serverFinal: "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))

        var sha512 = SCRAMClient(hash: .sha512, username: "user", password: "pencil", clientNonce: Self.nonce)
        #expect(
            try sha512.clientFinalMessage(serverFirst: Self.serverFirst)
                == "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                + "p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ=="
        )
        #expect(
            sha512.verify(serverFinal: "v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw==")
        )
    }

    @Test(
        "A hostile server-first-message is refused: a nonce that does not extend ours, no salt, bad base64, zero or too many iterations",
        arguments: [
            "r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=rOprNGfwEbeRWgbNEkqOx,i=4096",
            "r=rOprNGfwEbeRWgbNEkqOx,s=***,i=4096",
            "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
            "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100000000",
            "",
        ]
    )
    func hostileServerFirst(message: String) {
        var scram = SCRAMClient(hash: .sha256, username: "user", password: "pencil", clientNonce: Self.nonce)
        #expect(throws: SCRAMClient.Failure.self) { try scram.clientFinalMessage(serverFirst: message) }
        #expect(!scram.verify(serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))
    }

    @Test(
        "A connection logs in with SCRAM-SHA-256 and -512 and reads metadata; a wrong password is an authentication error",
        arguments: ["SCRAM-SHA-256", "SCRAM-SHA-512"]
    )
    func brokerExchange(mechanism: String) async throws {
        try await SCRAMBroker.with(mechanism: mechanism, password: "s3cret") { broker, address in
            let kind = KafkaSASL.Mechanism(rawValue: mechanism)!
            let good = KafkaCluster(
                configuration: KafkaConfiguration(
                    bootstrapBrokers: [address],
                    sasl: KafkaSASL(mechanism: kind, username: "alice", password: "s3cret")
                ),
                logger: Logger(label: "test")
            )
            let metadata = try await good.refreshMetadata(topics: [])
            #expect(metadata.brokers[1]?.port == 9092)
            #expect(broker.authenticated.load(ordering: .relaxed) == 1)
            await good.close()

            let bad = KafkaCluster(
                configuration: KafkaConfiguration(
                    bootstrapBrokers: [address],
                    sasl: KafkaSASL(mechanism: kind, username: "alice", password: "wrong")
                ),
                logger: Logger(label: "test")
            )
            await #expect {
                try await bad.refreshMetadata(topics: [])
            } throws: { error in
                "\(error)".contains("uthentication")
            }
            #expect(broker.authenticated.load(ordering: .relaxed) == 1)
            await bad.close()
        }
    }
}
