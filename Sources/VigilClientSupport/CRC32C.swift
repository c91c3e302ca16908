//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// CRC-32C (Castagnoli), the checksum of Kafka's record batch v2 and of LevelDB's blocks and logs.
///
/// Both chose the Castagnoli polynomial (reflected 0x82F63B78) rather than zlib's CRC-32, so zlib
/// cannot compute it. A byte-wise table is fast enough for batches of a megabyte; the check value
/// of "123456789" is 0xE3069283.
public enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    /// The checksum of a byte sequence.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        update(0, with: bytes)
    }

    /// Extends a checksum with more bytes: `update(checksum(a), with: b) == checksum(a + b)`.
    public static func update(_ checksum: UInt32, with bytes: some Sequence<UInt8>) -> UInt32 {
        var crc = ~checksum
        table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return ~crc
    }
}
