//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import CVigilCRC32C

/// CRC-32C (Castagnoli), the checksum of Kafka's record batch v2 and of LevelDB's blocks and logs.
///
/// Both chose the Castagnoli polynomial (reflected 0x82F63B78) rather than zlib's CRC-32, so zlib
/// cannot compute it. The work is done in C (`CVigilCRC32C`) with the CPU's CRC32 instruction
/// where there is one: a consumer checks every fetched byte. The check value of "123456789" is
/// 0xE3069283.
public enum CRC32C {
    /// The checksum of a byte sequence.
    @inlinable
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        update(0, with: bytes)
    }

    /// The checksum of raw bytes.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        update(0, with: bytes)
    }

    /// Extends a checksum with more bytes: `update(checksum(a), with: b) == checksum(a + b)`.
    @inlinable
    public static func update(_ checksum: UInt32, with bytes: some Sequence<UInt8>) -> UInt32 {
        if let result = bytes.withContiguousStorageIfAvailable({ update(checksum, with: UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return update(checksum, with: Array(bytes))
    }

    /// Extends a checksum with raw bytes.
    public static func update(_ checksum: UInt32, with bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return checksum }
        return ~cvigil_crc32c_extend(~checksum, base, bytes.count)
    }

    /// The table implementation, whatever the CPU; tests compare it with ``update(_:with:)-(_,UnsafeRawBufferPointer)``.
    public static func updateByTable(_ checksum: UInt32, with bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return checksum }
        return ~cvigil_crc32c_extend_tables(~checksum, base, bytes.count)
    }

    /// Whether this machine computes it with a CPU instruction (else eight bytes at a time by table).
    public static var usesInstruction: Bool { cvigil_crc32c_hardware() != 0 }
}
