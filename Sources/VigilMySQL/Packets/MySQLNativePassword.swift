//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Crypto

/// The `mysql_native_password` authentication method.
enum MySQLNativePassword {
    /// The plugin name the server announces.
    static let pluginName = "mysql_native_password"

    /// Computes `SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password)))`.
    ///
    /// The server stores `SHA1(SHA1(password))`, so it can verify the answer without the password,
    /// and the 20-byte nonce keeps a captured answer from being replayed. An empty password is sent
    /// as an empty answer.
    static func scramble(password: String, nonce: [UInt8]) -> [UInt8] {
        guard !password.isEmpty else { return [] }
        let stage1 = Array(Insecure.SHA1.hash(data: Array(password.utf8)))
        let stage2 = Array(Insecure.SHA1.hash(data: stage1))
        var hasher = Insecure.SHA1()
        hasher.update(data: nonce.prefix(20))
        hasher.update(data: stage2)
        let mask = Array(hasher.finalize())
        return zip(stage1, mask).map { $0 ^ $1 }
    }

    /// SHA-1 of `bytes`; the server side of the check in tests and fake servers uses it.
    static func sha1(_ bytes: [UInt8]) -> [UInt8] {
        Array(Insecure.SHA1.hash(data: bytes))
    }
}
