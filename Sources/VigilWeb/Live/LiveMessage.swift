//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Hummingbird
import VigilCore

/// The JSON messages of the live feed, server to client. Every message has a `type`.
///
/// ```
/// {"type":"snapshot","time":…,"version":"…","states":[TargetState…],"events":[Event…],"last_event_id":42}
/// {"type":"state","state":{TargetState}}
/// {"type":"event","event":{Event}}
/// {"type":"removed","target":{"kind":…,"name":…}}   (a target no longer watched)
/// {"type":"heartbeat","time":…}
/// {"type":"subscribed","filter":{…}}          (reply to a subscribe message, then a new snapshot)
/// {"type":"error","error":"…"}                (reply to a message the server did not understand)
/// ```
enum LiveMessage {
    struct Snapshot: Encodable {
        let type = "snapshot"
        var time: Double
        var version: String
        var states: [TargetState]
        var events: [Event]
        var lastEventID: Int64

        enum CodingKeys: String, CodingKey {
            case type, time, version, states, events
            case lastEventID = "last_event_id"
        }
    }

    struct Heartbeat: Encodable {
        let type = "heartbeat"
        var time: Double
    }

    struct Subscribed: Encodable {
        let type = "subscribed"
        var filter: FilterDescription
    }

    struct Failure: Encodable {
        let type = "error"
        var error: String
    }

    /// A filter as JSON: lists are `null` when unrestricted.
    struct FilterDescription: Codable {
        var kinds: [String]?
        var targets: [String]?
        var states: Bool?
        var events: Bool?

        init(_ filter: LiveFilter) {
            kinds = filter.kinds.map { $0.map(\.rawValue).sorted() }
            targets = filter.targets.map { $0.map(\.description).sorted() }
            states = filter.states
            events = filter.events
        }
    }

    /// A message a client sends: `{"type":"subscribe","kinds":[…],"targets":[…],"states":true,"events":true}`
    /// or `{"type":"ping"}` (answered by a heartbeat).
    struct ClientMessage: Decodable {
        var type: String
        var kinds: [String]?
        var targets: [String]?
        var states: Bool?
        var events: Bool?

        func filter() throws(LiveFilter.ParseError) -> LiveFilter {
            var filter = LiveFilter(states: states ?? true, events: events ?? true)
            if let kinds {
                var set: Set<TargetKind> = []
                for kind in kinds { set.insert(try LiveFilter.parseKind(kind)) }
                filter.kinds = set
            }
            if let targets {
                var set: Set<TargetID> = []
                for target in targets { set.insert(try LiveFilter.parseTarget(target)) }
                filter.targets = set
            }
            return filter
        }
    }

    /// Encodes a message as JSON bytes. Non-finite numbers become the strings `NaN`/`Infinity`.
    static func encode(_ value: some Encodable) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        do {
            return ByteBuffer(bytes: try encoder.encode(value))
        } catch {
            return ByteBuffer(string: #"{"type":"error","error":"could not encode message"}"#)
        }
    }

    /// Encodes a hub update with `type` as its first key, so a client can tell the kind of a
    /// message from its first bytes: `{"type":"state","state":{…}}` or `{"type":"event","event":{…}}`.
    static func encode(_ update: HubUpdate) -> ByteBuffer {
        var buffer: ByteBuffer
        switch update {
        case .state(let state):
            buffer = ByteBuffer(string: #"{"type":"state","state":"#)
            var body = encode(state)
            buffer.writeBuffer(&body)
        case .event(let event):
            buffer = ByteBuffer(string: #"{"type":"event","event":"#)
            var body = encode(event)
            buffer.writeBuffer(&body)
        case .removed(let target):
            buffer = ByteBuffer(string: #"{"type":"removed","target":"#)
            var body = encode(target)
            buffer.writeBuffer(&body)
        }
        buffer.writeString("}")
        return buffer
    }
}
