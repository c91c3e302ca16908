//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The reply of Visionaire's `GET /streams` (VisionAIre4 stream API, port 4004).
///
/// ```json
/// {"stream_number": 2, "streams": [{"active": true, "stream_id": "c73a1992f67961d1",
///   "stream_name": "Gate A", "stream_node_num": 0, "stream_address": "rtsp://…",
///   "stream_latitude": -6.2, "stream_longitude": 106.8, "stream_custom_data": {}}]}
/// ```
///
/// Decoding is lenient the way the seed's exporter is: unknown fields are ignored, a missing
/// `streams` is an empty list, and an entry without `stream_id` or `stream_node_num` is kept here
/// and skipped by the poller.
public struct VisionaireStreamList: Sendable, Hashable, Decodable {
    /// `stream_number`, as reported.
    public var streamNumber: Int?
    /// `streams`.
    public var streams: [VisionaireStream]

    /// Creates a list.
    public init(streamNumber: Int? = nil, streams: [VisionaireStream]) {
        self.streamNumber = streamNumber
        self.streams = streams
    }

    private enum CodingKeys: String, CodingKey {
        case streamNumber = "stream_number"
        case streams
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        streamNumber = try? container.decodeIfPresent(Int.self, forKey: .streamNumber)
        streams = try container.decodeIfPresent([VisionaireStream].self, forKey: .streams) ?? []
    }
}

/// One camera stream, as listed by `GET /streams` and detailed by `GET /streams/{node}/{id}`.
public struct VisionaireStream: Sendable, Hashable, Decodable {
    /// `stream_id` (hex); numbers are accepted and written in decimal.
    public var streamID: String?
    /// `stream_name`, which the seed's dashboard treats as the location.
    public var streamName: String?
    /// `stream_node_num`, as text (the metric label `node_num`).
    public var nodeNumber: String?
    /// `active`.
    public var active: Bool?
    /// `stream_address`.
    public var address: String?
    /// `stream_latitude`.
    public var latitude: Double?
    /// `stream_longitude`.
    public var longitude: Double?
    /// `stream_stats` (detail only).
    public var stats: Stats?
    /// `status` (detail only).
    public var status: Status?

    /// `stream_stats` of a detail reply.
    public struct Stats: Sendable, Hashable, Decodable {
        /// `fps`.
        public var fps: Double?
        /// `frame_width`.
        public var frameWidth: Double?
        /// `frame_height`.
        public var frameHeight: Double?
        /// `last_error_msg`.
        public var lastErrorMessage: String?
        /// `state`, for example `RUNNING`.
        public var state: String?

        /// Creates stats.
        public init(fps: Double? = nil, frameWidth: Double? = nil, frameHeight: Double? = nil, lastErrorMessage: String? = nil, state: String? = nil)
        {
            self.fps = fps
            self.frameWidth = frameWidth
            self.frameHeight = frameHeight
            self.lastErrorMessage = lastErrorMessage
            self.state = state
        }

        private enum CodingKeys: String, CodingKey {
            case fps
            case frameWidth = "frame_width"
            case frameHeight = "frame_height"
            case lastErrorMessage = "last_error_msg"
            case state
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            fps = try? container.decodeIfPresent(Double.self, forKey: .fps)
            frameWidth = try? container.decodeIfPresent(Double.self, forKey: .frameWidth)
            frameHeight = try? container.decodeIfPresent(Double.self, forKey: .frameHeight)
            lastErrorMessage = try? container.decodeIfPresent(String.self, forKey: .lastErrorMessage)
            state = try? container.decodeIfPresent(String.self, forKey: .state)
        }
    }

    /// `status` of a detail reply: the pipelines' states.
    public struct Status: Sendable, Hashable, Decodable {
        /// `status.pipelines[].state`, in order (`nil` where a pipeline has no state).
        public var pipelineStates: [String?]

        /// Creates a status.
        public init(pipelineStates: [String?]) {
            self.pipelineStates = pipelineStates
        }

        private enum CodingKeys: String, CodingKey { case pipelines }
        private struct Pipeline: Decodable {
            var state: String?
            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                state = try? container.decodeIfPresent(String.self, forKey: .state)
            }
            private enum CodingKeys: String, CodingKey { case state }
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let pipelines = (try? container.decodeIfPresent([Pipeline].self, forKey: .pipelines)) ?? []
            pipelineStates = pipelines.map(\.state)
        }
    }

    /// Creates a stream.
    public init(
        streamID: String?,
        streamName: String? = nil,
        nodeNumber: String? = nil,
        active: Bool? = nil,
        address: String? = nil,
        latitude: Double? = nil,
        longitude: Double? = nil,
        stats: Stats? = nil,
        status: Status? = nil
    ) {
        self.streamID = streamID
        self.streamName = streamName
        self.nodeNumber = nodeNumber
        self.active = active
        self.address = address
        self.latitude = latitude
        self.longitude = longitude
        self.stats = stats
        self.status = status
    }

    private enum CodingKeys: String, CodingKey {
        case streamID = "stream_id"
        case streamName = "stream_name"
        case nodeNumber = "stream_node_num"
        case active
        case address = "stream_address"
        case latitude = "stream_latitude"
        case longitude = "stream_longitude"
        case stats = "stream_stats"
        case status
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        streamID = Self.text(container, .streamID)
        streamName = try? container.decodeIfPresent(String.self, forKey: .streamName)
        nodeNumber = Self.text(container, .nodeNumber)
        active = try? container.decodeIfPresent(Bool.self, forKey: .active)
        address = try? container.decodeIfPresent(String.self, forKey: .address)
        latitude = try? container.decodeIfPresent(Double.self, forKey: .latitude)
        longitude = try? container.decodeIfPresent(Double.self, forKey: .longitude)
        stats = try? container.decodeIfPresent(Stats.self, forKey: .stats)
        status = try? container.decodeIfPresent(Status.self, forKey: .status)
    }

    /// A field that may be a string or an integer, as text.
    private static func text(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) -> String? {
        if let text = try? container.decodeIfPresent(String.self, forKey: key) { return text }
        if let number = try? container.decodeIfPresent(Int64.self, forKey: key) { return String(number) }
        return nil
    }

    /// The state the seed reports: `stream_stats.state`, and when that is missing or `UNKNOWN`, the
    /// state of the first pipeline in `status.pipelines`; `UNKNOWN` when neither is there.
    public var stateText: String {
        let primary = stats?.state ?? "UNKNOWN"
        if primary == "UNKNOWN", let first = status?.pipelineStates.first {
            return first ?? "UNKNOWN"
        }
        return primary
    }

    /// Whether the camera counts as up: state `RUNNING` and `active` true.
    public var isUp: Bool { stateText == "RUNNING" && active == true }
}
