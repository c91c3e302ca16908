//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// What one poll cycle learned from one Visionaire host.
public struct VisionaireHostReport: Sendable, Hashable {
    /// The configured base URL.
    public var baseURL: String
    /// The `source_host` label.
    public var sourceHost: String
    /// Why `GET /streams` failed, or `nil` when it succeeded.
    public var listError: String?
    /// Durations in seconds of the requests that succeeded (list and details).
    public var durations: [Double]
    /// The cameras of the list, in list order (entries without id or node are skipped).
    public var cameras: [VisionaireCameraReport]
    /// Failed requests in this cycle.
    public var errors: Int

    /// Creates a report.
    public init(
        baseURL: String,
        sourceHost: String,
        listError: String? = nil,
        durations: [Double] = [],
        cameras: [VisionaireCameraReport] = [],
        errors: Int = 0
    ) {
        self.baseURL = baseURL
        self.sourceHost = sourceHost
        self.listError = listError
        self.durations = durations
        self.cameras = cameras
        self.errors = errors
    }

    /// The mean request duration, 0 when nothing succeeded (the seed's value).
    public var meanDuration: Double {
        durations.isEmpty ? 0 : durations.reduce(0, +) / Double(durations.count)
    }
}

/// What one poll cycle learned about one camera.
public struct VisionaireCameraReport: Sendable, Hashable {
    /// The entry of `GET /streams`.
    public var listed: VisionaireStream
    /// The reply of `GET /streams/{node}/{id}`, or `nil` when it failed.
    public var detail: VisionaireStream?
    /// Why the detail request failed.
    public var error: String?

    /// Creates a report.
    public init(listed: VisionaireStream, detail: VisionaireStream? = nil, error: String? = nil) {
        self.listed = listed
        self.detail = detail
        self.error = error
    }

    /// `stream_id` (always present: entries without one are skipped).
    public var streamID: String { listed.streamID ?? "" }
    /// `stream_name` from the list, `UNKNOWN_STREAM` when missing (as the seed).
    public var streamName: String { listed.streamName ?? "UNKNOWN_STREAM" }
    /// `node_num`.
    public var nodeNumber: String { listed.nodeNumber ?? "" }
    /// `state_text`: the detail's state, or `API_ERROR` when the detail failed.
    public var stateText: String { detail?.stateText ?? "API_ERROR" }
    /// The value of `camera_stream_status_up`.
    public var isUp: Bool { detail?.isUp ?? false }
}

/// The seed-004 metric families built from one cycle.
///
/// Names, labels and label order are the seed's:
///
/// - `camera_stream_status_up{stream_id,stream_name,node_num,state_text,source_host}`: 1 when the
///   state is `RUNNING` and the stream is active, else 0; `state_text` is `API_ERROR` when the
///   detail request failed.
/// - `camera_stream_total{stream_name}`: cameras per `stream_name` (location), summed over all
///   hosts (the seed's code keeps only the last host's count when a name appears on several hosts).
/// - `camera_stream_status_total{stream_name,state_text}`: cameras per location and state, summed.
/// - `stream_api_response_time_seconds{source_host}`: mean duration of the host's successful
///   requests in the cycle; 0 when its list failed.
/// - `stream_api_errors_total{source_host}`: failed requests since start, a true counter.
///
/// The two `…_total` gauges are declared `untyped`: see ``MetricFamily/Kind/untyped``.
public enum VisionaireMetrics {
    /// Builds the families of a cycle.
    ///
    /// - Parameters:
    ///   - hosts: The cycle's host reports, in configuration order.
    ///   - errorTotals: Failed requests per `source_host` since start, including this cycle.
    public static func families(hosts: [VisionaireHostReport], errorTotals: [String: Int]) -> [MetricFamily] {
        var status = MetricFamily(
            name: "camera_stream_status_up",
            help: "Camera stream status (1 = RUNNING and active, 0 = down or another state).",
            kind: .gauge
        )
        var total = MetricFamily(name: "camera_stream_total", help: "Number of cameras per location (stream_name).", kind: .untyped)
        var breakdown = MetricFamily(
            name: "camera_stream_status_total",
            help: "Number of cameras per location (stream_name) and state_text.",
            kind: .untyped
        )
        var response = MetricFamily(
            name: "stream_api_response_time_seconds",
            help: "Mean duration of the stream API requests per host in the last cycle (seconds).",
            kind: .gauge
        )
        var errors = MetricFamily(name: "stream_api_errors_total", help: "Failed stream API requests per host since start.", kind: .counter)

        var statusIndex: [[String]: Int] = [:]
        var totals: [String: Int] = [:]
        var totalOrder: [String] = []
        var states: [[String]: Int] = [:]
        var stateOrder: [[String]] = []
        for host in hosts {
            for camera in host.cameras where host.listError == nil {
                let labels = [camera.streamID, camera.streamName, camera.nodeNumber, camera.stateText, host.sourceHost]
                let sample = MetricFamily.Sample(
                    zip(["stream_id", "stream_name", "node_num", "state_text", "source_host"], labels).map { MetricFamily.Label($0, $1) },
                    camera.isUp ? 1 : 0
                )
                // The same camera listed twice is one series (the seed sets the same child twice).
                if let index = statusIndex[labels] {
                    status.samples[index] = sample
                } else {
                    statusIndex[labels] = status.samples.count
                    status.samples.append(sample)
                }
                if totals[camera.streamName] == nil { totalOrder.append(camera.streamName) }
                totals[camera.streamName, default: 0] += 1
                let key = [camera.streamName, camera.stateText]
                if states[key] == nil { stateOrder.append(key) }
                states[key, default: 0] += 1
            }
            response.samples.append(.init([.init("source_host", host.sourceHost)], host.listError == nil ? host.meanDuration : 0))
            errors.samples.append(.init([.init("source_host", host.sourceHost)], Double(errorTotals[host.sourceHost] ?? 0)))
        }
        total.samples = totalOrder.map { .init([.init("stream_name", $0)], Double(totals[$0] ?? 0)) }
        breakdown.samples = stateOrder.map { key in
            .init([.init("stream_name", key[0]), .init("state_text", key[1])], Double(states[key] ?? 0))
        }
        return [status, total, breakdown, response, errors]
    }
}
