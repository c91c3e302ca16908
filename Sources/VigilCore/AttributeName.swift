//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The names of target attributes that the sources set and the dashboard reads.
///
/// This is the one definition both sides share: the monitors key their ``Observation/attributes``
/// with these raw values, and the web module serves them to the dashboard's script as
/// `window.VIGIL_NAMES.attributes` (keyed by the case name, `lastSeen: "last_seen"`), so a renamed
/// attribute changes on both sides at once. A test checks that every name the script uses is a case
/// here. Attributes that only the API shows may stay string literals in their source.
public enum AttributeName: String, Sendable, Hashable, CaseIterable {
    // MARK: - Gateways

    /// Whether the gateway last said it is online (bool, or null when unknown).
    case online
    /// Sessions on the gateway (number).
    case sessions
    /// `primary`, `failover` or `discovered`.
    case role
    /// The failover state of a primary or the duty of a spare (object).
    case failover
    /// When the gateway was last heard from (seconds since the epoch).
    case lastSeen = "last_seen"
    /// Inside ``failover`` (whose ``state`` is `failed_over`, `distributed`, `pending`, `failed`,
    /// `serving` or `standby`): the spare, or the comma-joined servers, that took over.
    case failoverServer = "failover_server"
    /// Inside ``failover``: every server that took over (a list).
    case failoverServers = "failover_servers"
    /// Inside ``failover`` of a spare that is serving: the primary it stands in for.
    case failedServer = "failed_server"
    /// Inside ``failover`` of a spare on standby: its place in the pool, from 1.
    case poolPosition = "pool_position"
    /// Inside ``failover``: when the failover happened (seconds since the epoch).
    case since
    /// Inside ``failover`` of a pending primary: when it fails over.
    case deadline

    // MARK: - Devices and agents

    /// A device's watch state (`up`, `expired`, `waiting`, `unwatched`) or an agent's process state
    /// (`running`, `backoff`, …).
    case state
    /// When the device or agent last published (seconds since the epoch).
    case lastContact = "last_contact"
    /// Messages seen from the device since Vigil started.
    case helloCount = "hello_count"
    /// The device's watch timeout in seconds.
    case watchTimeout = "watch_timeout"
    /// The agent's process ID.
    case pid
    /// How often the agent was restarted.
    case restarts
    /// When the agent was last started (seconds since the epoch).
    case lastStart = "last_start"

    // MARK: - Streams

    /// Which poller reports the stream (`mediamtx`, `visionaire`).
    case source
    /// `instance` on a MediaMTX instance target.
    case type
    /// The MediaMTX version of an instance.
    case version
    /// Paths a MediaMTX instance serves.
    case paths
    /// Paths of a MediaMTX instance that are online.
    case pathsOnline = "paths_online"
    /// A MediaMTX path's source type (`srtConn`, `rtspSession`, …).
    case sourceType = "source_type"
    /// Readers of a MediaMTX path.
    case readers
    /// Inbound bytes per second of a MediaMTX path, averaged over 10 s.
    case inboundBytesPerSecond10s = "inbound_bytes_per_second_10s"
    /// The SRT publisher of a MediaMTX path (object with ``srtRTTMilliseconds`` among its fields).
    case srt
    /// The round-trip time field inside ``srt``, in milliseconds.
    case srtRTTMilliseconds = "ms_rtt"
    /// Median round-trip time of a path's SRT readers, in milliseconds.
    case rttP50Milliseconds = "rtt_p50_ms"
    /// The Visionaire host a camera belongs to.
    case sourceHost = "source_host"
    /// A Visionaire camera's display name.
    case streamName = "stream_name"
}

/// The names of samples that the sources record and the dashboard reads (latest values and charts).
///
/// Served to the dashboard as `window.VIGIL_NAMES.samples`, like ``AttributeName``. Names follow the
/// Prometheus convention of a unit suffix, which the dashboard uses to format chart axes.
public enum SampleName: String, Sendable, Hashable, CaseIterable {
    /// Gateway sessions.
    case sessions
    /// 1 while a configured gateway is online, else 0.
    case online
    /// When a device or a configured gateway was last heard from (seconds since the epoch).
    case lastSeenSeconds = "last_seen_seconds"
    /// Agent restarts.
    case restartsTotal = "restarts_total"
    /// 1 while a device or camera is up, else 0.
    case up
    /// MediaMTX path readers.
    case readers
    /// MediaMTX path traffic in.
    case inboundBytesPerSecond = "inbound_bytes_per_second"
    /// MediaMTX path traffic out.
    case outboundBytesPerSecond = "outbound_bytes_per_second"
    /// The SRT publisher's round-trip time.
    case srtRTTSeconds = "srt_rtt_seconds"
    /// Visionaire camera frame rate.
    case fps
    /// Host CPU use, 0 to 1.
    case cpuUsageRatio = "cpu_usage_ratio"
    /// Host memory use, 0 to 1.
    case memoryUsedRatio = "memory_used_ratio"
    /// Host one-minute load average.
    case load1
    /// Host network traffic in, one sample per interface (label `interface`).
    case networkReceiveBytesPerSecond = "network_receive_bytes_per_second"
    /// Host network traffic out, one sample per interface.
    case networkTransmitBytesPerSecond = "network_transmit_bytes_per_second"
}

extension Sample {
    /// Creates a sample whose name the dashboard knows (see ``SampleName``).
    public init(_ name: SampleName, _ value: Double, kind: Kind = .gauge, labels: [Label] = [], recordHistory: Bool = true) {
        self.init(name.rawValue, value, kind: kind, labels: labels, recordHistory: recordHistory)
    }
}
