//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The HTTP server's settings.
///
/// TOML section `[http]`:
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `listen` | string | `"127.0.0.1:8080"` | address and port of the dashboard, API and `/metrics` (`[::1]:8080` for IPv6) |
/// | `token` | string | none | when set, API and WebSocket routes require `Authorization: Bearer <token>`; required when `listen` is beyond loopback, which also puts `/metrics` behind it |
/// | `idle_timeout` | duration | `"60s"` | an HTTP/1 connection with no request in flight for this long is closed (a WebSocket is kept alive by its pings instead); also on `rest_api_port` and the Visionaire exporter |
/// | `chartjs_path` | string | `"/usr/share/javascript/chart.js/chart.min.js"` | Chart.js file served at `/assets/chart.js` (Debian's libjs-chart.js; when the default is missing, `chart.umd.js` and `chart.js` in the same folder are tried) |
///
/// The iotmonitor `[http]` keys are accepted too: `address` and `port` (see CONFIGURATION.md).
public struct WebConfiguration: Sendable, Hashable {
    /// The host to bind.
    public var host: String
    /// The TCP port (0 picks a free one).
    public var port: Int
    /// An optional bearer token for the API.
    public var token: String?
    /// Where Chart.js is on disk.
    public var chartJSPath: String
    /// The live feed's rates and limits.
    public var live: LiveConfiguration
    /// How long an HTTP/1 connection may sit without a request before it is closed: idle
    /// keep-alive connections would otherwise hold a descriptor each for ever.
    public var idleTimeout: Duration

    /// The default ``chartJSPath``: Debian's libjs-chart.js.
    public static let defaultChartJSPath = "/usr/share/javascript/chart.js/chart.min.js"

    /// Creates a configuration with the defaults listed above.
    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        token: String? = nil,
        chartJSPath: String = WebConfiguration.defaultChartJSPath,
        live: LiveConfiguration = .init(),
        idleTimeout: Duration = .seconds(60)
    ) {
        self.host = host
        self.port = port
        self.token = token
        self.chartJSPath = chartJSPath
        self.live = live
        self.idleTimeout = idleTimeout
    }

    /// The files tried for `/assets/chart.js`, in order.
    var chartJSCandidates: [String] {
        guard chartJSPath == Self.defaultChartJSPath else { return [chartJSPath] }
        let folder = "/usr/share/javascript/chart.js/"
        return [chartJSPath, folder + "chart.umd.js", folder + "chart.js"]
    }

    /// Whether ``host`` is the loopback interface only; anything else needs a ``token``.
    public var isLoopback: Bool { Self.isLoopback(host: host) }

    /// Whether a listen host is the loopback interface: `localhost`, an address in 127.0.0.0/8 or
    /// `::1`. A wildcard (`0.0.0.0`, `::`), any other address and any other name are not.
    public static func isLoopback(host: String) -> Bool {
        let host = host.lowercased()
        if host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Parses `host:port`, `[v6]:port` or `:port` (all interfaces).
    ///
    /// - Returns: `nil` when the text has no valid port.
    public static func parseListen(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "0.0.0.0" }
        return (host, port)
    }
}
