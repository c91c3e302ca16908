//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import VigilAnnouncer
import VigilMonitors
import VigilWeb

extension VigilConfiguration {
    /// Where the Announcer's own listener binds, or `nil` when `/v1/announce/*` is served by the
    /// main `[http]` listener: no `rest_api_port`, or one on the same port (port 0, "any free
    /// port", is never shared).
    static func announcerOwnListener(_ announcer: AnnouncerConfiguration, http: WebConfiguration) -> (host: String, port: Int)? {
        guard let listen = announcer.restAPIListen, let (host, port) = WebConfiguration.parseListen(listen) else { return nil }
        if port == http.port && port != 0 { return nil }
        return (host, port)
    }

    /// Settles who listens where, then refuses a listener beyond loopback without a token.
    ///
    /// - A `rest_api_port` on the port of `[http] listen` shares that listener. When the two
    ///   addresses differ, the shared listener binds the wider one (`::` over `0.0.0.0` over one
    ///   address; the seed's `":8080"` next to the default `127.0.0.1:8080` gives `0.0.0.0:8080`)
    ///   and a warning says so; two different single addresses on one port are an error.
    /// - A listener that is not loopback-only (the main one, `rest_api_port`, the Visionaire
    ///   exporter, gxydb-api's metrics port) needs `[http] token` (`VIGIL_HTTP_TOKEN`): without it anybody who reaches the port
    ///   could send messages to users, read the API or list the cameras.
    mutating func resolveListeners(file: String) throws {
        if let announcer, let listen = announcer.restAPIListen, let (host, port) = WebConfiguration.parseListen(listen),
            port == http.port, port != 0, host != http.host
        {
            guard let wider = Self.widerHost(host, http.host) else {
                throw ConfigurationError(
                    file: file,
                    key: "rest_api_port",
                    message: "shares port \(port) with [http] listen but on another address (\(host) and \(http.host)); "
                        + "give both the same address, or rest_api_port another port"
                )
            }
            if wider != http.host {
                warnings.append(
                    "\(file): rest_api_port \"\(listen)\" and [http] listen share port \(port): one listener on "
                        + "\(Self.display(wider, port)) (the wider address) serves the dashboard, the API and /v1/announce/*"
                )
                http.host = wider
            }
        }
        guard http.token == nil else { return }
        var exposed: [String] = []
        if !http.isLoopback { exposed.append("[http] listen (\(Self.display(http.host, http.port)))") }
        if let announcer, let own = Self.announcerOwnListener(announcer, http: http), !WebConfiguration.isLoopback(host: own.host) {
            exposed.append("rest_api_port (\(Self.display(own.host, own.port)))")
        }
        if visionaire.enabled, visionaire.exporterPort > 0, !WebConfiguration.isLoopback(host: visionaire.exporterHost) {
            exposed.append("[visionaire] exporter_host (\(Self.display(visionaire.exporterHost, visionaire.exporterPort)))")
        }
        if let listen = janus.gxydbMetricsListen, let (host, port) = WebConfiguration.parseListen(listen), !WebConfiguration.isLoopback(host: host) {
            exposed.append("[janus] gxydb_metrics_listen (\(Self.display(host, port)))")
        }
        guard !exposed.isEmpty else { return }
        throw ConfigurationError(
            file: file,
            key: "http.token",
            message: "\(exposed.joined(separator: " and ")) listens beyond loopback, which needs a token: set [http] token "
                + "or the environment variable VIGIL_HTTP_TOKEN (clients then send 'Authorization: Bearer <token>'), "
                + "or listen on 127.0.0.1"
        )
    }

    /// The wider of two bind addresses on one port, or `nil` when neither contains the other.
    private static func widerHost(_ a: String, _ b: String) -> String? {
        func rank(_ host: String) -> Int {
            switch host {
            case "::", "0:0:0:0:0:0:0:0": 2  // every IPv6 and (dual-stack) IPv4 address
            case "0.0.0.0": 1
            default: 0
            }
        }
        if rank(a) == rank(b) { return a == b ? a : nil }
        return rank(a) > rank(b) ? a : b
    }

    private static func display(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
