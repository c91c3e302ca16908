//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import VigilCore

/// One watched device or agent, as declared by an iotmonitor `[device_NAME]` or `[agent_NAME]`
/// section.
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `watchTimeOut` | integer seconds (or a duration string) | 30 | silence after which the device expires |
/// | `helloTopic` | string | none | exact topic whose messages count hellos and trigger state recovery |
/// | `watchTopics` | string list (comma-separated or array) | none | filters whose messages prove the device alive |
/// | `stateTopics` | string list | none | filters whose last payloads are stored and republished |
public struct DeviceDefinition: Sendable, Hashable {
    /// The name from the section header (`esp04` for `[device_esp04]`).
    public var name: String
    /// ``TargetKind/device`` or ``TargetKind/agent``.
    public var kind: TargetKind
    /// The silence, in seconds, after which the device expires.
    public var watchTimeout: Double
    /// The topic whose messages are hellos (a restart of the device), if any.
    public var helloTopic: String?
    /// Topic filters whose messages prove the device alive. Without any, the device never expires.
    public var watchTopics: [String]
    /// Topic filters whose latest payloads are stored and republished at start and on hello.
    public var stateTopics: [String]

    /// Creates a definition.
    ///
    /// - Parameters:
    ///   - name: The device name.
    ///   - kind: `.device` or `.agent`.
    ///   - watchTimeout: The timeout in seconds (default 30, as iotmonitor).
    ///   - helloTopic: The hello topic.
    ///   - watchTopics: The watch filters.
    ///   - stateTopics: The state filters.
    public init(
        name: String,
        kind: TargetKind = .device,
        watchTimeout: Double = 30,
        helloTopic: String? = nil,
        watchTopics: [String] = [],
        stateTopics: [String] = []
    ) {
        self.name = name
        self.kind = kind
        self.watchTimeout = watchTimeout
        self.helloTopic = helloTopic
        self.watchTopics = watchTopics
        self.stateTopics = stateTopics
    }

    /// The hub target of this device.
    public var target: TargetID { TargetID(kind, name) }
}
