//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing

@testable import VigilApp

@Suite("The agent's resident-set trim")
struct ResidentSetTrimTests {
    #if os(Linux)
    @Test("paging out the read-only file mappings shrinks this process's resident set, and the process runs on")
    func trimShrinksResidentSet() throws {
        let before = try #require(ResidentSetTrimmer.residentKilobytes())
        let (mappings, failures) = ResidentSetTrimmer.trim()
        let after = try #require(ResidentSetTrimmer.residentKilobytes())
        #expect(mappings > 10)
        #expect(failures == 0, "MADV_PAGEOUT needs Linux 5.4")
        // The test runner's code and Foundation alone are tens of megabytes; most of it is not in
        // use at this moment.
        #expect(after < before - 4096, "VmRSS \(before) kB before, \(after) kB after")
        // Relocated read-only data survived (a paged-out page that had been written would crash here).
        #expect(String(describing: [1, 2, 3].map { $0 * 2 }) == "[2, 4, 6]")
    }
    #endif
}
