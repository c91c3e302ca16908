//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilClientSupport

@Suite("URL redaction for client errors")
struct URLRedactionTests {
    @Test(
        "One configured URL loses its user information, with or without a scheme",
        arguments: [
            ("mqtt://user:pass@broker:1883", "mqtt://***@broker:1883"),
            ("user:pass@broker:1883", "***@broker:1883"),
            ("redis://:p@ss@[::1]:6379/0", "redis://***@[::1]:6379/0"),
            ("rediss://host:6380", "rediss://host:6380"),
            ("broker.local", "broker.local"),
            ("", ""),
        ]
    )
    func url(input: String, expected: String) {
        #expect(URLRedaction.url(input) == expected)
    }
}
