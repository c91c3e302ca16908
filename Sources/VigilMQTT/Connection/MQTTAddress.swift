//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import VigilClientSupport

/// Where a broker listens, parsed from a connection URL.
///
/// Accepted forms: `mqtt://HOST[:PORT]`, `tcp://HOST[:PORT]` (plain TCP, default port 1883) and
/// `mqtts://HOST[:PORT]`, `ssl://HOST[:PORT]` (TLS, default port 8883). IPv6 hosts are written in
/// brackets (`mqtt://[::1]:1883`). A bare `HOST[:PORT]` means `mqtt://`. Credentials in the URL
/// (`mqtt://user:password@host`) are available as ``username`` and ``password``; a trailing `/` is
/// ignored.
public struct MQTTAddress: Sendable, Hashable, CustomStringConvertible {
    /// The host name or IP address.
    public var host: String
    /// The TCP port.
    public var port: Int
    /// Whether the connection uses TLS.
    public var useTLS: Bool
    /// A user name given in the URL, if any.
    public var username: String?
    /// A password given in the URL, if any.
    public var password: String?

    /// Creates an address from its parts.
    ///
    /// - Parameters:
    ///   - host: The host name or IP address.
    ///   - port: The TCP port; `nil` uses 1883 or, with TLS, 8883.
    ///   - useTLS: Whether to use TLS.
    public init(host: String, port: Int? = nil, useTLS: Bool = false) {
        self.host = host
        self.port = port ?? (useTLS ? 8883 : 1883)
        self.useTLS = useTLS
    }

    /// Parses a connection URL.
    ///
    /// - Parameter url: The URL, for example `mqtt://broker.local:1883` or `ssl://broker.local`.
    /// - Throws: ``MQTTClientError`` with code ``MQTTClientError/Code/invalidURL``.
    public init(url: String) throws {
        // Errors quote the URL with its user information masked: it holds the password.
        let shown = URLRedaction.url(url)
        func fail(_ why: String) -> MQTTClientError {
            MQTTClientError(.invalidURL, message: "'\(shown)': \(why)")
        }
        var rest = Substring(url.trimmingPrefixAndSuffixWhitespace)
        var useTLS = false
        if let range = rest.firstRange(of: "://") {
            switch rest[..<range.lowerBound].lowercased() {
            case "mqtt", "tcp": useTLS = false
            case "mqtts", "ssl", "tls": useTLS = true
            case let scheme: throw fail("unsupported scheme '\(scheme)'")
            }
            rest = rest[range.upperBound...]
        }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        if rest.contains("/") { throw fail("paths are not supported") }
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            if let colon = credentials.firstIndex(of: ":") {
                username = String(credentials[..<colon])
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                username = String(credentials)
            }
            rest = rest[rest.index(after: at)...]
        }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("unterminated IPv6 address") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("unexpected text after the host") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        if host.isEmpty { throw fail("no host") }
        var port: Int?
        if let portText {
            guard let value = Int(portText), (1...65_535).contains(value) else { throw fail("invalid port '\(portText)'") }
            port = value
        }
        self.init(host: String(host), port: port, useTLS: useTLS)
        self.username = username
        self.password = password
    }

    /// The address as a URL, without credentials.
    public var description: String {
        let scheme = useTLS ? "mqtts" : "mqtt"
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(hostPart):\(port)"
    }
}

extension String {
    fileprivate var trimmingPrefixAndSuffixWhitespace: Substring {
        var s = self[...]
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return s
    }
}
