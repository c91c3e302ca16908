//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import VigilXMPP

/// Checks a recipient as given in `usernames` (or read from channel membership): a username, or a
/// JID `local@domain[/resource]`.
///
/// The localpart follows RFC 7622's rules as far as they matter for a well-formed stanza that the
/// server routes: 1 to 1023 bytes of UTF-8, no control or white-space characters, no character
/// XML cannot carry, and none of `"&'/:<>@`. The domainpart has the same length limit and no
/// white space, control characters or `"&'<>@/`; a resourcepart (after `/`) may hold anything but
/// control characters and characters XML cannot carry. The full PRECIS profile (case mapping,
/// normalisation) is the XMPP server's job; this check only keeps out what must never reach it.
public enum RecipientAddress {
    /// The largest part of a JID, in UTF-8 bytes (RFC 7622 §3).
    public static let maxPartBytes = 1023

    /// Why `entry` is not a usable recipient, or `nil` when it is.
    public static func problem(in entry: String) -> String? {
        guard let at = entry.firstIndex(of: "@") else {
            return localpartProblem(Substring(entry))
        }
        if let problem = localpartProblem(entry[..<at]) { return "its local part " + problem }
        let rest = entry[entry.index(after: at)...]
        let slash = rest.firstIndex(of: "/")
        let domain = rest[..<(slash ?? rest.endIndex)]
        if let problem = domainProblem(domain) { return "its domain " + problem }
        if let slash {
            let resource = rest[rest.index(after: slash)...]
            if let problem = resourceProblem(resource) { return "its resource " + problem }
        }
        return nil
    }

    static func localpartProblem(_ part: Substring) -> String? {
        identifierProblem(part, forbidden: "\"&'/:<>@", noun: "a username")
    }

    static func domainProblem(_ part: Substring) -> String? {
        identifierProblem(part, forbidden: "\"&'<>@/\\", noun: "a domain")
    }

    /// A local or domain part: no white space and none of `forbidden`, besides the common rules.
    private static func identifierProblem(_ part: Substring, forbidden: String, noun: String) -> String? {
        if let problem = lengthProblem(part) { return problem }
        for scalar in part.unicodeScalars {
            if let problem = commonProblem(scalar) { return problem }
            if scalar.properties.isWhitespace { return "contains white space (\(describe(scalar)))" }
            if forbidden.unicodeScalars.contains(scalar) { return "contains \(describe(scalar)), which \(noun) cannot hold" }
        }
        return nil
    }

    static func resourceProblem(_ part: Substring) -> String? {
        if let problem = lengthProblem(part) { return problem }
        for scalar in part.unicodeScalars {
            if let problem = commonProblem(scalar) { return problem }
        }
        return nil
    }

    private static func lengthProblem(_ part: Substring) -> String? {
        let bytes = part.utf8.count
        if bytes == 0 { return "is empty" }
        if bytes > maxPartBytes { return "is \(bytes) bytes long (at most \(maxPartBytes))" }
        return nil
    }

    /// Control characters (Unicode category Cc) and characters XML cannot carry.
    private static func commonProblem(_ scalar: Unicode.Scalar) -> String? {
        if scalar.properties.generalCategory == .control { return "contains a control character (\(describe(scalar)))" }
        if !XMLSerializer.isXMLCharacter(scalar) { return "contains \(describe(scalar)), which XML cannot carry" }
        return nil
    }

    /// A character named safely for an error message: printable ASCII quoted, anything else as U+XXXX.
    static func describe(_ scalar: Unicode.Scalar) -> String {
        if scalar == "'" { return "\"'\"" }
        if scalar.value > 0x20 && scalar.value < 0x7F { return "'\(Character(scalar))'" }
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
