//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A `vigil` executable started by a test, with its output captured to a file.
///
/// The binary is the one `scripts/test` built next to the test bundle (override with `VIGIL_BINARY`).
final class VigilProcess: @unchecked Sendable {
    // @unchecked: the Process object is only touched from the test that owns this value.
    let process = Process()
    let logURL: URL
    let port: Int

    static var binaryPath: String {
        if let path = ProcessInfo.processInfo.environment["VIGIL_BINARY"] { return path }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("vigil").path
    }

    /// Runs `vigil` (or another executable) with arguments to completion and returns its exit
    /// status and output.
    static func runToCompletion(
        _ arguments: [String],
        environment: [String: String] = [:],
        executable: String = binaryPath
    ) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Starts `vigil serve` on `port` (default: a free one) with a private store.
    init(arguments: [String] = [], environment: [String: String] = [:], directory: URL, port: Int? = nil) throws {
        self.port = try port ?? freeLoopbackPort()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        logURL = directory.appendingPathComponent("vigil-\(self.port).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: Self.binaryPath)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        var variables = ProcessInfo.processInfo.environment
        variables["VIGIL_HTTP_LISTEN"] = "127.0.0.1:\(self.port)"
        variables["VIGIL_STORE_PATH"] = directory.appendingPathComponent("vigil.sqlite").path
        variables.removeValue(forKey: "VIGIL_CONFIG")
        process.environment = variables.merging(environment) { $1 }
        let log = try FileHandle(forWritingTo: logURL)
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// GETs a path (of another of its listeners, given `port`); returns status and body.
    func get(_ path: String, port: Int? = nil) async throws -> (status: Int, body: String) {
        let request = HTTPClientRequest(url: "http://127.0.0.1:\(port ?? self.port)\(path)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return (Int(response.status.code), String(buffer: body))
    }

    /// POSTs a JSON body to a path; returns status and body.
    func post(_ path: String, json body: String) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    /// Waits until `/healthz` answers, or throws after a deadline.
    func waitUntilHealthy(timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw Failure("vigil exited with \(process.terminationStatus):\n\(log)") }
            if let (status, _) = try? await get("/healthz"), status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure("vigil did not become healthy:\n\(log)")
    }

    /// Sends a signal and waits for the exit; returns status and how long it took.
    func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(10)) async throws -> (status: Int32, elapsed: Duration) {
        let start = ContinuousClock.now
        kill(process.processIdentifier, signal)
        while process.isRunning {
            if ContinuousClock.now - start > timeout {
                kill(process.processIdentifier, SIGKILL)
                throw Failure("vigil did not stop within \(timeout):\n\(log)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return (process.terminationStatus, ContinuousClock.now - start)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}

extension VigilProcess {
    /// Polls `condition` every 200 ms until it holds; a thrown error counts as "not yet".
    ///
    /// - Throws: ``Failure`` naming `what` when `timeout` passes first.
    static func eventually(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw Failure("timed out waiting for \(what)")
    }
}
