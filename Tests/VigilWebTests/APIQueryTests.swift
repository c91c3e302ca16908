//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import VigilCore

@testable import VigilWeb

@Suite("REST query parameters")
struct APIQueryTests {
    /// Values no numeric parameter accepts: out of range, non-finite, not a number, malformed.
    static let badNumbers: [String] = [
        "1e19", "-1e19", "1e20", "1e308", "-1e308", "1e309", "1e99999", "NaN", "nan", "-nan", "inf", "-inf", "Infinity",
        "9223372036854775808", "-9223372036854775809", "18446744073709551616", "-1", "-0.5", "", " ", " 1", "1 ", "1.", ".5",
        "+1", "0x10", "1e", "1e+", "--1", "1_000", "1,5", "\u{0661}", "%FF", "%", "%G1", "%00", "1%00",
        String(repeating: "9", count: 100_000), "1" + String(repeating: "0", count: 64),
    ]

    static let numericParameters: [(route: String, parameter: String)] = [
        ("events", "after"), ("events", "limit"), ("events", "since"),
        ("history", "from"), ("history", "to"), ("history", "step"),
    ]

    func target(_ route: String, _ parameter: String, _ value: String) -> String {
        let encoded = value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-.+%_,"))) ?? value
        return "/api/v1/\(route)?series=host/a/load1&\(parameter)=\(encoded)"
    }

    @Test(
        "Every numeric parameter refuses every extreme or malformed value, naming itself",
        arguments: numericParameters.map { "\($0.route) \($0.parameter)" }
    )
    func extremeNumbers(routeAndParameter: String) {
        let parts = routeAndParameter.split(separator: " ").map(String.init)
        for value in Self.badNumbers {
            #expect(throws: APIParameterError.self, "\(parts[1])=\(value.prefix(20))") {
                try APIQuery.parse(target: target(parts[0], parts[1], value), now: 1_700_000_000)
            }
            do {
                _ = try APIQuery.parse(target: target(parts[0], parts[1], value), now: 1_700_000_000)
            } catch {
                #expect(error.parameter == parts[1])
                #expect(error.description.utf8.count < 200, "the error echoes a short excerpt only")
            }
        }
    }

    @Test("Boundary values are accepted exactly")
    func boundaries() throws {
        let now = 1_700_000_000.0
        #expect(
            try APIQuery.parse(target: "/api/v1/events?after=9223372036854775807&limit=10000&since=253402300799", now: now)
                == .events(EventsQuery(afterID: .max, since: 253_402_300_799, limit: 10_000))
        )
        #expect(
            try APIQuery.parse(target: "/api/v1/events?after=0&limit=1&since=0", now: now)
                == .events(EventsQuery(afterID: 0, since: 0, limit: 1))
        )
        #expect(try APIQuery.parse(target: "/api/v1/events?since=1.7e9", now: now) == .events(EventsQuery(since: 1.7e9)))
        #expect(try APIQuery.parse(target: "/api/v1/events", now: now) == .events(EventsQuery()))
        #expect(
            try APIQuery.parse(target: "/api/v1/history?series=s&from=0&to=253402300799&step=253402300799", now: now)
                == .history(HistoryQuery(series: "s", from: 0, to: 253_402_300_799, step: 253_402_300_799))
        )
        #expect(
            try APIQuery.parse(target: "/api/v1/history?series=s&from=0&to=86400&step=0", now: now)
                == .history(HistoryQuery(series: "s", from: 0, to: 86_400, step: 0))
        )
        #expect(
            try APIQuery.parse(target: "/api/v1/history?series=s", now: now)
                == .history(HistoryQuery(series: "s", from: now - 3600, to: now, step: 12))
        )
        #expect(
            try APIQuery.parse(target: "/api/v1/history?series=s&to=100", now: now)
                == .history(HistoryQuery(series: "s", from: 0, to: 100, step: 1))
        )
        #expect(try APIQuery.parse(target: "/api/v1/series?prefix=host%2F", now: now) == .series(SeriesQuery(prefix: "host/")))
        #expect(
            try APIQuery.parse(target: "/api/v1/streams/mediamtx/main/cam%201", now: now)
                == .target(TargetID(.stream, "mediamtx/main/cam 1"))
        )
        #expect(try APIQuery.parse(target: "/api/v1/overview?after=1e19", now: now) == nil)
        #expect(try APIQuery.parse(target: "/healthz", now: now) == nil)
    }

    @Test(
        "History refuses reversed ranges and too many points, naming the parameter",
        arguments: [
            ("series=s&from=10&to=5", "from"), ("series=s&from=0&to=100000000&step=1", "step"),
            ("series=s&from=0&to=86401&step=0", "step"), ("series=s&from=0&to=1&step=5e-324", "step"),
            ("series=s&from=0&to=253402300799&step=1e-300", "step"), ("series=", "series"), ("from=1", "series"),
            ("series=a&series=b", "series"), ("series=%FF", "series"), ("series=%E2%82", "series"),
            ("series=" + String(repeating: "x", count: 4097), "series"), ("series=s&to=1&to=2", "to"),
        ]
    )
    func historyErrors(query: String, parameter: String) {
        do {
            let parsed = try APIQuery.parse(target: "/api/v1/history?" + query, now: 1_700_000_000)
            Issue.record("accepted \(query.prefix(60)): \(String(describing: parsed))")
        } catch {
            #expect(error.parameter == parameter)
        }
    }

    @Test(
        "Text parameters: decoded strictly, bounded, given once",
        arguments: [
            ("/api/v1/series?prefix=%FF", "prefix"), ("/api/v1/series?prefix=%", "prefix"), ("/api/v1/series?prefix=a&prefix=b", "prefix"),
            ("/api/v1/series?prefix=" + String(repeating: "p", count: 4097), "prefix"), ("/api/v1/devices/%C0%80", "name"),
            ("/api/v1/devices/%", "name"), ("/api/v1/devices/" + String(repeating: "n", count: 4097), "name"),
            ("/api/v1/events?li%6Dit=0", "limit"),
        ]
    )
    func textErrors(target: String, parameter: String) {
        #expect(throws: APIParameterError.self) { try APIQuery.parse(target: target, now: 0) }
        do { _ = try APIQuery.parse(target: target, now: 0) } catch { #expect(error.parameter == parameter) }
    }

    @Test(
        "Numbers follow the JSON grammar",
        arguments: [
            ("0", true), ("-0", true), ("12", true), ("1.5", true), ("1e9", true), ("1E+9", true), ("1.5e-3", true), ("007", true),
            ("", false), ("-", false), ("1.", false), (".1", false), ("1e", false), ("nan", false), ("inf", false), ("0x1p3", false),
            ("+1", false), ("1 ", false),
        ]
    )
    func grammar(text: String, valid: Bool) {
        #expect(APIQueryParameters.isJSONNumber(text) == valid)
    }

    /// A small deterministic generator (SplitMix64), so a failure reproduces.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("Seeded mutations of real targets parse or throw a parameter error, never trap")
    func seededMutations() {
        var random = SeededGenerator(state: 11)
        let seeds = [
            "/api/v1/events?after=41&limit=10&since=1700000000.5", "/api/v1/history?series=host/a/load1&from=0&to=3600&step=12",
            "/api/v1/series?prefix=host/", "/api/v1/streams/mediamtx/main/cam%201",
        ]
        let pieces = [
            "%", "%FF", "%00", "e", "E", "-", "+", ".", "9", "0", "=", "&", "?", "/", "nan", "inf", "1e308", "9223372036854775808", "\u{0}", "é",
        ]
        var parsed = 0
        var refused = 0
        for _ in 0..<20_000 {
            var bytes = Array(seeds.randomElement(using: &random)!.utf8)
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let index = Int.random(in: 0...bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes.insert(contentsOf: Array(pieces.randomElement(using: &random)!.utf8), at: index)
                case 1: if index < bytes.count { bytes.remove(at: index) }
                default: if index < bytes.count { bytes[index] = UInt8.random(in: 0...255, using: &random) }
                }
            }
            do {
                _ = try APIQuery.parse(target: String(decoding: bytes, as: UTF8.self), now: 1_700_000_000)
                parsed += 1
            } catch {
                #expect(!error.parameter.isEmpty)
                refused += 1
            }
        }
        #expect(parsed + refused == 20_000)
        #expect(parsed > 1000 && refused > 1000, "the mutations exercise both outcomes (\(parsed) parsed, \(refused) refused)")
    }

    @Test(
        "The routes answer 400 with the parameter named, for the values that used to crash",
        arguments: [
            ("/api/v1/events?after=1e19", "after"), ("/api/v1/events?since=-1e19", "since"), ("/api/v1/events?after=9223372036854775808", "after"),
            ("/api/v1/events?since=1e308", "since"), ("/api/v1/events?after=1e20", "after"), ("/api/v1/history?series=x&from=-1e308&to=5", "from"),
            ("/api/v1/history?series=x&step=1e308", "step"), ("/api/v1/devices/%FF", "name"), ("/api/v1/series?prefix=%E2", "prefix"),
        ]
    )
    func routes(uri: String, parameter: String) async throws {
        let app = Application(
            router: buildRouter(
                WebDependencies(
                    hub: Hub(stores: MemoryStore().stores, clock: ManualClock(wallClockSeconds: 2000)),
                    exporters: [],
                    readiness: Readiness(),
                    version: "1",
                    configuration: WebConfiguration()
                )
            )
        )
        try await app.test(.router) { client in
            try await client.execute(uri: uri, method: .get) { response in
                #expect(response.status == .badRequest)
                let body = try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: String])
                #expect(body["parameter"] == parameter)
                #expect(body["error"]?.contains("'\(parameter)'") == true)
            }
        }
    }
}
