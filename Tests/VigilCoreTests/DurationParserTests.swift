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
    @Test(
        "Go-style durations, days and bare seconds",
        arguments: [
            ("5s", Duration.seconds(5)),
            ("1m30s", .seconds(90)),
            ("500ms", .milliseconds(500)),
            ("1.5h", .seconds(5400)),
            ("7d", .seconds(7 * 86_400)),
            ("30", .seconds(30)),
            ("0.25", .milliseconds(250)),
            ("2h45m", .seconds(9900)),
            (" 10s ", .seconds(10)),
        ]
    )
    func parses(text: String, expected: Duration) throws {
        #expect(try DurationParser.parse(text) == expected)
    }

    @Test("Rejects malformed text", arguments: ["", "s", "5x", "-5s", "1m30", "abc", "5 s", "1e400s", "-"])
    func rejects(text: String) {
        #expect(throws: DurationParser.ParseError.self) { try DurationParser.parse(text) }
    }

    @Test(
        "Extreme numbers are refused, never trapped on",
        arguments: [
            "1e20", "1e20s", "1e308", "1e400", "nan", "NaN", "inf", "-inf", "infinity", "-5", "-0.5s", "9223372036854775807",
            "9223372036854775808s", "99999999999999999999h", "36501d", "3153600001", "1" + String(repeating: "0", count: 400) + "s",
            "0x10s", "1.2.3s", "½s", "٣s",
        ]
    )
    func rejectsExtremes(text: String) {
        #expect(throws: DurationParser.ParseError.self) { try DurationParser.parse(text) }
    }

    @Test("The maximum itself is accepted in every form; beyond it the error says so")
    func maximum() throws {
        #expect(try DurationParser.parse("36500d") == DurationParser.maximum)
        #expect(try DurationParser.parse("3153600000") == DurationParser.maximum)
        #expect(try DurationParser.parse("876000h") == DurationParser.maximum)
        #expect(throws: DurationParser.ParseError(text: "1e20", tooLong: true)) { try DurationParser.parse("1e20") }
        #expect(throws: DurationParser.ParseError(text: "36501d", tooLong: true)) { try DurationParser.parse("36501d") }
        #expect(throws: DurationParser.ParseError(text: "nan")) { try DurationParser.parse("nan") }
        #expect(try DurationParser.duration(seconds: 0, text: "0") == .zero)
    }

    @Test("Seconds of a duration")
    func seconds() {
        #expect(Duration.milliseconds(1500).seconds == 1.5)
    }
}
