//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Crypto
import CryptoExtras

/// The XEP-0114 handshake digest: lowercase hex SHA-1 of the stream id followed by the secret.
func componentHandshakeDigest(streamID: String, secret: String) -> String {
    let digest = Insecure.SHA1.hash(data: Array((streamID + secret).utf8))
    return digest.map { byte in
        let hex = String(byte, radix: 16)
        return byte < 16 ? "0" + hex : hex
    }.joined()
}

/// The initial response of SASL PLAIN (RFC 4616): authzid (empty), authcid and password.
func saslPlainResponse(username: String, password: String) -> String {
    Base64.encode([0] + Array(username.utf8) + [0] + Array(password.utf8))
}

/// The client side of SASL SCRAM-SHA-1 (RFC 5802) without channel binding.
struct SCRAMSHA1: Sendable {
    let username: String
    let password: String
    let clientNonce: String
    private(set) var expectedServerSignature: [UInt8]?

    init(username: String, password: String, clientNonce: String) {
        self.username = username
        self.password = password
        self.clientNonce = clientNonce
    }

    var clientFirstBare: String { "n=\(Self.escape(username)),r=\(clientNonce)" }

    /// The client-first-message including the GS2 header ("n,," = no channel binding, no authzid).
    var clientFirstMessage: String { "n,," + clientFirstBare }

    /// Computes the client-final-message from the server-first-message.
    mutating func clientFinalMessage(serverFirst: String) throws(XMPPClientError) -> String {
        let fields = Self.fields(serverFirst)
        guard let nonce = fields["r"], nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count,
            let saltText = fields["s"], let salt = Base64.decode(saltText),
            let iterationText = fields["i"], let iterations = Int(iterationText), iterations > 0, iterations <= 1_000_000
        else {
            throw XMPPClientError(.authenticationFailed, message: "invalid SCRAM server-first-message")
        }
        let saltedPassword: SymmetricKey
        do {
            saltedPassword = try KDF.Insecure.PBKDF2.deriveKey(
                from: Array(password.utf8),
                salt: salt,
                using: .insecureSHA1,
                outputByteCount: 20,
                unsafeUncheckedRounds: iterations
            )
        } catch {
            throw XMPPClientError(.authenticationFailed, message: "PBKDF2 failed", underlyingError: error)
        }
        let clientKey = Array(HMAC<Insecure.SHA1>.authenticationCode(for: Array("Client Key".utf8), using: saltedPassword))
        let storedKey = Array(Insecure.SHA1.hash(data: clientKey))
        let withoutProof = "c=biws,r=\(nonce)"
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let clientSignature = Array(HMAC<Insecure.SHA1>.authenticationCode(for: authMessage, using: SymmetricKey(data: storedKey)))
        let proof = zip(clientKey, clientSignature).map { $0 ^ $1 }
        let serverKey = HMAC<Insecure.SHA1>.authenticationCode(for: Array("Server Key".utf8), using: saltedPassword)
        expectedServerSignature = Array(HMAC<Insecure.SHA1>.authenticationCode(for: authMessage, using: SymmetricKey(data: Array(serverKey))))
        return "\(withoutProof),p=\(Base64.encode(proof))"
    }

    /// Checks the server-final-message (`v=` signature), which proves the server knows the password.
    func verify(serverFinal: String) -> Bool {
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

/// Standard base64 (RFC 4648 §4) for SASL payloads.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let remaining = bytes.count - index
            let b0 = UInt32(bytes[index])
            let b1 = remaining > 1 ? UInt32(bytes[index + 1]) : 0
            let b2 = remaining > 2 ? UInt32(bytes[index + 2]) : 0
            let triple = b0 << 16 | b1 << 8 | b2
            output.append(alphabet[Int(triple >> 18 & 63)])
            output.append(alphabet[Int(triple >> 12 & 63)])
            output.append(remaining > 1 ? alphabet[Int(triple >> 6 & 63)] : UInt8(ascii: "="))
            output.append(remaining > 2 ? alphabet[Int(triple & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8).filter { !XMPPStreamParser.isWhitespace($0) }
        guard characters.count % 4 == 0 else { return nil }
        var output: [UInt8] = []
        var index = 0
        while index < characters.count {
            var triple: UInt32 = 0
            var padding = 0
            for offset in 0..<4 {
                let character = characters[index + offset]
                let value: UInt32
                if character == UInt8(ascii: "=") {
                    guard index + 4 == characters.count, offset >= 2 else { return nil }
                    padding += 1
                    value = 0
                } else {
                    guard padding == 0, let position = alphabet.firstIndex(of: character) else { return nil }
                    value = UInt32(position)
                }
                triple = triple << 6 | value
            }
            output.append(UInt8(triple >> 16 & 0xFF))
            if padding < 2 { output.append(UInt8(triple >> 8 & 0xFF)) }
            if padding < 1 { output.append(UInt8(triple & 0xFF)) }
            index += 4
        }
        return output
    }
}
