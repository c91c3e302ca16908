//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Hummingbird
import VigilCore

/// The REST v1 routes under `/api/v1`.
struct APIRoutes: Sendable {
    let dependencies: WebDependencies

    /// The URL segment of each kind's collection.
    static let collections: [(path: String, kind: TargetKind)] = [
        ("gateways", .gateway), ("devices", .device), ("agents", .agent), ("streams", .stream), ("hosts", .host),
    ]

    func register(on group: RouterGroup<BasicRequestContext>) {
        let hub = dependencies.hub
        group.get("overview") { _, _ in
            let states = await hub.states()
            var counts: [String: [String: Int]] = [:]
            for kind in TargetKind.allCases { counts[kind.rawValue + "s"] = [:] }
            for state in states {
                counts[state.target.kind.rawValue + "s", default: [:]][state.status.rawValue, default: 0] += 1
            }
            return jsonResponse(Overview(version: dependencies.version, time: dependencies.now(), targets: counts))
        }
        for (path, kind) in Self.collections {
            group.get(RouterPath(path)) { _, _ in
                jsonResponse(await hub.states(kind: kind))
            }
            // Names may contain slashes (`mediamtx/main/cam1`): the rest of the path is the name.
            group.get(RouterPath("\(path)/**")) { _, context in
                let name = context.parameters.getCatchAll().map { $0.removingPercentEncoding ?? String($0) }.joined(separator: "/")
                guard let state = await hub.state(of: TargetID(kind, name)) else {
                    throw APIError(.notFound, "no \(kind.rawValue) named '\(name)'")
                }
                return jsonResponse(state)
            }
        }
        group.get("events") { request, _ in
            let query = request.uri.queryParameters
            let limit = try Self.number(query, "limit", default: 100, range: 1...10_000)
            let since = try Self.optionalNumber(query, "since")
            let after = try Self.optionalNumber(query, "after").map { Int64($0) }
            return jsonResponse(try await hub.events(afterID: after, since: since, limit: Int(limit)))
        }
        group.get("series") { request, _ in
            let prefix = request.uri.queryParameters["prefix"].map(String.init) ?? ""
            return jsonResponse(try await hub.series(prefix: prefix))
        }
        group.get("history") { request, _ in
            let query = request.uri.queryParameters
            guard let series = query["series"].map(String.init), !series.isEmpty else {
                throw APIError(.badRequest, "query parameter 'series' is required")
            }
            let now = dependencies.now()
            let to = try Self.optionalNumber(query, "to") ?? now
            let from = try Self.optionalNumber(query, "from") ?? (to - 3600)
            guard from <= to else { throw APIError(.badRequest, "'from' must not be after 'to'") }
            // Without a step, aim for about 300 points whatever the range.
            let step = try Self.optionalNumber(query, "step") ?? max(0, ((to - from) / 300).rounded(.up))
            guard step >= 0, (to - from) / max(step, 1e-9) <= 100_000 || step == 0 && to - from <= 86_400 else {
                throw APIError(.badRequest, "too many points: use a larger 'step'")
            }
            let points = try await hub.history(series: series, from: from, to: to, step: step)
            return jsonResponse(HistoryResponse(series: series, from: from, to: to, step: step, points: points.map { [$0.time, $0.value] }))
        }
    }

    struct Overview: Codable {
        var version: String
        var time: Double
        var targets: [String: [String: Int]]
    }

    struct HistoryResponse: Codable {
        var series: String
        var from: Double
        var to: Double
        var step: Double
        var points: [[Double]]
    }

    static func optionalNumber(_ query: Parameters, _ name: String) throws -> Double? {
        guard let text = query[name.utf8Substring] else { return nil }
        guard let value = Double(text), value.isFinite else {
            throw APIError(.badRequest, "query parameter '\(name)' must be a number, got '\(text)'")
        }
        return value
    }

    static func number(_ query: Parameters, _ name: String, default value: Double, range: ClosedRange<Double>) throws -> Double {
        let number = try optionalNumber(query, name) ?? value
        guard range.contains(number) else {
            throw APIError(.badRequest, "query parameter '\(name)' must be between \(Int(range.lowerBound)) and \(Int(range.upperBound))")
        }
        return number
    }
}

extension String {
    fileprivate var utf8Substring: Substring { Substring(self) }
}
