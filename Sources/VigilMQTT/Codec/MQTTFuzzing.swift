//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// The decoder's contract in one call, for the libFuzzer target `fuzz-mqtt` (docs/FUZZING.md) and the
/// seeded mutation tests.
///
/// `package` access keeps it out of the public API: the fuzz targets are targets of this package,
/// declared only when the manifest sees `VIGIL_FUZZ=1`.
package enum MQTTFuzzing {
    /// Decodes `bytes` as one connection's byte stream until it is used up, more bytes are needed or
    /// the decoder throws; traps if the decoder reads past the input or returns a packet without
    /// consuming bytes (the fuzzer reports a trap as a crash).
    ///
    /// - Returns: The number of packets decoded.
    /// - Throws: The decoder's ``MQTTDecodeError``: the only acceptable failure.
    @discardableResult
    package static func decodeStream(
        _ bytes: some Sequence<UInt8>,
        version: MQTTProtocolVersion,
        maxPacketSize: Int = 1 << 20
    ) throws(MQTTDecodeError) -> Int {
        var buffer = ByteBuffer(bytes: bytes)
        let total = buffer.readableBytes
        var decoder = MQTTPacketDecoder(version: version, maxPacketSize: maxPacketSize)
        var packets = 0
        while buffer.readableBytes > 0 {
            let before = buffer.readerIndex
            guard try decoder.decodePacket(buffer: &buffer) != nil else {
                precondition(buffer.readerIndex == before, "a partial packet moved the reader index")
                break
            }
            precondition(buffer.readerIndex > before, "a packet consumed no bytes")
            precondition(buffer.readerIndex <= total, "the decoder read past the input")
            packets += 1
        }
        return packets
    }
}
