//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation

/// SplitMix64: a small, fast generator with a fixed seed, so that a failing mutation reproduces.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The seed corpora of the fuzz targets (Fuzz/Corpus/TARGET): traffic captured from the real servers
/// of the integration tests by Fuzz/capture.sh.
public enum SeedCorpus {
    /// The files of one target's corpus, in a stable order.
    public static func load(_ target: String) -> [[UInt8]] {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Corpus").appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().compactMap { name in
            (try? Data(contentsOf: folder.appendingPathComponent(name))).map { Array($0) }
        }
    }
}

/// Mutates captured packets the way a fuzzer does, reproducibly: bit flips, boundary values,
/// inserted, deleted and duplicated ranges, overwritten length fields and truncation.
public struct SeededMutator: Sendable {
    private var generator: SplitMix64
    private static let interesting: [UInt64] = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0xFF_FFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, .max]

    public init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    /// A random number in `0..<bound` (0 when `bound` is 0).
    public mutating func below(_ bound: Int) -> Int {
        bound <= 0 ? 0 : Int(generator.next() % UInt64(bound))
    }

    /// `bytes` with one to four mutations applied.
    public mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        for _ in 0...below(4) {
            let index = below(bytes.count)
            switch below(8) {
            case 0 where !bytes.isEmpty:
                bytes[index] ^= 1 << UInt8(below(8))
            case 1 where !bytes.isEmpty:
                bytes[index] = UInt8(truncatingIfNeeded: Self.interesting[below(Self.interesting.count)])
            case 2:
                let count = 1 + below(4)
                bytes.insert(contentsOf: (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }, at: index)
            case 3 where !bytes.isEmpty:
                bytes.removeSubrange(index..<min(bytes.count, index + 1 + below(16)))
            case 4 where !bytes.isEmpty:
                let slice = bytes[index..<min(bytes.count, index + 1 + below(64))]
                bytes.insert(contentsOf: Array(slice), at: below(bytes.count))
            case 5:
                bytes.removeSubrange(below(bytes.count + 1)...)
            case 6 where bytes.count >= 8:
                // A length or count field set to a boundary value, in either byte order.
                let width = [1, 2, 3, 4, 8][below(5)]
                let start = below(bytes.count - width + 1)
                var value = Self.interesting[below(Self.interesting.count)]
                let littleEndian = below(2) == 0
                for offset in 0..<width {
                    let position = littleEndian ? start + offset : start + width - 1 - offset
                    bytes[position] = UInt8(truncatingIfNeeded: value)
                    value >>= 8
                }
            default:
                if !bytes.isEmpty { bytes[index] = UInt8(truncatingIfNeeded: generator.next()) }
            }
        }
        return bytes
    }
}
