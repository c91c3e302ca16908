//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// ApiVersions: which versions of each API the broker accepts.
///
/// v3 is the first flexible version; a broker older than 2.4 answers it with UNSUPPORTED_VERSION and
/// a v0 body listing its own versions, which the connection then uses (the Kafka guide's
/// prescribed downgrade).
struct KafkaApiVersionsRequest: KafkaRequest {
    typealias Response = KafkaApiVersionsResponse
    static var apiKey: KafkaAPIKey { .apiVersions }
    static var supportedVersions: ClosedRange<Int16> { 0...3 }
    static func isFlexible(_ version: Int16) -> Bool { version >= 3 }

    var clientSoftwareName = "vigil-kafka"
    var clientSoftwareVersion = "1.0"

    func write(version: Int16, to buffer: inout ByteBuffer) {
        guard version >= 3 else { return }
        buffer.kafkaWriteString(clientSoftwareName, flexible: true)
        buffer.kafkaWriteString(clientSoftwareVersion, flexible: true)
        buffer.kafkaWriteEmptyTaggedFields()
    }

    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response {
        let errorCode = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("ApiVersions.error_code"))
        // An UNSUPPORTED_VERSION answer is always a v0 body, whatever version was asked.
        let flexible = version >= 3 && errorCode != .unsupportedVersion
        let count = try buffer.kafkaReadNonNullArrayCount(flexible: flexible, minimumElementSize: 6, "ApiVersions.api_keys")
        var ranges: [Int16: ClosedRange<Int16>] = [:]
        for _ in 0..<count {
            let key = try buffer.kafkaReadInt16("ApiVersions.api_key")
            let minimum = try buffer.kafkaReadInt16("ApiVersions.min_version")
            let maximum = try buffer.kafkaReadInt16("ApiVersions.max_version")
            if flexible { try buffer.kafkaSkipTaggedFields("ApiVersions.api_keys") }
            guard minimum <= maximum else { throw KafkaDecodeError(.invalidValue, "ApiVersions.max_version") }
            ranges[key] = minimum...maximum
        }
        // The rest (throttle time, tagged fields) is not needed.
        return Response(errorCode: errorCode, versions: ranges)
    }
}

/// The versions a broker accepts, by API key.
struct KafkaApiVersionsResponse: Sendable, Hashable {
    var errorCode: KafkaErrorCode
    var versions: [Int16: ClosedRange<Int16>]

    /// The highest version both sides support, or `nil` when the ranges do not meet.
    func negotiate<Request: KafkaRequest>(_ request: Request.Type) -> Int16? {
        guard let broker = versions[Request.apiKey.rawValue] else { return nil }
        let ours = Request.supportedVersions
        let high = min(broker.upperBound, ours.upperBound)
        return high >= max(broker.lowerBound, ours.lowerBound) ? high : nil
    }
}
