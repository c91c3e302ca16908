//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import VigilCore
import VigilMonitors

extension VisionaireConfiguration {
    /// Reads `[visionaire]`; see ``VisionaireConfiguration`` for the keys.
    init(_ section: ConfigSection) throws {
        self.init()
        if let urls = try section.stringList("api_base_urls") {
            for url in urls where !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
                throw section.error("api_base_urls", "'\(Redaction.urls(in: url))' is not an http:// or https:// URL")
            }
            self.apiBaseURLs = urls
        }
        if let interval = try section.duration("update_interval") {
            guard interval >= .milliseconds(100) else { throw section.error("update_interval", "must be at least 100ms") }
            self.updateInterval = interval
        }
        if let timeout = try section.duration("request_timeout") {
            guard timeout > .zero else { throw section.error("request_timeout", "must be greater than zero") }
            self.requestTimeout = timeout
        }
        if let port = try section.integer("exporter_port", in: 0...65535) { self.exporterPort = port }
        if let host = try section.nonEmptyString("exporter_host") { self.exporterHost = host }
        if let limit = try section.integer("max_concurrent_requests", in: 1...4096) { self.maxConcurrentRequests = limit }
        if let limit = try section.integer("max_requests_per_host", in: 1...1024) { self.maxRequestsPerHost = limit }
    }
}

extension MediaMTXConfiguration {
    /// Reads `[mediamtx]` and its `[[mediamtx.instances]]`; see ``MediaMTXConfiguration``.
    init(_ section: ConfigSection) throws {
        self.init()
        if let interval = try section.duration("interval") {
            guard interval >= .milliseconds(100) else { throw section.error("interval", "must be at least 100ms") }
            self.interval = interval
        }
        if let timeout = try section.duration("request_timeout") {
            guard timeout > .zero else { throw section.error("request_timeout", "must be greater than zero") }
            self.requestTimeout = timeout
        }
        if let size = try section.integer("items_per_page", in: 1...10_000) { self.itemsPerPage = size }
        if let limit = try section.integer("max_srt_series", in: 0...100_000) { self.maxSRTSeries = limit }
        var names: Set<String> = []
        for entry in try section.tables("instances") {
            guard let name = try entry.nonEmptyString("name") else { throw entry.error("name", "is required") }
            guard let url = try entry.nonEmptyString("url") else { throw entry.error("url", "is required") }
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw entry.error("url", "'\(Redaction.urls(in: url))' is not an http:// or https:// URL")
            }
            guard names.insert(name).inserted else { throw entry.error("name", "'\(name)' is used by another instance") }
            let user = try entry.nonEmptyString("user")
            let password = try entry.string("password")
            for key in entry.unusedKeys { throw entry.error(key, "unknown key (expected name, url, user, password)") }
            instances.append(Instance(name: name, url: url, user: user, password: password))
        }
    }
}
