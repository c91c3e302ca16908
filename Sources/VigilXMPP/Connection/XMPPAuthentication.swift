//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Crypto
import VigilSASL

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
