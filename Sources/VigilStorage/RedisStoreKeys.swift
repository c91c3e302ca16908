//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import VigilCore

/// The Redis keys of `[store] backend = "redis"`.
///
/// MediaMTX data uses seed 003's names, so that tools reading them keep working; everything else
/// lives under ``prefix`` (`vigil:` by default). Every command touches one key, except the event
/// append, whose two keys share the hash tag `{events}`, and the lease scripts, whose keys share
/// the slot of the `state` hash: the layout works unchanged on a cluster.
///
/// | key | type | holds |
/// |---|---|---|
/// | `mediamtx:streams:latest` | hash | field `<instance>/<path>` (or `<instance>`) → latest state of a MediaMTX target (JSON) |
/// | `<prefix>latest:<kind>` | hash | field target name → latest state (JSON), for every other target |
/// | `mediamtx:history:<instance>/<path>/<metric>` | stream | history of a MediaMTX series; fields `time`, `value` |
/// | `<prefix>history:<series>` | stream | history of every other series |
/// | `<prefix>history:index` | sorted set | every series key (score 0, read by prefix with `ZRANGEBYLEX`) |
/// | `<prefix>{events}` | stream | the event log; fields `id`, `event` (JSON) |
/// | `<prefix>{events}:seq` | string | the last event id |
/// | `<prefix>state` | hash | the key/value rows (device states, failover state, outbox, alert book) |
/// | `<prefix>members:<instance id>` | string | an instance's heartbeat (JSON), with a TTL |
/// | `{<prefix>state}:lease:<work>` | string | the lease on once-only work: `<holder>/<token>`, with a TTL |
/// | `{<prefix>state}:fence:<work>` | string | the last fencing token granted for the work |
/// | `mediamtx:updates` | channel | MediaMTX state changes (JSON) |
/// | `<prefix>updates` | channel | every change of every instance (JSON, tagged with the instance id) |
public struct RedisStoreKeys: Sendable, Hashable {
    /// The prefix of every key but the seed-003 ones.
    public let prefix: String

    /// The hash of the latest MediaMTX states (seed 003).
    public static let mediaMTXLatest = "mediamtx:streams:latest"
    /// The prefix of MediaMTX history streams (seed 003).
    public static let mediaMTXHistoryPrefix = "mediamtx:history:"
    /// The channel of MediaMTX changes (seed 003).
    public static let mediaMTXUpdates = "mediamtx:updates"
    /// The target names of MediaMTX targets start with this.
    static let mediaMTXTargetPrefix = "mediamtx/"
    /// The series keys of MediaMTX targets start with this.
    static let mediaMTXSeriesPrefix = "stream/mediamtx/"

    /// Creates the layout.
    ///
    /// - Parameter prefix: The prefix of Vigil's own keys; see ``validate(prefix:)``.
    public init(prefix: String = "vigil:") {
        self.prefix = prefix
    }

    /// Why a prefix cannot be used, or `nil` when it can: 1 to 64 characters, no `{`, `}`
    /// (hash tags), no glob characters and no whitespace.
    public static func validate(prefix: String) -> String? {
        if prefix.isEmpty || prefix.count > 64 { return "must be 1 to 64 characters" }
        if prefix.contains(where: { "{}*?[]\\".contains($0) || $0.isWhitespace }) {
            return "must not contain braces, glob characters or whitespace"
        }
        if prefix.hasPrefix("mediamtx:") { return "must not start with 'mediamtx:' (seed 003's keys)" }
        return nil
    }

    /// The hash holding the latest state of a target and the field within it.
    public func latest(_ target: TargetID) -> (key: String, field: String) {
        if target.kind == .stream, target.name.hasPrefix(Self.mediaMTXTargetPrefix) {
            return (Self.mediaMTXLatest, String(target.name.dropFirst(Self.mediaMTXTargetPrefix.count)))
        }
        return (latestHash(target.kind), target.name)
    }

    /// The hash of the latest states of one kind (MediaMTX streams excepted).
    public func latestHash(_ kind: TargetKind) -> String { "\(prefix)latest:\(kind.rawValue)" }

    /// The target of a field of ``mediaMTXLatest``.
    static func mediaMTXTarget(field: String) -> TargetID { TargetID(.stream, mediaMTXTargetPrefix + field) }

    /// The stream holding a history series.
    public func history(_ series: String) -> String {
        if series.hasPrefix(Self.mediaMTXSeriesPrefix) {
            return Self.mediaMTXHistoryPrefix + series.dropFirst(Self.mediaMTXSeriesPrefix.count)
        }
        return "\(prefix)history:\(series)"
    }

    /// The sorted set of every series key.
    public var historyIndex: String { "\(prefix)history:index" }
    /// The event stream.
    public var events: String { "\(prefix){events}" }
    /// The last event id (same slot as ``events``).
    public var eventSequence: String { "\(prefix){events}:seq" }
    /// The hash of the key/value rows.
    public var state: String { "\(prefix)state" }
    /// The channel every instance publishes its changes on.
    public var updates: String { "\(prefix)updates" }
    /// The lease key of once-only work. Its hash tag is the name of the ``state`` hash, so that a
    /// fenced write checks the lease and writes the row in one slot of a cluster.
    public func lease(_ work: String) -> String { "{\(state)}:lease:\(work)" }
    /// The counter of the fencing tokens granted for a work (same slot as ``lease(_:)``).
    public func leaseFence(_ work: String) -> String { "{\(state)}:fence:\(work)" }
    /// The heartbeat key of an instance (`*` gives the pattern of all of them).
    public func member(_ id: String) -> String { "\(prefix)members:\(id)" }
}
