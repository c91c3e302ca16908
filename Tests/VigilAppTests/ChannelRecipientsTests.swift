//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing

@testable import VigilApp

@Suite("Online users from Redis")
struct RedisOnlineUsersTests {
    @Test(
        "Only keys named like a server address are read as per-server user sets",
        arguments: [
            ("10.0.0.7", true), ("127.0.0.1", true), ("[::1]", true), ("fe80::1", true), ("10.0.0.7:5222", true),
            ("alice", false), ("channel:22", false), ("999.1.1", false), ("users", false),
        ]
    )
    func serverKeys(key: String, isServer: Bool) {
        #expect(RedisOnlineUsers.looksLikeServer(key) == isServer)
    }
}
