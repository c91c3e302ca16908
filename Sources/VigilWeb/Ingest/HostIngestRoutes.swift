//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Hummingbird
public import Metrics

/// What the ingest route hands a report body to (the application adapts the host ingest).
public protocol HostReportIntake: Sendable {
    /// Checks and applies one report body of `POST /api/v1/ingest/host`.
    func submitReport(_ body: [UInt8]) async -> HostReportIntakeResult
}

/// What became of a report body.
public enum HostReportIntakeResult: Sendable, Hashable {
    /// Applied: `200` with `{"accepted": n}` (n new samples).
    case accepted(samples: Int)
    /// Larger than the limit: `413`.
    case tooLarge
    /// Not a valid report (syntax, unknown metric, a value out of range, a bad time): `400`.
    case invalid(String)
    /// Valid, but refused (more hosts than `max_hosts`, too many series): `429`.
    case refused(String)
}

/// `POST /api/v1/ingest/host`: host reports of `vigil agent` over HTTP.
///
/// Always needs one of `[host_ingest] tokens` as `Authorization: Bearer <token>`, on loopback too
/// (a write of metrics under any host name); without ingest or tokens configured every request gets
/// `401`. The body is read only after the token was checked, and at most ``maxBodySize`` bytes of it
/// (`413` beyond). Refusals are counted in `vigil_host_ingest_refused_total{reason}` (`unauthorized`,
/// `body_too_large` here; the ingest counts the others).
public enum HostIngestRoutes {
    /// The largest body accepted (the agents' reports are far smaller).
    public static let maxBodySize = 1 << 20

    /// Adds the route to a router.
    ///
    /// - Parameters:
    ///   - router: The main listener's router (the route has its own token check).
    ///   - intake: Who takes the reports; `nil` when `[host_ingest]` is off.
    ///   - tokens: The accepted bearer tokens.
    ///   - metricsFactory: Where the refusal counters are created.
    public static func register(
        on router: Router<BasicRequestContext>,
        intake: (any HostReportIntake)?,
        tokens: [String],
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        let unauthorized = Counter(label: "vigil_host_ingest_refused_total", dimensions: [("reason", "unauthorized")], factory: metricsFactory)
        let tooLarge = Counter(label: "vigil_host_ingest_refused_total", dimensions: [("reason", "body_too_large")], factory: metricsFactory)
        router.post("api/v1/ingest/host") { request, _ -> Response in
            let authorization = request.headers[.authorization]
            guard let intake, tokens.contains(where: { BearerToken.matches($0, authorization: authorization, query: Parameters()) }) else {
                unauthorized.increment()
                throw APIError(.unauthorized, "missing or wrong bearer token")
            }
            if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodySize {
                tooLarge.increment()
                throw APIError(.contentTooLarge, "the body is larger than \(maxBodySize) bytes")
            }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: maxBodySize)
            } catch {
                tooLarge.increment()
                throw APIError(.contentTooLarge, "the body is larger than \(maxBodySize) bytes")
            }
            switch await intake.submitReport(Array(body.readableBytesView)) {
            case .accepted(let samples):
                return jsonResponse(["accepted": samples])
            case .tooLarge:
                throw APIError(.contentTooLarge, "the body is larger than \(maxBodySize) bytes")
            case .invalid(let reason):
                throw APIError(.badRequest, reason)
            case .refused(let reason):
                throw APIError(.tooManyRequests, reason)
            }
        }
    }
}
