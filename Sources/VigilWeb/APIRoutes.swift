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
    static let collections = APIQuery.collections

    func register(on group: RouterGroup<BasicRequestContext>) {
        let hub = dependencies.hub
        group.get("overview") { _, _ in
            let states = await hub.states()
            var counts: [String: [String: Int]] = [:]
            for kind in TargetKind.allCases { counts[kind.rawValue + "s"] = [:] }
            for state in states {
                counts[state.target.kind.rawValue + "s", default: [:]][state.status.rawValue, default: 0] += 1
            }
            return jsonResponse(Overview(version: dependencies.version, time: dependencies.clock.wallClockSeconds, targets: counts))
        }
        for (path, kind) in Self.collections {
            group.get(RouterPath(path)) { _, _ in
                jsonResponse(await hub.states(kind: kind))
            }
            // Names may contain slashes (`mediamtx/main/cam1`): the rest of the path is the name.
            group.get(RouterPath("\(path)/**")) { _, context in
                let name = try Self.checked { () throws(APIParameterError) in
                    try APIQuery.targetName(context.parameters.getCatchAll().joined(separator: "/"))
                }
                guard let state = await hub.state(of: TargetID(kind, name)) else {
                    throw APIError(.notFound, "no \(kind.rawValue) named '\(name)'")
                }
                return jsonResponse(state)
            }
        }
        group.get("events") { request, _ in
            let query = try Self.checked { () throws(APIParameterError) in try EventsQuery(Self.parameters(request)) }
            return jsonResponse(try await hub.events(afterID: query.afterID, since: query.since, limit: query.limit))
        }
        group.get("series") { request, _ in
            let query = try Self.checked { () throws(APIParameterError) in try SeriesQuery(Self.parameters(request)) }
            return jsonResponse(try await hub.series(prefix: query.prefix))
        }
        group.get("history") { request, _ in
            let now = dependencies.clock.wallClockSeconds
            let query = try Self.checked { () throws(APIParameterError) in try HistoryQuery(Self.parameters(request), now: now) }
            let points = try await hub.history(series: query.series, from: query.from, to: query.to, step: query.step)
            return jsonResponse(
                HistoryResponse(
                    series: query.series,
                    from: query.from,
                    to: query.to,
                    step: query.step,
                    points: points.map { [$0.time, $0.value] }
                )
            )
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

    /// The raw query of a request, split and decoded (see ``APIQueryParameters``).
    static func parameters(_ request: Request) -> APIQueryParameters {
        APIQueryParameters(rawQuery: request.uri.query ?? "")
    }

    /// Runs a parameter parser; its error becomes a 400 naming the parameter.
    static func checked<T>(_ parse: () throws(APIParameterError) -> T) throws(APIError) -> T {
        do throws(APIParameterError) {
            return try parse()
        } catch {
            throw APIError(.badRequest, error.description, parameter: error.parameter)
        }
    }
}
