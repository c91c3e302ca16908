//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilCore

@Suite("Redaction of credentials in URLs")
struct RedactionTests {
    @Test(
        "User information is masked in URLs and in messages quoting them",
        arguments: [
            ("mqtt://user:pass@host:1883", "mqtt://***@host:1883"),
            ("redis://:pw@[::1]:6379/0", "redis://***@[::1]:6379/0"),
            ("https://TOKEN@api.example/v1?x=@y", "https://***@api.example/v1?x=@y"),
            ("'tcp://u:p/a#s?s@h:99999': invalid port", "'tcp://***@h:99999': invalid port"),
            ("a http://u:p@h1/x, b mqtt://v:q@h2 end", "a http://***@h1/x, b mqtt://***@h2 end"),
            ("http://u:p@h1,http://v:q@h2", "http://***@h1,http://***@h2"),
            ("mysql://root:p@ss@db:3306", "mysql://***@db:3306"),
            ("no url user@example.org", "no url user@example.org"),
            ("http://host/path", "http://host/path"),
            ("", ""),
        ]
    )
    func masks(text: String, expected: String) {
        #expect(Redaction.urls(in: text) == expected)
    }
}
