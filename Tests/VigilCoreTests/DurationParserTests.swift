//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilCore

@Suite("DurationParser")
struct DurationParserTests {
    @Test("Go-style durations, days and bare seconds", arguments: [
        ("5s", Duration.seconds(5)),
        ("1m30s", .seconds(90)),
        ("500ms", .milliseconds(500)),
        ("1.5h", .seconds(5400)),
        ("7d", .seconds(7 * 86_400)),
        ("30", .seconds(30)),
        ("0.25", .milliseconds(250)),
        ("2h45m", .seconds(9900)),
        (" 10s ", .seconds(10)),
    ])
    func parses(text: String, expected: Duration) throws {
        #expect(try DurationParser.parse(text) == expected)
    }

    @Test("Rejects malformed text", arguments: ["", "s", "5x", "-5s", "1m30", "abc", "5 s", "1e400s", "-"])
    func rejects(text: String) {
        #expect(throws: DurationParser.ParseError.self) { try DurationParser.parse(text) }
    }

    @Test("Seconds of a duration")
    func seconds() {
        #expect(Duration.milliseconds(1500).seconds == 1.5)
    }
}
