//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// The Kafka API keys this client speaks.
enum KafkaAPIKey: Int16, Sendable, CaseIterable {
    case produce = 0
    case fetch = 1
    case listOffsets = 2
    case metadata = 3
    case offsetCommit = 8
    case offsetFetch = 9
    case findCoordinator = 10
    case joinGroup = 11
    case heartbeat = 12
    case leaveGroup = 13
    case syncGroup = 14
    case saslHandshake = 17
    case apiVersions = 18
    case createTopics = 19
    case initProducerId = 22
    case saslAuthenticate = 36
}

/// One request type: how to write its body and read its response at a negotiated version.
///
/// ``supportedVersions`` is the range this client implements, chosen inside what Kafka 2.1 through
/// 4.x all accept, so one client talks to every broker of that span (4.0 removed the oldest
/// versions, 2.1 knows no flexible ones beyond ApiVersions). The connection picks the highest
/// version in this range that the broker also supports.
protocol KafkaRequest: Sendable {
    associatedtype Response: Sendable

    static var apiKey: KafkaAPIKey { get }
    static var supportedVersions: ClosedRange<Int16> { get }
    /// Whether a version uses the flexible encoding (compact types, tagged fields, header v2).
    static func isFlexible(_ version: Int16) -> Bool

    func write(version: Int16, to buffer: inout ByteBuffer)
    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response
}

extension KafkaRequest {
    static func isFlexible(_ version: Int16) -> Bool { false }
}

/// The request header (v1, or v2 with tagged fields for flexible versions) and the size prefix.
enum KafkaRequestFrame {
    /// Writes a whole frame: size, header, body.
    static func write<Request: KafkaRequest>(
        _ request: Request,
        version: Int16,
        correlationID: Int32,
        clientID: String,
        to buffer: inout ByteBuffer
    ) {
        let sizeIndex = buffer.writerIndex
        buffer.writeInteger(Int32(0))
        buffer.writeInteger(Request.apiKey.rawValue)
        buffer.writeInteger(version)
        buffer.writeInteger(correlationID)
        // The client id stays a classic nullable string even in header v2.
        buffer.kafkaWriteString(clientID, flexible: false)
        if Request.isFlexible(version) { buffer.kafkaWriteEmptyTaggedFields() }
        request.write(version: version, to: &buffer)
        buffer.setInteger(Int32(buffer.writerIndex - sizeIndex - 4), at: sizeIndex)
    }
}
