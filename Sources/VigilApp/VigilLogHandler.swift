//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
public import Logging
import Synchronization

/// A swift-log handler writing one line per record, as text or JSON, to standard error or a file.
///
/// Text: `2026-11-23T10:00:00.123Z info vigil.gateways: Gateway status updated server=gxy1 online=true`.
/// JSON: `{"time":"…","level":"info","label":"vigil.gateways","message":"…","server":"gxy1",…}`.
public struct VigilLogHandler: LogHandler {
    /// Where lines go; shared by every handler of the process.
    final class Output: Sendable {
        private let handle: Mutex<FileHandle>

        init(handle: FileHandle) { self.handle = Mutex(handle) }

        func write(_ line: String) {
            let data = Data(line.utf8)
            handle.withLock { try? $0.write(contentsOf: data) }
        }
    }

    private let label: String
    private let format: LogConfiguration.Format
    private let output: Output
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    init(label: String, configuration: LogConfiguration, output: Output) {
        self.label = label
        self.format = configuration.format
        self.output = output
        self.logLevel = configuration.level
    }

    /// Bootstraps swift-log once for the process.
    ///
    /// - Throws: When the `log_dst` file cannot be opened.
    public static func bootstrap(_ configuration: LogConfiguration) throws {
        let handle: FileHandle
        if let path = configuration.destination {
            if !FileManager.default.fileExists(atPath: path) {
                _ = FileManager.default.createFile(atPath: path, contents: nil)
            }
            guard let file = FileHandle(forWritingAtPath: path) else {
                throw ConfigurationError(file: "<log>", key: "log.log_dst", message: "cannot open '\(path)' for writing")
            }
            file.seekToEndOfFile()
            handle = file
        } else {
            handle = FileHandle.standardError
        }
        let output = Output(handle: handle)
        LoggingSystem.bootstrap { label in VigilLogHandler(label: label, configuration: configuration, output: output) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let time = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
        switch format {
        case .text:
            var line = "\(time) \(event.level) \(label): \(event.message)"
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
            output.write(line + "\n")
        case .json:
            var object: [String: String] = ["time": time, "level": event.level.rawValue, "label": label, "message": "\(event.message)"]
            for (key, value) in merged { object[key] = "\(value)" }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = (try? encoder.encode(object)) ?? Data()
            output.write(String(decoding: data, as: UTF8.self) + "\n")
        }
    }
}
