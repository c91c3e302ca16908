//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Masks the credentials of URLs in text, for errors and logs: the one implementation, shared by the
/// protocol clients and by VigilCore's ``Redaction`` (what Vigil prints).
public enum URLRedaction {
    /// What replaces a URL's user information.
    public static let mask = "***"

    /// Replaces the user information of every URL in a text (`mqtt://user:pass@host` →
    /// `mqtt://***@host`), wherever it occurs: a whole URL, or a message quoting one.
    ///
    /// The user name goes too: it is often a token (`https://TOKEN@host`).
    ///
    /// - Parameter text: Any text.
    /// - Returns: The text with every `scheme://userinfo@` written `scheme://***@`.
    public static func urls(in text: String) -> String {
        guard text.contains("@") else { return text }
        var result = ""
        var rest = Substring(text)
        while let separator = rest.firstRange(of: "://") {
            result += rest[..<separator.upperBound]
            rest = rest[separator.upperBound...]
            // The URL ends where the surrounding text resumes (a quote, a space, a list's comma) or
            // the next URL starts. Its user information ends at the last `@` before the path; with
            // no `@` there, at the last `@` of the URL, for a password holding a raw `/`, `?` or
            // `#` (masking a path's `@` too is the safe mistake).
            var end = rest.firstIndex { "'\"<>, \t\r\n".contains($0) } ?? rest.endIndex
            if let next = rest[..<end].firstRange(of: "://") { end = next.lowerBound }
            let url = rest[..<end]
            let path = url.firstIndex { "/?#".contains($0) } ?? url.endIndex
            if let at = url[..<path].lastIndex(of: "@") ?? url.lastIndex(of: "@") {
                result += mask
                rest = rest[at...]
            }
        }
        return result + rest
    }

    /// One URL as a client quotes it in an error: like ``urls(in:)``, and without a scheme
    /// (`user:pass@host`) everything before the last `@` is masked too.
    ///
    /// - Parameter url: A URL as configured.
    /// - Returns: The URL with its user information written `***`.
    public static func url(_ url: String) -> String {
        if url.contains("://") { return urls(in: url) }
        guard let at = url.lastIndex(of: "@") else { return url }
        return mask + url[at...]
    }
}
