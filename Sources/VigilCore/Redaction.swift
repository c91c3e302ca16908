//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import VigilClientSupport

/// Keeps credentials out of what Vigil prints: logs, errors, API attributes, `config check`.
///
/// The masking itself is ``URLRedaction`` (VigilClientSupport), which the protocol clients use
/// for their own errors.
public enum Redaction {
    /// What replaces a URL's user information.
    public static let mask = URLRedaction.mask

    /// Replaces the user information of every URL in a text (`mqtt://user:pass@host` →
    /// `mqtt://***@host`), wherever it occurs: a whole URL, or a message quoting one. The user
    /// name goes too: it is often a token (`https://TOKEN@host`).
    ///
    /// - Parameter text: Any text.
    /// - Returns: The text with every `scheme://userinfo@` written `scheme://***@`.
    public static func urls(in text: String) -> String { URLRedaction.urls(in: text) }
}
