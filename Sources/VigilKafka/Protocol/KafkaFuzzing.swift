//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// Entry points for the fuzz target and the seeded fuzz test (docs/FUZZING.md).
package enum KafkaFuzzing {
    /// Splits `bytes` into response frames and decodes each as every response type at every
    /// version this client sends, and the whole input as record batches.
    ///
    /// Responses do not say what they answer, so each frame is tried against all decoders: a
    /// hostile broker could send any of them. Only ``KafkaDecodeError`` may come out; a trap or a
    /// huge allocation is a bug.
    ///
    /// - Returns: The number of frames that decoded as something.
    @discardableResult
    package static func decodeStream(_ bytes: some Sequence<UInt8>) -> Int {
        var buffer = ByteBuffer(bytes: bytes)
        var decoded = 0
        _ = try? KafkaRecordBatch.readBatches(from: buffer, maxRecordsPerBatch: 1 << 12, maxInflatedBytes: 1 << 20)
        var decoder = KafkaFrameDecoder(maximumFrameSize: 1 << 20)
        while let frame = try? decoder.decode(buffer: &buffer) {
            var body = frame
            guard (try? body.kafkaReadInt32()) != nil else { continue }
            if decodeAll(body) { decoded += 1 }
        }
        return decoded
    }

    private static func decodeAll(_ body: ByteBuffer) -> Bool {
        var any = false
        func attempt<Request: KafkaRequest>(_ type: Request.Type) {
            for version in Request.supportedVersions {
                var copy = body
                if Request.isFlexible(version) && Request.apiKey != .apiVersions { _ = try? copy.kafkaSkipTaggedFields() }
                if (try? Request.readResponse(version: version, from: &copy)) != nil { any = true }
            }
        }
        attempt(KafkaApiVersionsRequest.self)
        attempt(KafkaMetadataRequest.self)
        attempt(KafkaProduceRequest.self)
        attempt(KafkaFetchRequest.self)
        attempt(KafkaListOffsetsRequest.self)
        attempt(KafkaInitProducerIDRequest.self)
        attempt(KafkaCreateTopicsRequest.self)
        attempt(KafkaFindCoordinatorRequest.self)
        attempt(KafkaJoinGroupRequest.self)
        attempt(KafkaSyncGroupRequest.self)
        attempt(KafkaHeartbeatRequest.self)
        attempt(KafkaLeaveGroupRequest.self)
        attempt(KafkaOffsetCommitRequest.self)
        attempt(KafkaOffsetFetchRequest.self)
        attempt(KafkaSASLHandshakeRequest.self)
        attempt(KafkaSASLAuthenticateRequest.self)
        var fetch = body
        if let response = try? KafkaFetchRequest.readResponse(version: 10, from: &fetch) {
            for partition in response.partitions {
                _ = try? KafkaRecordBatch.readBatches(from: partition.value.records, maxRecordsPerBatch: 1 << 12, maxInflatedBytes: 1 << 20)
            }
        }
        return any
    }
}
