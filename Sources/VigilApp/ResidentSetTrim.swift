//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import ServiceLifecycle
import VigilMonitors

#if canImport(Glibc)
import Glibc
#endif

/// Gives back, once the agent has settled, the pages of the executable and its libraries that
/// start-up touched and sampling does not use (`vigil agent`, issue 17).
///
/// The `vigil` binary carries the whole of Vigil and links Foundation: starting the agent (argument
/// parsing, runtime metadata lookups, library initialisers) touches about 35 MB of code and
/// read-only data, which the kernel counts as resident for as long as the process lives, while a
/// sampling round uses a few megabytes of it. After a few rounds each read-only, file-backed
/// mapping is advised `MADV_PAGEOUT`: its pages leave this process's resident set. Nothing is
/// lost: the pages are clean copies of files on disk, a page written since it was mapped
/// (relocated read-only data) is kept (the kernel never discards modified private pages for
/// `MADV_PAGEOUT`), and pages other processes also map (libc) stay. What the next rounds use
/// faults back in, once (measured: 40 MB before, 15 MB from the next round on).
struct ResidentSetTrimmer: Service {
    /// How long after start: long enough for the first reports and the broker connection.
    let delay: Duration
    let logger: Logger

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
        } catch is CancellationError {
            return
        }
        guard !Task.isCancelled else { return }
        let before = Self.residentKilobytes()
        let (mappings, failures) = Self.trim()
        logger.debug(
            "Trimmed the resident set",
            metadata: [
                "agent.rss_kb_before": "\(before.map(String.init) ?? "?")",
                "agent.rss_kb_after": "\(Self.residentKilobytes().map(String.init) ?? "?")",
                "agent.mappings": "\(mappings)", "agent.madvise_failures": "\(failures)",
            ]
        )
        try? await gracefulShutdown()
    }

    /// Advises every read-only, file-backed mapping of this process.
    ///
    /// - Returns: How many mappings were advised, and how many calls failed (`MADV_PAGEOUT` needs
    ///   Linux 5.4; before that the calls fail and nothing changes).
    static func trim() -> (mappings: Int, failures: Int) {
        #if os(Linux)
        guard let maps = readFile("maps") else { return (0, 0) }
        var mappings = 0
        var failures = 0
        for line in maps.split(separator: "\n") {
            // start-end perms offset dev inode path
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            // The path is the rest of the line after the padding that follows the inode.
            guard fields.count == 6, fields[5].drop(while: { $0 == " " }).hasPrefix("/"), !fields[1].contains("w") else { continue }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16), end > start,
                let address = UnsafeMutableRawPointer(bitPattern: start)
            else { continue }
            mappings += 1
            // MADV_PAGEOUT = 21 (<sys/mman.h>, Linux 5.4; spelled out for older headers).
            if madvise(address, Int(end - start), 21) != 0 { failures += 1 }
        }
        return (mappings, failures)
        #else
        return (0, 0)
        #endif
    }

    /// `VmRSS` of this process in kB, from `/proc/self/status`.
    static func residentKilobytes() -> Int? {
        guard let status = readFile("status"),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return nil }
        // "VmRSS:\t   38096 kB"
        return line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
    }

    /// A small file of this process in /proc, as text.
    private static func readFile(_ file: String) -> String? {
        AgentProcess.procFile(getpid(), file).map { String(decoding: $0, as: UTF8.self) }
    }
}
