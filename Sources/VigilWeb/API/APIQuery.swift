//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import VigilCore

/// The typed, range-checked parameters of one REST v1 request: what the routes in
/// ``APIRoutes`` act on, and all they take from the client.
///
/// ``parse(target:now:)`` is the single pure entry point from a request target
/// (`/api/v1/events?after=41`) to typed values, used by the routes and by the fuzz target:
///
/// ```swift
/// let request = try APIQuery.parse(target: "/api/v1/history?series=host/a/load1&from=0&to=60", now: 1e9)
/// // .history(HistoryQuery(series: "host/a/load1", from: 0, to: 60, step: 1))
/// ```
public enum APIQuery: Sendable, Hashable {
    /// `GET /api/v1/events`.
    case events(EventsQuery)
    /// `GET /api/v1/history`.
    case history(HistoryQuery)
    /// `GET /api/v1/series`.
    case series(SeriesQuery)
    /// `GET /api/v1/{kind}s/{name}`.
    case target(TargetID)

    /// The latest time accepted anywhere, in seconds since the epoch: 9999-12-31T23:59:59Z.
    public static let maxTime: Double = 253_402_300_799
    /// The time range accepted for `since`, `from`, `to` and `step`.
    public static let timeRange: ClosedRange<Double> = 0...maxTime
    /// The URL segment of each kind's collection (`devices` → ``TargetKind/device``).
    public static let collections: [(path: String, kind: TargetKind)] = TargetKind.allCases.map { ($0.rawValue + "s", $0) }

    /// Parses a request target (path and query, as on the request line) under `/api/v1/`.
    ///
    /// - Parameters:
    ///   - target: For example `/api/v1/events?after=41&limit=10`.
    ///   - now: The current time, for the defaults of `/history`.
    /// - Returns: The typed request, or `nil` for a path that takes no parameters (or is not
    ///   under `/api/v1/`).
    /// - Throws: ``APIParameterError`` naming the first bad parameter.
    public static func parse(target: some StringProtocol, now: Double) throws(APIParameterError) -> APIQuery? {
        let text = Substring(target)
        let question = text.firstIndex(of: "?")
        let path = question.map { text[..<$0] } ?? text
        let query = APIQueryParameters(rawQuery: question.map { text[text.index(after: $0)...] } ?? "")
        let prefix = "/api/v1/"
        guard path.hasPrefix(prefix) else { return nil }
        let rest = path.dropFirst(prefix.count)
        switch rest {
        case "events": return .events(try EventsQuery(query))
        case "history": return .history(try HistoryQuery(query, now: now))
        case "series": return .series(try SeriesQuery(query))
        default: break
        }
        guard let slash = rest.firstIndex(of: "/"),
            let kind = collections.first(where: { $0.path == rest[..<slash] })?.kind
        else { return nil }
        return .target(TargetID(kind, try targetName(rest[rest.index(after: slash)...])))
    }

    /// Decodes a target name from the rest of the path (it may contain slashes and `%XX`).
    ///
    /// - Throws: ``APIParameterError`` for `name` when it is not valid percent-encoded UTF-8 or
    ///   longer than ``APIQueryParameters/maxTextLength`` bytes.
    public static func targetName(_ rawPath: some StringProtocol) throws(APIParameterError) -> String {
        guard let name = APIQueryParameters.percentDecode(rawPath.utf8) else {
            throw APIParameterError("name", "is not valid percent-encoded UTF-8")
        }
        guard name.utf8.count <= APIQueryParameters.maxTextLength else {
            throw APIParameterError("name", "is longer than \(APIQueryParameters.maxTextLength) bytes")
        }
        return name
    }
}

/// The parameters of `GET /api/v1/events?since=&after=&limit=`.
public struct EventsQuery: Sendable, Hashable {
    /// The most events a request may ask for.
    public static let maxLimit: Int64 = 10_000

    /// Only events with a greater id (`after`, 0 to `Int64.max`).
    public var afterID: Int64?
    /// Only events at or after this time (`since`).
    public var since: Double?
    /// At most this many, the newest (`limit`, 1 to ``maxLimit``, default 100).
    public var limit: Int

    /// Creates a query.
    public init(afterID: Int64? = nil, since: Double? = nil, limit: Int = 100) {
        self.afterID = afterID
        self.since = since
        self.limit = limit
    }

    /// Reads and checks the parameters.
    ///
    /// - Throws: ``APIParameterError`` naming the first bad parameter.
    public init(_ query: APIQueryParameters) throws(APIParameterError) {
        let limit = try query.integer("limit", in: 1...Self.maxLimit) ?? 100
        self.init(
            afterID: try query.integer("after", in: 0...Int64.max),
            since: try query.number("since", in: APIQuery.timeRange),
            limit: Int(limit)
        )
    }
}

/// The parameters of `GET /api/v1/history?series=&from=&to=&step=`.
public struct HistoryQuery: Sendable, Hashable {
    /// The most buckets one request may produce.
    public static let maxBuckets: Double = 100_000
    /// The longest range of raw points (`step=0`), in seconds.
    public static let maxRawRange: Double = 86_400

    /// The series key (required, non-empty).
    public var series: String
    /// The start of the range (default: an hour before `to`).
    public var from: Double
    /// The end of the range (default: now).
    public var to: Double
    /// The bucket width in seconds; 0 means raw points (default: about a 300th of the range).
    public var step: Double

    /// Creates a query.
    public init(series: String, from: Double, to: Double, step: Double) {
        self.series = series
        self.from = from
        self.to = to
        self.step = step
    }

    /// Reads and checks the parameters; fills in the defaults.
    ///
    /// - Parameters:
    ///   - query: The query parameters.
    ///   - now: The current time (the default `to`).
    /// - Throws: ``APIParameterError`` naming the first bad parameter.
    public init(_ query: APIQueryParameters, now: Double) throws(APIParameterError) {
        guard let series = try query.text("series"), !series.isEmpty else {
            throw APIParameterError("series", "is required")
        }
        // Every operand below is within 0...maxTime, so no sum or quotient overflows.
        let to = try query.number("to", in: APIQuery.timeRange) ?? min(max(now, 0), APIQuery.maxTime)
        let from = try query.number("from", in: APIQuery.timeRange) ?? max(0, to - 3600)
        guard from <= to else { throw APIParameterError("from", "must not be after 'to'") }
        let span = to - from
        // Without a step, aim for about 300 points whatever the range.
        let step = try query.number("step", in: APIQuery.timeRange) ?? (span / 300).rounded(.up)
        let fits = step == 0 ? span <= Self.maxRawRange : span / step <= Self.maxBuckets
        guard fits else {
            throw APIParameterError("step", "gives too many points: at most \(Int(Self.maxBuckets)) buckets, or one day of raw points with step=0")
        }
        self.init(series: series, from: from, to: to, step: step)
    }
}

/// The parameters of `GET /api/v1/series?prefix=`.
public struct SeriesQuery: Sendable, Hashable {
    /// Only keys that start with this (default: every key).
    public var prefix: String

    /// Creates a query.
    public init(prefix: String = "") {
        self.prefix = prefix
    }

    /// Reads and checks the parameters.
    ///
    /// - Throws: ``APIParameterError`` when `prefix` is given twice, malformed or too long.
    public init(_ query: APIQueryParameters) throws(APIParameterError) {
        self.init(prefix: try query.text("prefix") ?? "")
    }
}
