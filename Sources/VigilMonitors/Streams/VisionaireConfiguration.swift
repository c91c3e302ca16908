//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Settings of the Visionaire camera poller and its seed-004 exporter.
///
/// TOML section `[visionaire]` (see `docs/CONFIGURATION.md`):
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `api_base_urls` | list of URLs | `[]` (off) | the seed's `API_BASE_URLS` |
/// | `update_interval` | duration | `"60s"` | the seed's `UPDATE_INTERVAL`: time from one cycle's start to the next |
/// | `request_timeout` | duration | `"10s"` | deadline of each HTTP request (the seed's `timeout=10`) |
/// | `exporter_port` | integer | `9898` | the seed's `EXPORTER_PORT` (`/metrics` only); `0` turns the extra listener off |
/// | `exporter_host` | string | `"127.0.0.1"` | address the exporter listener binds; beyond loopback it needs `[http] token` (the seed bound every interface, unauthenticated) |
/// | `max_concurrent_requests` | integer | `64` | requests in flight across all hosts |
/// | `max_requests_per_host` | integer | `8` | requests in flight to one host |
public struct VisionaireConfiguration: Sendable, Hashable {
    /// Base URLs of the Visionaire stream APIs, such as `http://10.0.28.11:4004`.
    public var apiBaseURLs: [String]
    /// Time from the start of one cycle to the start of the next.
    public var updateInterval: Duration
    /// Deadline of each request.
    public var requestTimeout: Duration
    /// Port of the extra `/metrics` listener; 0 means none.
    public var exporterPort: Int
    /// Address the extra listener binds: loopback by default, since the camera list is not for
    /// everybody who reaches the port; a wider address needs Vigil's token.
    public var exporterHost: String
    /// Requests in flight across all hosts.
    public var maxConcurrentRequests: Int
    /// Requests in flight to one host.
    public var maxRequestsPerHost: Int

    /// Creates a configuration with the defaults listed above.
    public init(
        apiBaseURLs: [String] = [],
        updateInterval: Duration = .seconds(60),
        requestTimeout: Duration = .seconds(10),
        exporterPort: Int = 9898,
        exporterHost: String = "127.0.0.1",
        maxConcurrentRequests: Int = 64,
        maxRequestsPerHost: Int = 8
    ) {
        self.apiBaseURLs = apiBaseURLs
        self.updateInterval = updateInterval
        self.requestTimeout = requestTimeout
        self.exporterPort = exporterPort
        self.exporterHost = exporterHost
        self.maxConcurrentRequests = maxConcurrentRequests
        self.maxRequestsPerHost = maxRequestsPerHost
    }

    /// Whether any host is configured.
    public var enabled: Bool { !apiBaseURLs.isEmpty }

    /// The `source_host` label of each base URL, in order.
    ///
    /// The seed takes the host part of the URL (`http://10.0.28.11:4004` → `10.0.28.11`). When two
    /// configured URLs share a host (several APIs on one machine), their series would collide, so
    /// those keep their port: `10.0.28.11:4004`, `10.0.28.11:4005`.
    public static func sourceHosts(for urls: [String]) -> [String] {
        let parsed = urls.map(hostAndPort)
        var counts: [String: Int] = [:]
        for (host, _) in parsed { counts[host, default: 0] += 1 }
        return parsed.map { host, port in
            (counts[host] ?? 0) > 1 && !port.isEmpty ? "\(host):\(port)" : host
        }
    }

    /// The host and port of a URL such as `http://10.0.28.11:4004/`.
    static func hostAndPort(_ url: String) -> (host: String, port: String) {
        var rest = Substring(url)
        if let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix("://") {
            rest = rest[rest.index(colon, offsetBy: 3)...]
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let hostPort = authority.split(separator: "@").last ?? authority
        if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
            let host = hostPort[hostPort.startIndex...close]
            let after = hostPort[hostPort.index(after: close)...]
            return (String(host), after.hasPrefix(":") ? String(after.dropFirst()) : "")
        }
        if let colon = hostPort.lastIndex(of: ":") {
            return (String(hostPort[..<colon]), String(hostPort[hostPort.index(after: colon)...]))
        }
        return (String(hostPort), "")
    }
}
