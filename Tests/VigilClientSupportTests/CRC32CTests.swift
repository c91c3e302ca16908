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
}
