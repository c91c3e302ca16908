//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// A configuration problem that stops Vigil from starting (exit status 2).
///
/// The description names the file, the key and the problem, and the line when the TOML parser
/// reports one: `vigil.toml:3: [http] listen: expected a string, got integer`.
public struct ConfigurationError: Error, CustomStringConvertible, Hashable {
    /// The file, or `<defaults>` / `<environment>`.
    public var file: String
    /// The dotted key (`http.listen`), or `nil` for whole-file problems.
    public var key: String?
    /// The line, when known.
    public var line: Int?
    /// What is wrong.
    public var message: String

    /// Creates an error.
    public init(file: String, key: String?, line: Int? = nil, message: String) {
        self.file = file
        self.key = key
        self.line = line
        self.message = message
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        if let key { text += ": \(key)" }
        return text + ": " + message
    }
}
