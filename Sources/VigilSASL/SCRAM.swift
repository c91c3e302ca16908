//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Crypto
import CryptoExtras

/// The client side of SASL SCRAM (RFC 5802; SHA-256 in RFC 7677, SHA-512 as Kafka uses it), without
/// channel binding: XMPP logs in with SCRAM-SHA-1, Kafka brokers with SCRAM-SHA-256 or -512.
///
/// ```swift
/// var scram = SCRAMClient(hash: .sha256, username: "user", password: "pencil", clientNonce: nonce)
/// send(scram.clientFirstMessage)
/// send(try scram.clientFinalMessage(serverFirst: reply))
/// guard scram.verify(serverFinal: lastReply) else { … }   // the server knows the password too
/// ```
public struct SCRAMClient: Sendable {
    /// The hash function of the mechanism.
    public enum Hash: Sendable, Hashable {
        case sha1
        case sha256
        case sha512

        var outputByteCount: Int {
            switch self {
            case .sha1: 20
            case .sha256: 32
            case .sha512: 64
            }
        }

        func hmac(_ data: [UInt8], key: [UInt8]) -> [UInt8] {
            let key = SymmetricKey(data: key)
            switch self {
            case .sha1: return Array(HMAC<Insecure.SHA1>.authenticationCode(for: data, using: key))
            case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: data, using: key))
            case .sha512: return Array(HMAC<SHA512>.authenticationCode(for: data, using: key))
            }
        }

        func hash(_ data: [UInt8]) -> [UInt8] {
            switch self {
            case .sha1: Array(Insecure.SHA1.hash(data: data))
            case .sha256: Array(SHA256.hash(data: data))
            case .sha512: Array(SHA512.hash(data: data))
            }
        }

        func saltedPassword(_ password: [UInt8], salt: [UInt8], iterations: Int) throws -> [UInt8] {
            let function: KDF.Insecure.PBKDF2.HashFunction =
                switch self {
                case .sha1: .insecureSHA1
                case .sha256: .sha256
                case .sha512: .sha512
                }
            let key = try KDF.Insecure.PBKDF2.deriveKey(
                from: password,
                salt: salt,
                using: function,
                outputByteCount: outputByteCount,
                unsafeUncheckedRounds: iterations
            )
            return key.withUnsafeBytes { Array($0) }
        }
    }

    /// Why an exchange failed.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The most PBKDF2 iterations a server may ask for: a hostile server could otherwise make the
    /// client spin for minutes (servers use 4,096 to a few hundred thousand).
    public static let maximumIterations = 1_000_000

    public let hash: Hash
    let username: String
    let password: String
    let clientNonce: String
    private var expectedServerSignature: [UInt8]?

    /// Creates the client side of one exchange.
    ///
    /// - Parameters:
    ///   - hash: The mechanism's hash function.
    ///   - username: The user; `=` and `,` are escaped as the RFC says.
    ///   - password: The password (used as UTF-8; SASLprep is not applied).
    ///   - clientNonce: A fresh random printable string without `,`.
    public init(hash: Hash, username: String, password: String, clientNonce: String) {
        self.hash = hash
        self.username = username
        self.password = password
        self.clientNonce = clientNonce
    }

    /// A random nonce: 18 random bytes in base64.
    public static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64.encode((0..<18).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    var clientFirstBare: String { "n=\(Self.escape(username)),r=\(clientNonce)" }

    /// The client-first-message including the GS2 header (`n,,`: no channel binding, no authzid).
    public var clientFirstMessage: String { "n,," + clientFirstBare }

    /// Computes the client-final-message from the server-first-message.
    ///
    /// - Throws: ``Failure`` for a server-first-message that is malformed, does not extend the
    ///   client's nonce, or asks for more than ``maximumIterations``.
    public mutating func clientFinalMessage(serverFirst: String) throws(Failure) -> String {
        let fields = Self.fields(serverFirst)
        guard let nonce = fields["r"], nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count,
            let saltText = fields["s"], let salt = Base64.decode(saltText),
            let iterationText = fields["i"], let iterations = Int(iterationText), (1...Self.maximumIterations).contains(iterations)
        else {
            throw Failure(description: "invalid SCRAM server-first-message")
        }
        let saltedPassword: [UInt8]
        do {
            saltedPassword = try hash.saltedPassword(Array(password.utf8), salt: salt, iterations: iterations)
        } catch {
            throw Failure(description: "PBKDF2 failed: \(error)")
        }
        let clientKey = hash.hmac(Array("Client Key".utf8), key: saltedPassword)
        let storedKey = hash.hash(clientKey)
        let withoutProof = "c=biws,r=\(nonce)"
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let clientSignature = hash.hmac(authMessage, key: storedKey)
        let proof = zip(clientKey, clientSignature).map { $0 ^ $1 }
        let serverKey = hash.hmac(Array("Server Key".utf8), key: saltedPassword)
        expectedServerSignature = hash.hmac(authMessage, key: serverKey)
        return "\(withoutProof),p=\(Base64.encode(proof))"
    }

    /// Checks the server-final-message (`v=` signature), which proves the server knows the password.
    public func verify(serverFinal: String) -> Bool {
        guard let expectedServerSignature, let signature = Self.fields(serverFinal)["v"] else { return false }
        return Base64.decode(signature) == expectedServerSignature
    }

    private static func escape(_ name: String) -> String {
        name.replacing("=", with: "=3D").replacing(",", with: "=2C")
    }

    private static func fields(_ message: String) -> [String: String] {
        var result: [String: String] = [:]
        for part in message.split(separator: ",") where part.count >= 2 && part.dropFirst().first == "=" {
            result[String(part.prefix(1))] = String(part.dropFirst(2))
        }
        return result
    }
}
