//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The Prometheus text format's escaping, shared by every exposition Vigil renders itself (the
/// hub's ``SeriesRegistry`` and the stream monitors' snapshots).
public enum PrometheusEscaping {
    /// Appends `{name="value",…}` with the values escaped; nothing when there are no labels.
    public static func appendLabels(_ labels: some Collection<(String, String)>, to buffer: inout [UInt8]) {
        guard !labels.isEmpty else { return }
        buffer.append(UInt8(ascii: "{"))
        for (index, (name, value)) in labels.enumerated() {
            if index > 0 { buffer.append(UInt8(ascii: ",")) }
            buffer.append(contentsOf: name.utf8)
            buffer.append(contentsOf: "=\"".utf8)
            append(value, to: &buffer, quotes: true)
            buffer.append(UInt8(ascii: "\""))
        }
        buffer.append(UInt8(ascii: "}"))
    }

    /// Appends text with `\` and line feeds escaped, and `"` too when `quotes` (label values; a
    /// `# HELP` text leaves quotes as they are).
    public static func append(_ text: String, to buffer: inout [UInt8], quotes: Bool) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.append(contentsOf: "\\\\".utf8)
            case UInt8(ascii: "\n"): buffer.append(contentsOf: "\\n".utf8)
            case UInt8(ascii: "\"") where quotes: buffer.append(contentsOf: "\\\"".utf8)
            default: buffer.append(byte)
            }
        }
    }
}
