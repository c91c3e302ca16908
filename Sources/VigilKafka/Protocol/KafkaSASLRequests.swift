//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// SaslHandshake v1: names the mechanism; the exchange then runs in SaslAuthenticate.
struct KafkaSASLHandshakeRequest: KafkaRequest {
    typealias Response = (errorCode: KafkaErrorCode, mechanisms: [String])
    static var apiKey: KafkaAPIKey { .saslHandshake }
    static var supportedVersions: ClosedRange<Int16> { 1...1 }

    var mechanism: String

    func write(version: Int16, to buffer: inout ByteBuffer) {
        buffer.kafkaWriteString(mechanism, flexible: false)
    }

    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response {
        let errorCode = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("SaslHandshake.error_code"))
        let count = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 2, "SaslHandshake.mechanisms")
        var mechanisms: [String] = []
        for _ in 0..<count { mechanisms.append(try buffer.kafkaReadString(flexible: false, "SaslHandshake.mechanism")) }
        return (errorCode, mechanisms)
    }
}

/// SaslAuthenticate v0–1: one round of the mechanism's exchange.
struct KafkaSASLAuthenticateRequest: KafkaRequest {
    typealias Response = (errorCode: KafkaErrorCode, message: String?, bytes: ByteBuffer)
    static var apiKey: KafkaAPIKey { .saslAuthenticate }
    static var supportedVersions: ClosedRange<Int16> { 0...1 }

    var bytes: ByteBuffer

    func write(version: Int16, to buffer: inout ByteBuffer) {
        buffer.kafkaWriteBytes(bytes, flexible: false)
    }

    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response {
        let errorCode = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("SaslAuthenticate.error_code"))
        let message = try buffer.kafkaReadNullableString(flexible: false, "SaslAuthenticate.error_message")
        let bytes = try buffer.kafkaReadBytes(flexible: false, "SaslAuthenticate.auth_bytes")
        if version >= 1 { _ = try buffer.kafkaReadInt64("SaslAuthenticate.session_lifetime_ms") }
        return (errorCode, message, bytes)
    }
}
