//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing
import VigilCore

@testable import VigilWeb

@Suite("Live feed: hostile client messages")
struct LiveClientMessageTests {
    /// Decodes a client message as the read loop does, then builds its filter.
    func outcome(_ text: String) -> String {
        guard let message = try? JSONDecoder().decode(LiveMessage.ClientMessage.self, from: Data(text.utf8)) else { return "undecodable" }
        do {
            let filter = try message.filter()
            return "filter \(filter.kinds?.count ?? -1) \(filter.targets?.count ?? -1)"
        } catch {
            return "refused"
        }
    }

    @Test(
        "Numbers, wrong types and deep nesting are refused, not trapped on",
        arguments: [
            #"{"type":"subscribe","kinds":1e308}"#, #"{"type":"subscribe","states":1e19}"#, #"{"type":"subscribe","events":-1e19}"#,
            #"{"type":"subscribe","kinds":[1e308]}"#, #"{"type":"subscribe","targets":[9223372036854775808]}"#,
            #"{"type":1e19}"#, #"{"type":NaN}"#, #"{"type":"subscribe","states":Infinity}"#, "", "[]", "null",
            String(repeating: "[", count: 8_000) + String(repeating: "]", count: 8_000),
            #"{"type":"subscribe","kinds":"# + String(repeating: "[", count: 8_000) + String(repeating: "]", count: 8_000) + "}",
            String(repeating: #"{"a":"#, count: 3_000) + "1" + String(repeating: "}", count: 3_000),
        ]
    )
    func undecodable(text: String) {
        #expect(outcome(text) == "undecodable")
    }

    @Test("Unknown kinds and malformed targets are refused with a message")
    func refused() {
        #expect(outcome(#"{"type":"subscribe","kinds":["toaster"]}"#) == "refused")
        #expect(outcome(#"{"type":"subscribe","targets":["device/"]}"#) == "refused")
        #expect(outcome(#"{"type":"subscribe","targets":["/x"]}"#) == "refused")
    }

    @Test("The largest message a client may send builds a bounded filter")
    func largest() throws {
        // 16 KiB of kinds collapse to the five kinds; targets stay as many as fit in the message.
        let kinds = Array(repeating: "\"devices\"", count: (LiveSocket.maxClientMessage - 40) / 10).joined(separator: ",")
        #expect(outcome(#"{"type":"subscribe","kinds":[\#(kinds)]}"#) == "filter 1 -1")
        let targets = (0..<1_000).map { "\"device/d\($0)\"" }.joined(separator: ",")
        #expect(outcome(#"{"type":"subscribe","targets":[\#(targets)]}"#) == "filter -1 1000")
    }
}
