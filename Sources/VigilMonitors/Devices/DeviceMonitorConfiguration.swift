//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The settings of the device watchdog (iotmonitor's `[mqtt] baseTopic`, its `[device_*]` and
/// `[agent_*]` sections, and Vigil's additions in `[watchdog]`).
///
/// TOML section `[watchdog]` (all optional):
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `expire_subtopic` | string | `"expire"` | `[baseTopic]/<this>/[device]`; iotmonitor's code used `expired` |
/// | `expire_retain` | bool | `true` | publish expiry messages retained (recovery clears them) |
/// | `expire_repeat` | duration | `"0s"` | republish expiry of still-expired devices this often (`"1s"` = iotmonitor); 0 = once |
/// | `report_interval` | duration | `"2s"` | how often last-contact times and hello counts reach the API and metrics |
/// | `up_interval` | duration | `"1s"` | how often `[baseTopic]/up` is published |
/// | `state_max_topics` | integer | 256 | distinct state topics kept per device; the least recently written is evicted |
/// | `state_max_bytes` | integer | 1048576 | bytes (topics + payloads) of states kept per device; oldest evicted |
/// | `state_max_payload` | integer | 65536 | largest state payload stored; larger ones are refused |
/// | `max_series_devices` | integer | 10000 | devices (and, separately, agents) with their own metric series; the rest are counted in `vigil_targets{kind,status}` |
public struct DeviceMonitorConfiguration: Sendable, Hashable {
    /// The root of every publication (`home/monitoring`).
    public var baseTopic: String
    /// The devices and agents to watch.
    public var definitions: [DeviceDefinition]
    /// The subtopic of expiry messages.
    public var expireSubtopic: String
    /// Whether expiry messages are retained.
    public var expireRetain: Bool
    /// How often still-expired devices are announced again; zero announces once.
    public var expireRepeat: Duration
    /// How often contact times and hello counts are handed to the hub.
    public var reportInterval: Duration
    /// How often `[baseTopic]/up` is published.
    public var upInterval: Duration
    /// The caps on each device's stored states.
    public var stateLimits: DeviceStateLimits
    /// How many devices, and how many agents, get per-target metric series (see
    /// ``HubConfiguration/seriesTargetLimits``): a large fleet would otherwise put three series per
    /// device into every scrape.
    public var maxSeriesTargets: Int

    /// Creates a configuration with the defaults listed above.
    public init(
        baseTopic: String = "home/monitoring",
        definitions: [DeviceDefinition] = [],
        expireSubtopic: String = "expire",
        expireRetain: Bool = true,
        expireRepeat: Duration = .zero,
        reportInterval: Duration = .seconds(2),
        upInterval: Duration = .seconds(1),
        stateLimits: DeviceStateLimits = .init(),
        maxSeriesTargets: Int = 10_000
    ) {
        self.baseTopic = baseTopic
        self.definitions = definitions
        self.expireSubtopic = expireSubtopic
        self.expireRetain = expireRetain
        self.expireRepeat = expireRepeat
        self.reportInterval = reportInterval
        self.upInterval = upInterval
        self.stateLimits = stateLimits
        self.maxSeriesTargets = maxSeriesTargets
    }

    /// `[baseTopic]/[expireSubtopic]/[name]`.
    public func expireTopic(_ name: String) -> String { "\(baseTopic)/\(expireSubtopic)/\(name)" }
    /// `[baseTopic]/helloTopicCount/[name]`.
    public func helloCountTopic(_ name: String) -> String { "\(baseTopic)/helloTopicCount/\(name)" }
    /// `[baseTopic]/up`.
    public var upTopic: String { "\(baseTopic)/up" }
    /// `[baseTopic]/startedprocess/[name]`.
    public func startedProcessTopic(_ name: String) -> String { "\(baseTopic)/startedprocess/\(name)" }
}
