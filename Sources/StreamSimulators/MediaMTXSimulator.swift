//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Synchronization

/// A MediaMTX control API (v3, port 9997) written from its public API definition:
///
/// - `GET /v3/paths/list`, `GET /v3/srtconns/list` with `?page` (from 0) and `&itemsPerPage`
///   (default 100; 0 or a non-number is a 400), replying `{"pageCount","itemCount","items"}`;
/// - `GET /v3/info` → `{"version","started"}` (not in ``Generation/legacy``);
/// - errors `{"status":"error","error":"…"}`; 401 when credentials are set and missing or wrong.
///
/// Paths are written in the field set of the chosen ``Generation``.
public final class MediaMTXSimulator: Sendable {
    /// Which field names the simulated server writes.
    public enum Generation: Sendable, Hashable {
        /// MediaMTX ≤ 1.15: `ready`, `readyTime`, `tracks`, `bytesReceived`, `bytesSent`.
        case legacy
        /// Later versions: the new fields plus the deprecated ones.
        case current
        /// Only the new fields (as a future version without the deprecated ones).
        case newOnly
    }

    /// One path.
    public struct Path: Sendable, Hashable {
        /// `name` (and `confName`).
        public var name: String
        /// `source.type`, `nil` for no source.
        public var sourceType: String?
        /// Whether a publisher is there.
        public var online: Bool
        /// `onlineTime`/`readyTime`.
        public var onlineTime: String
        /// Reader types.
        public var readers: [String]
        /// Codec names.
        public var tracks: [String]
        /// Inbound byte counter.
        public var inboundBytes: UInt64
        /// Outbound byte counter.
        public var outboundBytes: UInt64
        /// `inboundFramesInError`.
        public var framesInError: UInt64

        /// Creates a path.
        public init(
            name: String,
            sourceType: String? = "srtConn",
            online: Bool = true,
            onlineTime: String = "2025-01-01T10:00:00Z",
            readers: [String] = [],
            tracks: [String] = ["H264", "MPEG-4 Audio"],
            inboundBytes: UInt64 = 0,
            outboundBytes: UInt64 = 0,
            framesInError: UInt64 = 0
        ) {
            self.name = name
            self.sourceType = sourceType
            self.online = online
            self.onlineTime = onlineTime
            self.readers = readers
            self.tracks = tracks
            self.inboundBytes = inboundBytes
            self.outboundBytes = outboundBytes
            self.framesInError = framesInError
        }
    }

    /// One SRT connection.
    public struct SRTConnection: Sendable, Hashable {
        /// `id`.
        public var id: String
        /// `state`: idle, read or publish.
        public var state: String
        /// `path`.
        public var path: String
        /// `msRTT`.
        public var msRTT: Double
        /// `mbpsReceiveRate`.
        public var mbpsReceiveRate: Double
        /// `mbpsSendRate`.
        public var mbpsSendRate: Double
        /// `mbpsLinkCapacity`.
        public var mbpsLinkCapacity: Double
        /// `packetsReceivedLossRate`.
        public var packetsReceivedLossRate: Double

        /// Creates a connection.
        public init(
            id: String,
            state: String = "publish",
            path: String,
            msRTT: Double = 12.5,
            mbpsReceiveRate: Double = 4.2,
            mbpsSendRate: Double = 0,
            mbpsLinkCapacity: Double = 95.3,
            packetsReceivedLossRate: Double = 0
        ) {
            self.id = id
            self.state = state
            self.path = path
            self.msRTT = msRTT
            self.mbpsReceiveRate = mbpsReceiveRate
            self.mbpsSendRate = mbpsSendRate
            self.mbpsLinkCapacity = mbpsLinkCapacity
            self.packetsReceivedLossRate = packetsReceivedLossRate
        }
    }

    /// The simulator's mutable state.
    public struct State: Sendable {
        /// Field set.
        public var generation: Generation
        /// Paths in list order.
        public var paths: [Path]
        /// SRT connections.
        public var srtConnections: [SRTConnection] = []
        /// Whether `/v3/srtconns/list` answers (false: 404, as with SRT switched off).
        public var srtEnabled = true
        /// `/v3/info` `version`.
        public var version = "v1.9.0"
        /// `/v3/info` `started`.
        public var started = "2025-01-01T09:00:00Z"
        /// Required basic-auth credentials.
        public var credentials: (user: String, password: String)?
        /// A status to answer every request with instead (for example 500).
        public var failWith: Int?
        /// Added to every answer.
        public var latency: Duration = .zero
        /// `itemsPerPage` values seen, in order.
        public var pageRequests: [String] = []
    }

    private let state: Mutex<State>

    /// Creates a simulator.
    public init(generation: Generation = .current, paths: [Path] = []) {
        self.state = Mutex(State(generation: generation, paths: paths))
    }

    /// Changes the state.
    public func update(_ body: (inout State) -> Void) {
        state.withLock { body(&$0) }
    }

    /// A copy of the state.
    public var current: State { state.withLock { $0 } }

    /// Answers one request.
    public func handle(_ request: SimulatedRequest) async -> SimulatedResponse {
        let latency = state.withLock { $0.latency }
        if latency > .zero { try? await Task.sleep(for: latency) }
        return state.withLock { state in
            if let status = state.failWith { return Self.error(status, "server error") }
            if let credentials = state.credentials {
                let expected = "Basic " + Base64.encode(Array("\(credentials.user):\(credentials.password)".utf8))
                guard request.authorization == expected else { return Self.error(401, "authentication error") }
            }
            switch request.path {
            case "/v3/paths/list":
                state.pageRequests.append("paths:\(request.query["page"] ?? "")")
                let generation = state.generation
                return Self.page(state.paths.map { Self.pathJSON($0, generation) }, request)
            case "/v3/srtconns/list":
                guard state.srtEnabled else { return Self.error(404, "SRT server is disabled") }
                state.pageRequests.append("srtconns:\(request.query["page"] ?? "")")
                return Self.page(state.srtConnections.map(Self.srtJSON), request)
            case "/v3/info":
                guard state.generation != .legacy else { return Self.error(404, "not found") }
                return .json(#"{"version":"\#(state.version)","started":"\#(state.started)"}"#)
            default:
                return Self.error(404, "not found")
            }
        }
    }

    private static func error(_ status: Int, _ message: String) -> SimulatedResponse {
        .json(#"{"status":"error","error":"\#(message)"}"#, status: status)
    }

    private static func page(_ items: [String], _ request: SimulatedRequest) -> SimulatedResponse {
        let itemsPerPage: Int
        if let text = request.query["itemsPerPage"] {
            guard let value = Int(text), value > 0 else { return error(400, "invalid itemsPerPage") }
            itemsPerPage = value
        } else {
            itemsPerPage = 100
        }
        let page: Int
        if let text = request.query["page"] {
            guard let value = Int(text), value >= 0 else { return error(400, "invalid page") }
            page = value
        } else {
            page = 0
        }
        let pageCount = (items.count + itemsPerPage - 1) / itemsPerPage
        let start = min(items.count, page * itemsPerPage)
        let end = min(items.count, start + itemsPerPage)
        return .json(#"{"pageCount":\#(pageCount),"itemCount":\#(items.count),"items":["# + items[start..<end].joined(separator: ",") + "]}")
    }

    /// The JSON of one path in a generation's field set.
    public static func pathJSON(_ path: Path, _ generation: Generation) -> String {
        let source = path.sourceType.map { #"{"type":"\#($0)","id":"\#(path.name)-src"}"# } ?? "null"
        let readers = "[" + path.readers.enumerated().map { #"{"type":"\#($1)","id":"r\#($0)"}"# }.joined(separator: ",") + "]"
        let readyTime = path.online ? "\"\(path.onlineTime)\"" : "null"
        let tracks = "[" + path.tracks.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        let tracks2 = "[" + path.tracks.map { #"{"codec":"\#($0)","codecProps":{}}"# }.joined(separator: ",") + "]"
        let common = #""name":"\#(path.name)","confName":"\#(path.name)","source":\#(source),"readers":\#(readers)"#
        let old =
            #""ready":\#(path.online),"readyTime":\#(readyTime),"tracks":\#(tracks),"bytesReceived":\#(path.inboundBytes),"bytesSent":\#(path.outboundBytes)"#
        let new =
            #""available":\#(path.online),"availableTime":\#(readyTime),"online":\#(path.online),"onlineTime":\#(readyTime),"tracks2":\#(tracks2),"inboundBytes":\#(path.inboundBytes),"outboundBytes":\#(path.outboundBytes),"inboundFramesInError":\#(path.framesInError)"#
        switch generation {
        case .legacy: return "{\(common),\(old)}"
        case .current: return "{\(common),\(new),\(old)}"
        case .newOnly: return "{\(common),\(new)}"
        }
    }

    /// The JSON of one SRT connection.
    public static func srtJSON(_ connection: SRTConnection) -> String {
        """
        {"id":"\(connection.id)","created":"2025-01-01T10:00:00Z","remoteAddr":"192.0.2.7:40000","state":"\(connection.state)",\
        "path":"\(connection.path)","query":"","user":"","msRTT":\(connection.msRTT),"mbpsSendRate":\(connection.mbpsSendRate),\
        "mbpsReceiveRate":\(connection.mbpsReceiveRate),"mbpsLinkCapacity":\(connection.mbpsLinkCapacity),"mbpsMaxBW":-1,\
        "packetsSendLossRate":0,"packetsReceivedLossRate":\(connection.packetsReceivedLossRate),"bytesReceived":1000,"bytesSent":0,\
        "packetsReceived":10,"packetsSent":0,"msReceiveTsbPdDelay":120,"msSendTsbPdDelay":120}
        """
    }
}

/// Base64 without Foundation (for the simulated basic authentication).
enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            let b0 = chunk[chunk.startIndex]
            let b1 = chunk.count > 1 ? chunk[chunk.startIndex + 1] : 0
            let b2 = chunk.count > 2 ? chunk[chunk.startIndex + 2] : 0
            output.append(table[Int(b0 >> 2)])
            output.append(table[Int((b0 & 0x03) << 4 | b1 >> 4)])
            output.append(chunk.count > 1 ? table[Int((b1 & 0x0F) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            output.append(chunk.count > 2 ? table[Int(b2 & 0x3F)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }
}
