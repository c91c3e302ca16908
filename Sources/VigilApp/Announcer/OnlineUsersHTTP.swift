//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import Foundation
import Metrics
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// A failed online-status lookup over HTTP. Its text names the URL and the cause, never the
/// credentials (they travel in a header only).
struct OnlineUsersLookupError: Error, CustomStringConvertible {
    var description: String
    /// Whether sending the request again may help (transport errors, timeouts, 5xx).
    var retryable: Bool
}

/// Posts JSON to an online-status service and returns the bounded response body: a timeout per
/// request, `retries` more attempts after a transport error, a timeout or a 5xx (100 ms, then
/// doubling to 1.6 s), none after a 4xx or a body longer than `maxResponseBytes`.
///
/// Metrics: `vigil_announcer_online_lookups_total{source, result="ok"|"retried"|"failed"}`.
struct OnlineUsersHTTP: Sendable {
    let client: HTTPClient
    let timeout: Duration
    let retries: Int
    let maxResponseBytes: Int
    /// The `Authorization` header's value; never logged.
    let authorization: String?
    let okCounter: Counter
    let retriedCounter: Counter
    let failedCounter: Counter

    init(client: HTTPClient, source: String, timeout: Duration, retries: Int, maxResponseBytes: Int, authorization: String? = nil) {
        self.client = client
        self.timeout = timeout
        self.retries = max(0, retries)
        self.maxResponseBytes = maxResponseBytes
        self.authorization = authorization
        okCounter = Counter(label: "vigil_announcer_online_lookups_total", dimensions: [("source", source), ("result", "ok")])
        retriedCounter = Counter(label: "vigil_announcer_online_lookups_total", dimensions: [("source", source), ("result", "retried")])
        failedCounter = Counter(label: "vigil_announcer_online_lookups_total", dimensions: [("source", source), ("result", "failed")])
    }

    /// Posts `body` (JSON) to `url` and returns the response body of a 2xx answer.
    func post(_ url: String, body: [UInt8]) async throws -> ByteBuffer {
        var attempt = 0
        while true {
            do {
                let result = try await postOnce(url, body: body)
                okCounter.increment()
                return result
            } catch let error as OnlineUsersLookupError where error.retryable && attempt < retries && !Task.isCancelled {
                attempt += 1
                retriedCounter.increment()
                try await Task.sleep(for: .milliseconds(100 << min(attempt - 1, 4)))
            } catch {
                failedCounter.increment()
                throw error
            }
        }
    }

    private func postOnce(_ url: String, body: [UInt8]) async throws -> ByteBuffer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .nanoseconds(Self.nanoseconds(timeout)))
        } catch {
            throw OnlineUsersLookupError(description: "POST \(url): \(error)", retryable: true)
        }
        let status = response.status.code
        let payload: ByteBuffer
        do {
            payload = try await response.body.collect(upTo: maxResponseBytes)
        } catch is NIOTooManyBytesError {
            throw OnlineUsersLookupError(description: "POST \(url): the response is longer than \(maxResponseBytes) bytes", retryable: false)
        } catch {
            throw OnlineUsersLookupError(description: "POST \(url): \(error)", retryable: true)
        }
        guard (200..<300).contains(status) else {
            let excerpt = String(decoding: payload.readableBytesView.prefix(200), as: UTF8.self)
            throw OnlineUsersLookupError(description: "POST \(url): HTTP \(status) \(excerpt)", retryable: status >= 500)
        }
        return payload
    }

    /// `Authorization: Basic …` for a user and password.
    static func basicAuthorization(user: String, password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Makes the HTTP client of one source: requests time out after `timeout`, idle connections
    /// close after `idleTimeout`, at most `maxIdle` are kept per host, redirects are not followed.
    static func makeClient(timeout: Duration, idleTimeout: Duration = .seconds(60), maxIdle: Int = 8) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        let amount = TimeAmount.nanoseconds(nanoseconds(timeout))
        configuration.timeout = .init(connect: amount, read: amount)
        configuration.connectionPool = .init(
            idleTimeout: .nanoseconds(nanoseconds(idleTimeout)),
            concurrentHTTP1ConnectionsPerHostSoftLimit: max(1, maxIdle)
        )
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}

/// Keeps an HTTP client until graceful shutdown, then shuts it down (after the Announcer, which
/// starts after it).
struct HTTPClientService: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
