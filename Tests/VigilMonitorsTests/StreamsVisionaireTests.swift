//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import StreamSimulators
import Testing
import VigilCore

@testable import VigilMonitors

@Suite("Visionaire decoding")
struct StreamsVisionaireDecodingTests {
    /// The detail reply shape from the seed (`GET /streams/0/c73a1992f67961d1`).
    static let runningDetail = """
        {"active": true, "stream_id": "c73a1992f67961d1", "stream_name": "Gerbang Utama", "stream_node_num": 0,
         "stream_address": "rtsp://admin:x@10.1.2.3:554/Streaming/Channels/101", "stream_latitude": -6.175,
         "stream_longitude": 106.827, "stream_custom_data": {}, "pipelines": [{"pipeline_id": 3, "type": "FR"}], "seats": 2,
         "stream_stats": {"fps": 15, "frame_height": 646, "frame_width": 1146, "last_error_msg": "Stream is running..",
                          "state": "RUNNING"},
         "status": {"pipelines": [{"state": "RUNNING"}]}}
        """

    func decode(_ text: String) throws -> VisionaireStream {
        try JSONDecoder().decode(VisionaireStream.self, from: Data(text.utf8))
    }

    @Test("A running, active detail is up with its stats")
    func running() throws {
        let stream = try decode(Self.runningDetail)
        #expect(stream.stateText == "RUNNING")
        #expect(stream.isUp)
        #expect(stream.nodeNumber == "0")
        #expect(stream.stats?.fps == 15)
        #expect(stream.stats?.frameWidth == 1146)
        #expect(stream.stats?.lastErrorMessage == "Stream is running..")
    }

    @Test("The state falls back to the first pipeline when stream_stats has none or says UNKNOWN")
    func fallback() throws {
        let missing = try decode(
            #"{"active":true,"stream_id":"a","stream_node_num":1,"stream_stats":{"fps":0},"status":{"pipelines":[{"state":"RUNNING"},{"state":"STOPPED"}]}}"#
        )
        #expect(missing.stateText == "RUNNING")
        #expect(missing.isUp)
        let unknown = try decode(
            #"{"active":true,"stream_id":"a","stream_node_num":1,"stream_stats":{"state":"UNKNOWN"},"status":{"pipelines":[{"state":"STOPPED"}]}}"#
        )
        #expect(unknown.stateText == "STOPPED")
        #expect(!unknown.isUp)
        let pipelineWithoutState = try decode(#"{"active":true,"stream_id":"a","stream_node_num":1,"status":{"pipelines":[{}]}}"#)
        #expect(pipelineWithoutState.stateText == "UNKNOWN")
        let nothing = try decode(#"{"active":true,"stream_id":"a","stream_node_num":1,"stream_stats":null,"status":null}"#)
        #expect(nothing.stateText == "UNKNOWN")
        let other = try decode(
            #"{"active":true,"stream_id":"a","stream_node_num":1,"stream_stats":{"state":"RECONNECTING"},"status":{"pipelines":[{"state":"RUNNING"}]}}"#
        )
        #expect(other.stateText == "RECONNECTING")
    }

    @Test("RUNNING but inactive is down")
    func inactive() throws {
        let stream = try decode(#"{"active":false,"stream_id":"a","stream_node_num":0,"stream_stats":{"state":"RUNNING"}}"#)
        #expect(stream.stateText == "RUNNING")
        #expect(!stream.isUp)
    }

    @Test("The list decodes ids and node numbers given as numbers, and tolerates a missing list")
    func list() throws {
        let list = try JSONDecoder().decode(
            VisionaireStreamList.self,
            from: Data(#"{"stream_number":2,"streams":[{"stream_id":1234,"stream_node_num":"2","stream_name":"X"},{"stream_name":"no id"}]}"#.utf8)
        )
        #expect(list.streams.count == 2)
        #expect(list.streams[0].streamID == "1234")
        #expect(list.streams[0].nodeNumber == "2")
        #expect(list.streams[1].streamID == nil)
        let empty = try JSONDecoder().decode(VisionaireStreamList.self, from: Data("{}".utf8))
        #expect(empty.streams.isEmpty)
    }

    @Test("source_host is the URL's host, with the port only when hosts repeat")
    func sourceHosts() {
        #expect(VisionaireConfiguration.sourceHosts(for: ["http://10.0.28.11:4004", "http://10.10.2.19:4004/"]) == ["10.0.28.11", "10.10.2.19"])
        #expect(
            VisionaireConfiguration.sourceHosts(for: ["http://127.0.0.1:4004", "http://127.0.0.1:4005", "https://cam.example"]) == [
                "127.0.0.1:4004", "127.0.0.1:4005", "cam.example",
            ]
        )
        #expect(VisionaireConfiguration.sourceHosts(for: ["http://[::1]:4004"]) == ["[::1]"])
    }
}

@Suite("Visionaire exposition")
struct StreamsVisionaireExpositionTests {
    static func camera(
        _ id: String,
        _ name: String,
        node: String = "0",
        state: String? = "RUNNING",
        active: Bool = true,
        fails: Bool = false
    ) -> VisionaireCameraReport {
        let listed = VisionaireStream(streamID: id, streamName: name, nodeNumber: node, active: active)
        if fails { return VisionaireCameraReport(listed: listed, error: "GET …: HTTP 500") }
        let detail = VisionaireStream(streamID: id, streamName: name, nodeNumber: node, active: active, stats: .init(state: state))
        return VisionaireCameraReport(listed: listed, detail: detail)
    }

    @Test("The exposition text is exactly the seed's metrics, labels and values")
    func exactText() {
        let hosts = [
            VisionaireHostReport(
                baseURL: "http://10.0.28.11:4004",
                sourceHost: "10.0.28.11",
                durations: [0.25, 0.5, 0.75],
                cameras: [
                    Self.camera("c73a1992f67961d1", "Gerbang \"Utama\""),
                    Self.camera("a1", "Lobby", node: "1", state: "STOPPED"),
                    Self.camera("a2", "Lobby", fails: true),
                ],
                errors: 1
            ),
            VisionaireHostReport(baseURL: "http://10.10.2.19:4004", sourceHost: "10.10.2.19", listError: "connection refused", errors: 1),
            VisionaireHostReport(
                baseURL: "http://10.5.19.19:4004",
                sourceHost: "10.5.19.19",
                durations: [0.5],
                cameras: [Self.camera("b1", "Lobby", active: false)]
            ),
        ]
        let families = VisionaireMetrics.families(hosts: hosts, errorTotals: ["10.0.28.11": 3, "10.10.2.19": 1])
        let text = String(decoding: PrometheusText.render(families), as: UTF8.self)
        let expected = """
            # HELP camera_stream_status_up Camera stream status (1 = RUNNING and active, 0 = down or another state).
            # TYPE camera_stream_status_up gauge
            camera_stream_status_up{stream_id="c73a1992f67961d1",stream_name="Gerbang \\"Utama\\"",node_num="0",state_text="RUNNING",source_host="10.0.28.11"} 1.0
            camera_stream_status_up{stream_id="a1",stream_name="Lobby",node_num="1",state_text="STOPPED",source_host="10.0.28.11"} 0.0
            camera_stream_status_up{stream_id="a2",stream_name="Lobby",node_num="0",state_text="API_ERROR",source_host="10.0.28.11"} 0.0
            camera_stream_status_up{stream_id="b1",stream_name="Lobby",node_num="0",state_text="RUNNING",source_host="10.5.19.19"} 0.0
            # HELP camera_stream_total Number of cameras per location (stream_name).
            # TYPE camera_stream_total untyped
            camera_stream_total{stream_name="Gerbang \\"Utama\\""} 1.0
            camera_stream_total{stream_name="Lobby"} 3.0
            # HELP camera_stream_status_total Number of cameras per location (stream_name) and state_text.
            # TYPE camera_stream_status_total untyped
            camera_stream_status_total{stream_name="Gerbang \\"Utama\\"",state_text="RUNNING"} 1.0
            camera_stream_status_total{stream_name="Lobby",state_text="STOPPED"} 1.0
            camera_stream_status_total{stream_name="Lobby",state_text="API_ERROR"} 1.0
            camera_stream_status_total{stream_name="Lobby",state_text="RUNNING"} 1.0
            # HELP stream_api_response_time_seconds Mean duration of the stream API requests per host in the last cycle (seconds).
            # TYPE stream_api_response_time_seconds gauge
            stream_api_response_time_seconds{source_host="10.0.28.11"} 0.5
            stream_api_response_time_seconds{source_host="10.10.2.19"} 0.0
            stream_api_response_time_seconds{source_host="10.5.19.19"} 0.5
            # HELP stream_api_errors_total Failed stream API requests per host since start.
            # TYPE stream_api_errors_total counter
            stream_api_errors_total{source_host="10.0.28.11"} 3.0
            stream_api_errors_total{source_host="10.10.2.19"} 1.0
            stream_api_errors_total{source_host="10.5.19.19"} 0.0

            """
        #expect(text == expected)
    }

    @Test("Label values and help text are escaped; special values are written as Prometheus expects")
    func escaping() {
        let family = MetricFamily(
            name: "x",
            help: "a\\b\nc",
            kind: .gauge,
            samples: [
                .init([.init("l", "q\"\\\n")], .nan), .init([], .infinity), .init([], -.infinity), .init([], 0.125), .init([], 3),
            ]
        )
        let text = String(decoding: PrometheusText.render([family]), as: UTF8.self)
        #expect(text == "# HELP x a\\\\b\\nc\n# TYPE x gauge\nx{l=\"q\\\"\\\\\\n\"} NaN\nx +Inf\nx -Inf\nx 0.125\nx 3.0\n")
    }

    @Test("A scrape sees one published snapshot or another, never a mix")
    func atomicUnderConcurrency() async {
        let exporter = MetricsSnapshotExporter()
        let snapshots: [[MetricFamily]] = (0..<8).map { round in
            [
                MetricFamily(
                    name: "camera_stream_status_up",
                    help: "h",
                    kind: .gauge,
                    samples: (0..<200).map { .init([.init("stream_id", "s\($0)")], Double(round)) }
                )
            ]
        }
        let allowed = Set(snapshots.map { PrometheusText.render($0) } + [[]])
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for round in 0..<400 { exporter.publish(snapshots[round % snapshots.count]) }
                return true
            }
            for _ in 0..<2 {
                group.addTask {
                    for _ in 0..<400 {
                        var buffer: [UInt8] = []
                        exporter.emit(into: &buffer)
                        if !allowed.contains(buffer) { return false }
                    }
                    return true
                }
            }
            for await ok in group { #expect(ok) }
        }
    }
}
