//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Synchronization

/// A Visionaire VisionAIre4 stream API (port 4004) written from its public API shape:
///
/// - `GET /streams` → `{"stream_number": n, "streams": [{active, stream_id, stream_name,
///   stream_node_num, stream_address, stream_latitude, stream_longitude, stream_custom_data}]}`
/// - `GET /streams/{node}/{id}` → the same fields plus `pipelines`, `seats`,
///   `stream_stats{fps, frame_width, frame_height, last_error_msg, state}` and
///   `status{pipelines[{state}]}`; unknown streams `{"code":404,"message":…}` with status 404.
///
/// Tests change the cameras and inject faults (HTTP errors, broken JSON, latency, a held answer)
/// through ``update(_:)``.
public final class VisionaireSimulator: Sendable {
    /// One camera.
    public struct Camera: Sendable, Hashable {
        /// `stream_id`.
        public var id: String
        /// `stream_name`.
        public var name: String
        /// `stream_node_num`.
        public var node: Int
        /// `active`.
        public var active: Bool
        /// `stream_stats.state`; `nil` leaves `state` out of `stream_stats`.
        public var state: String?
        /// `status.pipelines[0].state`; `nil` sends an empty `pipelines` list.
        public var pipelineState: String?
        /// `stream_stats.fps`.
        public var fps: Double
        /// An HTTP status to answer the detail request with instead (for example 500).
        public var detailStatus: Int?
        /// Whether the detail answer is not JSON.
        public var brokenDetail: Bool

        /// Creates a camera.
        public init(
            id: String,
            name: String,
            node: Int = 0,
            active: Bool = true,
            state: String? = "RUNNING",
            pipelineState: String? = nil,
            fps: Double = 15,
            detailStatus: Int? = nil,
            brokenDetail: Bool = false
        ) {
            self.id = id
            self.name = name
            self.node = node
            self.active = active
            self.state = state
            self.pipelineState = pipelineState
            self.fps = fps
            self.detailStatus = detailStatus
            self.brokenDetail = brokenDetail
        }
    }

    /// The simulator's mutable state.
    public struct State: Sendable {
        /// The cameras, in list order.
        public var cameras: [Camera]
        /// An HTTP status to answer `GET /streams` with instead (for example 500).
        public var listStatus: Int?
        /// Added to every answer.
        public var latency: Duration = .zero
        /// Requests served so far, by kind.
        public var listRequests = 0
        /// Detail requests served so far.
        public var detailRequests = 0
    }

    private let state: Mutex<State>
    private let gate: Gate

    /// Creates a simulator.
    public init(cameras: [Camera] = []) {
        self.state = Mutex(State(cameras: cameras))
        self.gate = Gate()
    }

    /// A fleet-style camera list: `count` cameras named `location-<n % 4>` on nodes 0 and 1.
    public static func cameras(count: Int, host: Int) -> [Camera] {
        (0..<count).map { index in
            Camera(id: hex(host &* 1000 &+ index), name: "location-\(index % 4)", node: index % 2, active: true, state: "RUNNING", fps: 15)
        }
    }

    /// Changes the state.
    public func update(_ body: (inout State) -> Void) {
        state.withLock { body(&$0) }
    }

    /// A copy of the state.
    public var current: State { state.withLock { $0 } }

    /// Holds every detail answer until ``release()`` (for tests that look at a cycle in flight).
    public func hold() { gate.close() }

    /// Lets held answers go.
    public func release() { gate.open() }

    /// How many answers are waiting at the gate.
    public var heldCount: Int { gate.waiting }

    /// Answers one request.
    public func handle(_ request: SimulatedRequest) async -> SimulatedResponse {
        let segments = request.segments
        let latency = state.withLock { $0.latency }
        if latency > .zero { try? await Task.sleep(for: latency) }
        if segments == ["streams"] {
            return state.withLock { state in
                state.listRequests += 1
                if let status = state.listStatus { return .json(#"{"code":\#(status),"message":"internal error"}"#, status: status) }
                return .json(Self.listJSON(state.cameras))
            }
        }
        if segments.count == 3, segments[0] == "streams" {
            await gate.pass()
            return state.withLock { state in
                state.detailRequests += 1
                guard let camera = state.cameras.first(where: { String($0.node) == segments[1] && $0.id == segments[2] }) else {
                    return .json(#"{"code":404,"message":"stream not found"}"#, status: 404)
                }
                if let status = camera.detailStatus { return .json(#"{"code":\#(status),"message":"pipeline error"}"#, status: status) }
                if camera.brokenDetail { return SimulatedResponse(status: 200, body: Array("<html>bad gateway</html>".utf8)) }
                return .json(Self.detailJSON(camera))
            }
        }
        return .json(#"{"code":404,"message":"not found"}"#, status: 404)
    }

    static func hex(_ value: Int) -> String {
        let text = String(UInt64(truncatingIfNeeded: value &* 2_654_435_761 &+ 0x9E37_79B9), radix: 16)
        return String(repeating: "0", count: max(0, 16 - text.count)) + text
    }

    private static func baseFields(_ camera: Camera) -> String {
        """
        "active":\(camera.active),"stream_id":"\(camera.id)","stream_name":"\(escape(camera.name))","stream_node_num":\(camera.node),\
        "stream_address":"rtsp://10.1.0.\(camera.node + 10):554/\(camera.id)","stream_latitude":-6.2,"stream_longitude":106.8,\
        "stream_custom_data":{}
        """
    }

    static func listJSON(_ cameras: [Camera]) -> String {
        "{\"stream_number\":\(cameras.count),\"streams\":[" + cameras.map { "{" + baseFields($0) + "}" }.joined(separator: ",") + "]}"
    }

    static func detailJSON(_ camera: Camera) -> String {
        let state = camera.state.map { ",\"state\":\"\($0)\"" } ?? ""
        let pipelines = camera.pipelineState.map { "[{\"state\":\"\($0)\",\"pipeline_id\":0}]" } ?? "[]"
        return """
            {\(baseFields(camera)),"pipelines":[{"pipeline_id":0,"type":"face"}],"seats":1,\
            "stream_stats":{"fps":\(camera.fps),"frame_height":646,"frame_width":1146,"last_error_msg":"Stream is running.."\(state)},\
            "status":{"pipelines":\(pipelines)}}
            """
    }

    static func escape(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            default: result.append(character)
            }
        }
        return result
    }
}

/// A gate that async callers wait at while it is closed.
final class Gate: Sendable {
    private struct State {
        var closed = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func close() { state.withLock { $0.closed = true } }

    func open() {
        let waiters = state.withLock { state in
            state.closed = false
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    var waiting: Int { state.withLock { $0.waiters.count } }

    func pass() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state in
                if state.closed {
                    state.waiters.append(continuation)
                    return false
                }
                return true
            }
            if resumeNow { continuation.resume() }
        }
    }
}
