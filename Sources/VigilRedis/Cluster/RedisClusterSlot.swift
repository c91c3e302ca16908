//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import NIOCore

/// The hash slot of a key in a Redis Cluster: CRC16 (XMODEM) of the key, or of its hash tag, modulo
/// 16,384, as the cluster specification defines it.
public enum RedisClusterSlot {
    /// The number of hash slots.
    public static let count = 16_384

    /// The slot of a key given as text.
    ///
    /// - Parameter key: The key.
    /// - Returns: A slot in `0..<16384`.
    public static func slot(for key: String) -> Int {
        var key = key
        return key.withUTF8 { slot(for: $0) }
    }

    /// The slot of a binary key.
    ///
    /// - Parameter key: The key's bytes.
    /// - Returns: A slot in `0..<16384`.
    public static func slot(for key: ByteBuffer) -> Int {
        key.withUnsafeReadableBytes { slot(for: UnsafeBufferPointer(start: $0.baseAddress?.assumingMemoryBound(to: UInt8.self), count: $0.count)) }
    }

    /// The slot of a key's bytes.
    ///
    /// Only the hash tag is hashed when the key has one: the bytes between the first `{` and the
    /// next `}`, if that part is not empty. `user:{42}:name` and `{42}` share a slot; `{}x` does
    /// not have a tag and is hashed whole.
    ///
    /// - Parameter key: The key's bytes.
    /// - Returns: A slot in `0..<16384`.
    public static func slot(for key: UnsafeBufferPointer<UInt8>) -> Int {
        var hashed = key[...]
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")),
            close > open + 1
        {
            hashed = key[(open + 1)..<close]
        }
        var crc: UInt16 = 0
        for byte in hashed {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return Int(crc) & (count - 1)
    }

    /// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), one entry per byte value.
    static let table: [UInt16] = (0..<256).map { byte in
        var crc = UInt16(byte) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }
}
