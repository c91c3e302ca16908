//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import VigilCore

/// What one live client wants to receive: some kinds, some targets, states and/or events.
///
/// An empty filter (the default) passes everything. Kinds and targets add up: a state passes when
/// its kind is listed *or* its target is listed (when neither list is given, every target passes).
/// Events without a target pass whenever events are wanted and no target or kind list is set.
///
/// In a query string: `?kind=device,stream&target=gateway/gxy1&events=false`. In a subscribe
/// message: `{"type":"subscribe","kinds":["device"],"targets":["gateway/gxy1"],"events":true,"states":true}`.
public struct LiveFilter: Sendable, Hashable {
    /// The kinds to pass, or `nil` for no restriction by kind.
    public var kinds: Set<TargetKind>?
    /// The targets to pass, or `nil` for no restriction by target.
    public var targets: Set<TargetID>?
    /// Whether state messages are wanted.
    public var states: Bool
    /// Whether event messages are wanted.
    public var events: Bool

    /// Creates a filter; the defaults pass everything.
    public init(kinds: Set<TargetKind>? = nil, targets: Set<TargetID>? = nil, states: Bool = true, events: Bool = true) {
        self.kinds = kinds
        self.targets = targets
        self.states = states
        self.events = events
    }

    /// Whether a target passes the kind and target lists.
    public func passes(_ target: TargetID) -> Bool {
        if kinds == nil && targets == nil { return true }
        return kinds?.contains(target.kind) == true || targets?.contains(target) == true
    }

    /// Whether an update passes the filter.
    public func passes(_ update: HubUpdate) -> Bool {
        switch update {
        case .state(let state):
            return states && passes(state.target)
        case .removed(let target):
            return states && passes(target)
        case .event(let event):
            guard events else { return false }
            guard let target = event.target else { return kinds == nil && targets == nil }
            return passes(target)
        }
    }

    /// A problem with a filter given by a client.
    public struct ParseError: Error, Hashable, CustomStringConvertible {
        /// What is wrong, for people.
        public var description: String
    }

    /// Parses a filter from query parameters `kind`, `target`, `states` and `events`.
    ///
    /// Lists are comma-separated and may also be repeated (`kind=device&kind=agent`). Kinds may be
    /// singular or plural (`device` or `devices`). Targets are `kind/name`.
    ///
    /// - Throws: ``ParseError`` naming the bad value.
    public static func parse(query: [(name: String, value: String)]) throws(ParseError) -> LiveFilter {
        var filter = LiveFilter()
        for (name, value) in query {
            switch name {
            case "kind", "kinds":
                for item in value.split(separator: ",") where !item.isEmpty {
                    filter.kinds = (filter.kinds ?? []).union([try parseKind(String(item))])
                }
            case "target", "targets":
                for item in value.split(separator: ",") where !item.isEmpty {
                    filter.targets = (filter.targets ?? []).union([try parseTarget(String(item))])
                }
            case "states":
                filter.states = try parseBool(name, value)
            case "events":
                filter.events = try parseBool(name, value)
            default:
                continue
            }
        }
        return filter
    }

    /// Parses a kind, singular or plural (`device`, `devices`).
    public static func parseKind(_ text: String) throws(ParseError) -> TargetKind {
        if let kind = TargetKind(rawValue: text) { return kind }
        if text.hasSuffix("s"), let kind = TargetKind(rawValue: String(text.dropLast())) { return kind }
        throw ParseError(description: "unknown kind '\(text)' (expected one of \(TargetKind.allCases.map(\.rawValue).joined(separator: ", ")))")
    }

    /// Parses a target written `kind/name` (the name may contain further slashes).
    public static func parseTarget(_ text: String) throws(ParseError) -> TargetID {
        guard let slash = text.firstIndex(of: "/"), slash != text.startIndex, text.index(after: slash) != text.endIndex else {
            throw ParseError(description: "target '\(text)' must be written kind/name")
        }
        return TargetID(try parseKind(String(text[..<slash])), String(text[text.index(after: slash)...]))
    }

    private static func parseBool(_ name: String, _ value: String) throws(ParseError) -> Bool {
        switch value.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ParseError(description: "'\(name)' must be true or false, got '\(value)'")
        }
    }
}
