//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilClientSupport

@Suite("CRC-32C")
struct CRC32CTests {
    @Test("the check value, the empty input and incremental updates")
    func checkValues() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        let whole = CRC32C.checksum(Array("123456789".utf8))
        #expect(CRC32C.update(CRC32C.checksum(Array("1234".utf8)), with: Array("56789".utf8)) == whole)
        // RFC 3720 B.4: 32 bytes of zeros.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    }

    /// Bit by bit, straight from the definition.
    static func reference(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    @Test("the instruction and the tables agree with the definition at every length and alignment (seeded)")
    func implementationsAgree() {
        var generator = ReconnectPolicyTests.SeededRandom(state: 0x5EED_C3C3)
        let data = (0..<4_200).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for _ in 0..<400 {
            let start = Int.random(in: 0..<64, using: &generator)
            let count = Int.random(in: 0...(data.count - start), using: &generator)
            let slice = Array(data[start..<(start + count)])
            let expected = Self.reference(slice)
            data.withUnsafeBytes { raw in
                let bytes = UnsafeRawBufferPointer(rebasing: raw[start..<(start + count)])
                #expect(CRC32C.checksum(bytes) == expected)
                #expect(CRC32C.updateByTable(0, with: bytes) == expected)
                // Split anywhere: the running value carries across calls in both implementations.
                let cut = count / 3
                let head = UnsafeRawBufferPointer(rebasing: bytes[0..<cut])
                let tail = UnsafeRawBufferPointer(rebasing: bytes[cut...])
                #expect(CRC32C.update(CRC32C.checksum(head), with: tail) == expected)
                #expect(CRC32C.updateByTable(CRC32C.updateByTable(0, with: head), with: tail) == expected)
            }
        }
        // Sequences without contiguous storage take the same path through a copy.
        #expect(CRC32C.checksum(data.lazy.map { $0 }) == Self.reference(data))
        print("crc32c: CPU instruction \(CRC32C.usesInstruction ? "used" : "not available")")
    }
}
