//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
public import HTTPTypes
public import Hummingbird

/// An API error, sent as `{"error": "..."}` with its status, plus `"parameter"` when a request
/// parameter is to blame.
public struct APIError: HTTPResponseError {
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// What went wrong, for people.
    public var message: String
    /// The query or path parameter that is wrong, if any.
    public var parameter: String?

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - status: The HTTP status.
    ///   - message: What went wrong, for people.
    ///   - parameter: The request parameter that is wrong, if any.
    public init(_ status: HTTPResponse.Status, _ message: String, parameter: String? = nil) {
        self.status = status
        self.message = message
        self.parameter = parameter
    }

    private struct Body: Encodable {
        var error: String
        var parameter: String?
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        // Messages quote media types and paths: `application/json`, not `application\/json`.
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let body = (try? encoder.encode(Body(error: message, parameter: parameter))) ?? Data("{\"error\":\"internal\"}".utf8)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}
