//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import FuzzSupport
import Testing

@testable import VigilLevelDB

/// The fixture is a database written by LevelDB 1.23 (Debian's python3-plyvel) with iotmonitor's
/// options (1 KiB blocks, restart interval 4, Snappy) by Fixtures/make-iotmonitor-leveldb.py:
/// 1,500 state topics, every seventh overwritten and every eleventh deleted, a binary and an
/// empty payload; three tables (one obsolete) and two logs. The expected contents are what
/// LevelDB itself iterated over a copy.
@Suite("LevelDB reader")
struct LevelDBReaderTests {
    static let fixture = Bundle.module.url(forResource: "Fixtures/iotmonitor-leveldb", withExtension: nil)!.path

    static func fixtureFiles() throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: fixture) {
            files[name] = Array(try Data(contentsOf: URL(fileURLWithPath: fixture).appendingPathComponent(name)))
        }
        return files
    }

    static func read(_ files: [String: [UInt8]], limits: LevelDBLimits = LevelDBLimits()) throws(LevelDBError) -> LevelDBContents {
        try LevelDBReader.read(names: Array(files.keys), limits: limits) { (name: String) throws(LevelDBError) -> [UInt8] in
            guard let bytes = files[name] else { throw LevelDBError(.unreadable, file: name, "missing") }
            return bytes
        }
    }

    @Test("reads what LevelDB wrote: every live key with its latest value, deletions applied")
    func readsFixture() throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/iotmonitor-leveldb.expected", withExtension: "json"))
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[String]])
        let contents = try LevelDBReader.read(directory: Self.fixture)
        #expect(contents.entries.count == expected.count)
        #expect(contents.entries.count == 1_365)
        for (entry, pair) in zip(contents.entries, expected) {
            #expect(entry.key == Array(Data(base64Encoded: pair[0])!))
            #expect(entry.value == Array(Data(base64Encoded: pair[1])!))
        }
        #expect(contents.deletedKeys == 137)
        // Three tables are on disk; the manifest lists two (a compaction made one obsolete, and
        // LevelDB had not deleted it yet): reading it could bring deleted keys back.
        #expect(contents.tables == 2)
        let binary = contents.entries.first { $0.key == Array("home/binary/state".utf8) }
        #expect(binary?.value == Array(0...255))
        #expect(contents.entries.contains { $0.key == Array("home/empty/state".utf8) && $0.value.isEmpty })
    }

    @Test("a folder without CURRENT is not a database")
    func notADatabase() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-leveldb-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: LevelDBError.self) { try LevelDBReader.read(directory: folder.path) }
        do {
            _ = try LevelDBReader.read(directory: folder.path)
        } catch {
            #expect(error.kind == .notADatabase)
        }
    }

    @Test("a table the manifest lists but the folder lacks is an error, not a silent loss")
    func missingTable() throws {
        var files = try Self.fixtureFiles()
        files["000007.ldb"] = nil
        #expect(throws: LevelDBError(.unreadable, file: "000007.ldb", "listed in MANIFEST-000002 but missing")) { try Self.read(files) }
    }

    @Test("a damaged table: a flipped byte fails its block checksum, a cut file its footer")
    func damagedTable() throws {
        var files = try Self.fixtureFiles()
        var table = try #require(files["000005.ldb"])
        table[100] ^= 0x40
        files["000005.ldb"] = table
        #expect(kind { try Self.read(files) } == .checksumMismatch)
        files["000005.ldb"] = Array(table.prefix(20))
        #expect(kind { try Self.read(files) } == .truncated)
        var magic = try #require(try Self.fixtureFiles()["000005.ldb"])
        magic[magic.count - 1] ^= 1
        files["000005.ldb"] = magic
        #expect(kind { try Self.read(files) } == .malformed)
    }

    @Test("a log cut mid-record (a crash while writing) keeps what was complete; a bad checksum before the end is an error")
    func tornLog() throws {
        var files = try Self.fixtureFiles()
        let log = try #require(files["000008.log"])
        let whole = try Self.read(files)
        files["000008.log"] = Array(log.dropLast(3))
        let torn = try Self.read(files)
        #expect(torn.entries.count <= whole.entries.count)
        #expect(torn.entries.count + torn.deletedKeys < whole.entries.count + whole.deletedKeys)
        var damaged = log
        damaged[10] ^= 0x01
        files["000008.log"] = damaged
        #expect(kind { try Self.read(files) } == .checksumMismatch)
    }

    @Test("limits: more entries than allowed is refused with a clear error")
    func limits() throws {
        var limits = LevelDBLimits()
        limits.maxEntries = 100
        #expect(kind { try Self.read(try Self.fixtureFiles(), limits: limits) } == .limitExceeded)
    }

    @Test("Snappy: literals, overlapping copies, and every malformed stream refused")
    func snappy() throws {
        // "abc" as one literal.
        #expect(try Snappy.decompress([3, 0x08, 0x61, 0x62, 0x63], limit: 100) == Array("abc".utf8))
        // "a" then a 1-byte-offset copy of 9 bytes at offset 1: ten a's.
        #expect(try Snappy.decompress([10, 0x00, 0x61, 0x15, 0x01], limit: 100) == Array(repeating: 0x61, count: 10))
        // A 2-byte-offset copy (tag 2) of 3 bytes at offset 3.
        #expect(try Snappy.decompress([6, 0x08, 0x78, 0x79, 0x7A, 0x0A, 0x03, 0x00], limit: 100) == Array("xyzxyz".utf8))
        let malformed: [[UInt8]] = [
            [],  // no length
            [3, 0x08, 0x61],  // literal cut short
            [10, 0x00, 0x61, 0x15, 0x00],  // copy from offset 0
            [10, 0x00, 0x61, 0x15, 0x02],  // copy from before the start
            [2, 0x08, 0x61, 0x62, 0x63],  // more output than declared
            [5, 0x08, 0x61, 0x62, 0x63],  // less output than declared
            [0xFF, 0xFF, 0xFF, 0xFF, 0x0F],  // a declared length beyond the limit
            [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],  // a varint beyond 64 bits
        ]
        for stream in malformed {
            #expect(throws: LevelDBError.self) { try Snappy.decompress(stream[...], limit: 1_000) }
        }
    }

    @Test("seeded fuzzing of every fixture file: only LevelDBError, never a trap")
    func seededFuzzing() throws {
        let files = try Self.fixtureFiles()
        var mutator = SeededMutator(seed: 0x1e7e1)
        for name in files.keys.sorted() {
            let bytes = files[name]!
            for round in 0..<200 {
                let mutated = mutator.mutate(bytes)
                LevelDBFuzzing.decode(mutated)
                // The whole database with one file damaged, less often (it reads every file).
                guard round % 10 == 0 else { continue }
                var damaged = files
                damaged[name] = mutated
                _ = try? Self.read(damaged, limits: LevelDBFuzzing.limits)
            }
        }
        // The unmutated files decode as what they are.
        #expect(LevelDBFuzzing.decode(files["000005.ldb"]!) >= 1)
        #expect(LevelDBFuzzing.decode(files["MANIFEST-000002"]!) >= 1)
    }

    /// The kind of the error a read throws, or `nil` when it succeeds (or throws anything else).
    private func kind(_ body: () throws -> LevelDBContents) -> LevelDBError.Kind? {
        do {
            _ = try body()
            return nil
        } catch {
            return (error as? LevelDBError)?.kind
        }
    }
}
