//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Settings of `vigil agent`: the command line (`--push URL [--token T] [--name HOST]
/// [--interval 5s]`) or the `[agent]` section of a configuration file (docs/CONFIGURATION.md).
public struct HostAgentConfiguration: Sendable, Hashable {
    /// Where samples go.
    public enum Destination: Sendable, Hashable {
        /// An MQTT broker URL (`mqtt://`, `mqtts://`, `tcp://`, `ssl://`; `user:password@` allowed).
        case mqtt(String)
        /// The central's ingest URL: `http(s)://host:port` (the route `/api/v1/ingest/host` is added
        /// when the URL has no path).
        case http(String)

        /// Parses a push URL.
        public init?(url: String) {
            let lower = url.lowercased()
            if ["mqtt://", "mqtts://", "tcp://", "ssl://"].contains(where: lower.hasPrefix) {
                self = .mqtt(url)
            } else if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
                let schemeEnd = url.firstRange(of: "://")!.upperBound
                let hasPath = url[schemeEnd...].contains("/") && !url.hasSuffix("/")
                self = .http(hasPath ? url : (url.hasSuffix("/") ? String(url.dropLast()) : url) + "/api/v1/ingest/host")
            } else {
                return nil
            }
        }
    }

    /// Where samples go.
    public var destination: Destination
    /// The bearer token for HTTP (MQTT credentials go in the URL).
    public var token: String?
    /// The host name reported (target `host/<name>` on the central).
    public var name: String
    /// Time between samples.
    public var interval: Duration
    /// Samples kept while the central cannot be reached; the oldest are dropped beyond this.
    public var bufferLimit: Int
    /// Samples sent in one report at most.
    public var batchLimit: Int
    /// The MQTT topic prefix (`<prefix>/<name>/metrics`, `<prefix>/<name>/status`).
    public var topicPrefix: String
    /// How long one send may take.
    public var sendTimeout: Duration
    /// What is sampled.
    public var sampler: HostSampler.Settings

    /// Creates a configuration; defaults: 5 s interval, a buffer of 720 samples (an hour at 5 s),
    /// 60 samples per report, prefix `vigil/agents`, 10 s send timeout, `/` and every interface but `lo`.
    public init(
        destination: Destination,
        token: String? = nil,
        name: String = HostMonitorConfiguration.systemHostName(),
        interval: Duration = .seconds(5),
        bufferLimit: Int = 720,
        batchLimit: Int = 60,
        topicPrefix: String = "vigil/agents",
        sendTimeout: Duration = .seconds(10),
        sampler: HostSampler.Settings = .init()
    ) {
        self.destination = destination
        self.token = token
        self.name = name
        self.interval = interval
        self.bufferLimit = bufferLimit
        self.batchLimit = batchLimit
        self.topicPrefix = topicPrefix
        self.sendTimeout = sendTimeout
        self.sampler = sampler
    }
}
