//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Kafka's default partitioner for keyed records: murmur2 of the key bytes, sign bit cleared,
/// modulo the partition count.
///
/// Using the same hash as the Java client and librdkafka's `murmur2_random` keeps a key on the same
/// partition whichever client produced it, which consumers relying on per-key order need.
enum KafkaPartitioner {
    static func murmur2(_ bytes: some Collection<UInt8>) -> Int32 {
        let data = Array(bytes)
        let m: UInt32 = 0x5bd1_e995
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: data.count)
        let whole = data.count & ~3
        var index = 0
        while index < whole {
            var k = UInt32(data[index]) | UInt32(data[index + 1]) << 8 | UInt32(data[index + 2]) << 16 | UInt32(data[index + 3]) << 24
            k &*= m
            k ^= k >> 24
            k &*= m
            h &*= m
            h ^= k
            index += 4
        }
        let rest = data.count & 3
        if rest == 3 { h ^= UInt32(data[whole + 2]) << 16 }
        if rest >= 2 { h ^= UInt32(data[whole + 1]) << 8 }
        if rest >= 1 {
            h ^= UInt32(data[whole])
            h &*= m
        }
        h ^= h >> 13
        h &*= m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    static func partition(forKey key: some Collection<UInt8>, partitionCount: Int32) -> Int32 {
        (murmur2(key) & 0x7fff_ffff) % max(partitionCount, 1)
    }
}
