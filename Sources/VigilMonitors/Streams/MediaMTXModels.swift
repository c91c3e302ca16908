//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// One page of a MediaMTX v3 list endpoint: `{"pageCount": n, "itemCount": n, "items": […]}`.
public struct MediaMTXPage<Item: Decodable & Sendable>: Decodable, Sendable {
    /// `pageCount`.
    public var pageCount: Int
    /// `itemCount`.
    public var itemCount: Int
    /// `items`.
    public var items: [Item]

    private enum CodingKeys: String, CodingKey { case pageCount, itemCount, items }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        items = try container.decodeIfPresent([Item].self, forKey: .items) ?? []
        pageCount = (try? container.decodeIfPresent(Int.self, forKey: .pageCount)) ?? 1
        itemCount = (try? container.decodeIfPresent(Int.self, forKey: .itemCount)) ?? items.count
    }
}

/// A MediaMTX path from `GET /v3/paths/list`, decoded from either field generation.
///
/// | meaning | MediaMTX ≤ 1.15 | later versions |
/// |---|---|---|
/// | has a publisher | `ready`, `readyTime` | `online`, `onlineTime` (and `available`) |
/// | tracks | `tracks` (codec names) | `tracks2` (`[{codec, codecProps}]`) |
/// | byte counters | `bytesReceived`, `bytesSent` | `inboundBytes`, `outboundBytes` |
/// | decode errors | – | `inboundFramesInError` |
///
/// Later versions still send the old names (deprecated); the new ones win when both are present.
public struct MediaMTXPath: Decodable, Sendable, Hashable {
    /// Which field set a reply used.
    public enum Generation: String, Sendable, Hashable {
        /// `ready`/`bytesReceived` only (MediaMTX ≤ 1.15).
        case legacy
        /// `online`/`inboundBytes` present.
        case current
    }

    /// `name`.
    public var name: String
    /// `confName`.
    public var confName: String?
    /// `source.type` (`rtspSession`, `srtConn`, `rtmpConn`, `webRTCSession`, …), `nil` without a source.
    public var sourceType: String?
    /// `source.id`.
    public var sourceID: String?
    /// `online`, or `ready` in older versions.
    public var online: Bool
    /// `onlineTime`, or `readyTime`: when the current publisher started (its counters start there).
    public var onlineTime: String?
    /// `available` (later versions only).
    public var available: Bool?
    /// `readers[].type`.
    public var readerTypes: [String]
    /// Codec names, from `tracks2[].codec` or `tracks`.
    public var tracks: [String]
    /// `inboundBytes`, or `bytesReceived`.
    public var inboundBytes: Double?
    /// `outboundBytes`, or `bytesSent`.
    public var outboundBytes: Double?
    /// `inboundFramesInError` (later versions only).
    public var inboundFramesInError: Double?
    /// The field set this reply used.
    public var generation: Generation

    /// The number of readers.
    public var readerCount: Int { readerTypes.count }

    private enum CodingKeys: String, CodingKey {
        case name, confName, source, readers, online, onlineTime, ready, readyTime, available
        case tracks, tracks2, inboundBytes, outboundBytes, bytesReceived, bytesSent, inboundFramesInError
    }

    private struct Reference: Decodable {
        var type: String?
        var id: String?
    }

    private struct Track: Decodable {
        var codec: String?
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        confName = try? container.decodeIfPresent(String.self, forKey: .confName)
        let source = try? container.decodeIfPresent(Reference.self, forKey: .source)
        sourceType = source?.type
        sourceID = source?.id
        readerTypes = ((try? container.decodeIfPresent([Reference].self, forKey: .readers)) ?? []).map { $0.type ?? "unknown" }
        let newOnline = try? container.decodeIfPresent(Bool.self, forKey: .online)
        let newInbound = Self.number(container, .inboundBytes)
        generation = newOnline != nil || newInbound != nil ? .current : .legacy
        online = newOnline ?? (try? container.decodeIfPresent(Bool.self, forKey: .ready)) ?? false
        onlineTime =
            (try? container.decodeIfPresent(String.self, forKey: .onlineTime)) ?? (try? container.decodeIfPresent(String.self, forKey: .readyTime))
        available = try? container.decodeIfPresent(Bool.self, forKey: .available)
        if let tracks2 = try? container.decodeIfPresent([Track].self, forKey: .tracks2) {
            tracks = tracks2.map { $0.codec ?? "unknown" }
        } else {
            tracks = (try? container.decodeIfPresent([String].self, forKey: .tracks)) ?? []
        }
        inboundBytes = newInbound ?? Self.number(container, .bytesReceived)
        outboundBytes = Self.number(container, .outboundBytes) ?? Self.number(container, .bytesSent)
        inboundFramesInError = Self.number(container, .inboundFramesInError)
    }

    private static func number(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) -> Double? {
        (try? container.decodeIfPresent(Double.self, forKey: key)) ?? nil
    }
}

/// An SRT connection from `GET /v3/srtconns/list`.
///
/// `state` is `idle`, `read` or `publish`; the rates and RTT are what libsrt reports.
public struct MediaMTXSRTConnection: Decodable, Sendable, Hashable {
    /// `id`.
    public var id: String
    /// `created`.
    public var created: String?
    /// `remoteAddr`.
    public var remoteAddress: String?
    /// `state`.
    public var state: String
    /// `path`.
    public var path: String
    /// `msRTT`.
    public var rttMilliseconds: Double?
    /// `mbpsReceiveRate`.
    public var receiveRateMbps: Double?
    /// `mbpsSendRate`.
    public var sendRateMbps: Double?
    /// `mbpsLinkCapacity`.
    public var linkCapacityMbps: Double?
    /// `packetsReceivedLossRate`.
    public var receiveLossRate: Double?
    /// `packetsSendLossRate`.
    public var sendLossRate: Double?
    /// `bytesReceived`.
    public var bytesReceived: Double?
    /// `bytesSent`.
    public var bytesSent: Double?

    private enum CodingKeys: String, CodingKey {
        case id, created, remoteAddr, state, path, msRTT, mbpsReceiveRate, mbpsSendRate, mbpsLinkCapacity
        case packetsReceivedLossRate, packetsSendLossRate, bytesReceived, bytesSent
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func number(_ key: CodingKeys) -> Double? { (try? container.decodeIfPresent(Double.self, forKey: key)) ?? nil }
        id = try container.decode(String.self, forKey: .id)
        created = try? container.decodeIfPresent(String.self, forKey: .created)
        remoteAddress = try? container.decodeIfPresent(String.self, forKey: .remoteAddr)
        state = (try? container.decodeIfPresent(String.self, forKey: .state)) ?? "idle"
        path = (try? container.decodeIfPresent(String.self, forKey: .path)) ?? ""
        rttMilliseconds = number(.msRTT)
        receiveRateMbps = number(.mbpsReceiveRate)
        sendRateMbps = number(.mbpsSendRate)
        linkCapacityMbps = number(.mbpsLinkCapacity)
        receiveLossRate = number(.packetsReceivedLossRate)
        sendLossRate = number(.packetsSendLossRate)
        bytesReceived = number(.bytesReceived)
        bytesSent = number(.bytesSent)
    }
}

/// `GET /v3/info`: `{"version": "v1.9.0", "started": "2024-…"}`.
public struct MediaMTXInfo: Decodable, Sendable, Hashable {
    /// `version`.
    public var version: String?
    /// `started`: changes when MediaMTX restarts (and its counters start from zero).
    public var started: String?
}
