//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// The decoder's contract in one call, for the libFuzzer target `fuzz-resp` (docs/FUZZING.md) and the
/// seeded mutation tests.
///
/// `package` access keeps it out of the public API: the fuzz targets are targets of this package,
/// declared only when the manifest sees `VIGIL_FUZZ=1`.
package enum RESPFuzzing {
    /// Decodes `bytes` as one connection's byte stream until it is used up, more bytes are needed or
    /// the decoder throws; traps if the decoder reads past the input or returns a value without
    /// consuming bytes (the fuzzer reports a trap as a crash). The default limits are lowered so
    /// that the fuzzer reaches them.
    ///
    /// - Returns: The number of values decoded.
    /// - Throws: The decoder's ``RESPDecodeError``: the only acceptable failure.
    @discardableResult
    package static func decodeStream(_ bytes: some Sequence<UInt8>) throws(RESPDecodeError) -> Int {
        var buffer = ByteBuffer(bytes: bytes)
        let total = buffer.readableBytes
        let limits = RESPDecoderLimits(maxDepth: 16, maxBulkLength: 1 << 16, maxAggregateCount: 1 << 12, maxLineLength: 256)
        var values = 0
        while buffer.readableBytes > 0 {
            let before = buffer.readerIndex
            guard try buffer.readRESPValue(limits: limits) != nil else {
                precondition(buffer.readerIndex == before, "a partial value moved the reader index")
                break
            }
            precondition(buffer.readerIndex > before, "a value consumed no bytes")
            precondition(buffer.readerIndex <= total, "the decoder read past the input")
            values += 1
        }
        return values
    }
}
