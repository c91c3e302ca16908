//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Settings of the MediaMTX poller (seed 003).
///
/// TOML section `[mediamtx]` with `[[mediamtx.instances]]` entries (see `docs/CONFIGURATION.md`):
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `interval` | duration | `"2s"` | time from one poll of an instance to the next |
/// | `request_timeout` | duration | `"5s"` | deadline of each HTTP request |
/// | `items_per_page` | integer | `100` | page size for `/v3/paths/list` and `/v3/srtconns/list` |
/// | `max_srt_series` | integer | `100` | SRT connections per instance exported with their own series |
/// | `instances[].name` | string | required | the instance's name (label `instance`, target names) |
/// | `instances[].url` | string | required | the API base URL, such as `http://127.0.0.1:9997` |
/// | `instances[].user`, `.password` | string | none | HTTP basic authentication for the API |
public struct MediaMTXConfiguration: Sendable, Hashable {
    /// One MediaMTX server.
    public struct Instance: Sendable, Hashable {
        /// The instance's name.
        public var name: String
        /// The API base URL.
        public var url: String
        /// The API user.
        public var user: String?
        /// The API password.
        public var password: String?

        /// Creates an instance.
        public init(name: String, url: String, user: String? = nil, password: String? = nil) {
            self.name = name
            self.url = url
            self.user = user
            self.password = password
        }
    }

    /// The servers to poll.
    public var instances: [Instance]
    /// Time from one poll of an instance to the next.
    public var interval: Duration
    /// Deadline of each request.
    public var requestTimeout: Duration
    /// Page size of the list requests.
    public var itemsPerPage: Int
    /// SRT connections per instance exported with their own series; the rest are only counted.
    public var maxSRTSeries: Int

    /// Creates a configuration with the defaults listed above.
    public init(
        instances: [Instance] = [],
        interval: Duration = .seconds(2),
        requestTimeout: Duration = .seconds(5),
        itemsPerPage: Int = 100,
        maxSRTSeries: Int = 100
    ) {
        self.instances = instances
        self.interval = interval
        self.requestTimeout = requestTimeout
        self.itemsPerPage = itemsPerPage
        self.maxSRTSeries = maxSRTSeries
    }

    /// Whether any instance is configured.
    public var enabled: Bool { !instances.isEmpty }
}
