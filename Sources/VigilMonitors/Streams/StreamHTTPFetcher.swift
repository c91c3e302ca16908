//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import VigilCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The GET-and-decode step shared by the stream pollers: one request with a deadline, a status
/// check, a bounded body and a JSON decode.
struct StreamHTTPFetcher: Sendable {
    /// Why a request did not produce a value.
    struct Failure: Error, CustomStringConvertible {
        var description: String

        /// Masks the credentials of any URL quoted in the text (these messages are logged and
        /// shown in the API).
        init(description: String) { self.description = Redaction.urls(in: description) }
    }

    let client: HTTPClient
    let timeout: Duration
    let authorization: String?
    var maximumBodyBytes = 32 * 1024 * 1024

    /// Fetches a URL and decodes its JSON body.
    ///
    /// - Returns: The value and the seconds the request took (until the body was read, as the
    ///   seed's `perf_counter` around `requests.get`).
    /// - Throws: ``Failure`` for transport errors, non-2xx statuses and undecodable bodies.
    func get<Value: Decodable>(_ url: String, as type: Value.Type) async throws -> (value: Value, seconds: Double) {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        let clock = ContinuousClock()
        let start = clock.now
        let body: ByteBuffer
        let status: UInt
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Self.nanoseconds(timeout)))
            status = response.status.code
            body = try await response.body.collect(upTo: maximumBodyBytes)
        } catch {
            throw Failure(description: "GET \(url): \(error)")
        }
        let elapsed = start.duration(to: clock.now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        guard (200..<300).contains(status) else {
            throw Failure(description: "GET \(url): HTTP \(status)\(Self.errorMessage(body).map { ": \($0)" } ?? "")")
        }
        do {
            let value = try JSONDecoder().decode(Value.self, from: Data(body.readableBytesView))
            return (value, seconds)
        } catch {
            throw Failure(description: "GET \(url): invalid JSON: \(error)")
        }
    }

    /// `Authorization: Basic …` for a user and password.
    static func basicAuthorization(user: String, password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// The `error`/`message` of an error body (`{"status":"error","error":…}` from MediaMTX,
    /// `{"code":404,"message":…}` from Visionaire), when there is one.
    private static func errorMessage(_ body: ByteBuffer) -> String? {
        struct ErrorBody: Decodable {
            var error: String?
            var message: String?
        }
        guard let decoded = try? JSONDecoder().decode(ErrorBody.self, from: Data(body.readableBytesView)) else { return nil }
        return decoded.error ?? decoded.message
    }
}
