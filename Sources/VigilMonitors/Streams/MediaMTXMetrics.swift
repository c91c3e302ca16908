//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The `vigil_mediamtx_*` families of one instance poll.
///
/// Per instance: `vigil_mediamtx_up{instance}`, `vigil_mediamtx_errors_total{instance}` (failed
/// polls), `vigil_mediamtx_last_success_timestamp_seconds{instance}`,
/// `vigil_mediamtx_srt_connections{instance,state}`.
///
/// Per path (`{instance,path}`): `vigil_mediamtx_path_online`, `vigil_mediamtx_path_readers`,
/// `vigil_mediamtx_path_inbound_bytes_total`, `vigil_mediamtx_path_outbound_bytes_total`,
/// `vigil_mediamtx_path_inbound_frames_in_error_total` (newer MediaMTX only),
/// `vigil_mediamtx_path_inbound_bytes_per_second`, `vigil_mediamtx_path_outbound_bytes_per_second`
/// (between the last two polls), and `vigil_mediamtx_path_source_info{instance,path,source_type}` = 1.
///
/// Per SRT connection (`{instance,path,state,id}`, at most `max_srt_series` per instance, so the
/// label cardinality stays bounded; series of closed connections disappear with the next poll):
/// `vigil_mediamtx_srt_rtt_seconds`, `vigil_mediamtx_srt_receive_rate_bytes_per_second`,
/// `vigil_mediamtx_srt_send_rate_bytes_per_second`, `vigil_mediamtx_srt_link_capacity_bytes_per_second`,
/// `vigil_mediamtx_srt_receive_loss_rate`, `vigil_mediamtx_srt_send_loss_rate` (MediaMTX's
/// `packetsReceivedLossRate`/`packetsSendLossRate` as reported).
///
/// Rates are in bytes per second (Prometheus base unit; `promtool` rejects `bits`): multiply by 8
/// for a bitrate (the Grafana dashboard does).
///
/// While an instance is unreachable only its instance series remain.
public enum MediaMTXMetrics {
    /// Builds the families of one poll.
    public static func families(_ report: MediaMTXInstanceReport, errors: Int, lastSuccess: Double?, maxSRTSeries: Int) -> [MetricFamily] {
        let instance = MetricFamily.Label("instance", report.instance)
        var families: [MetricFamily] = [
            MetricFamily(
                name: "vigil_mediamtx_up",
                help: "Whether the MediaMTX API answered the last poll (1) or not (0).",
                kind: .gauge,
                samples: [.init([instance], report.error == nil ? 1 : 0)]
            ),
            MetricFamily(
                name: "vigil_mediamtx_errors_total",
                help: "Failed polls of the MediaMTX API.",
                kind: .counter,
                samples: [.init([instance], Double(errors))]
            ),
            MetricFamily(
                name: "vigil_mediamtx_last_success_timestamp_seconds",
                help: "When the MediaMTX API last answered (seconds since the epoch).",
                kind: .gauge,
                samples: lastSuccess.map { [.init([instance], $0)] } ?? []
            ),
        ]
        guard report.error == nil else { return families }

        func pathFamily(_ name: String, _ help: String, _ kind: MetricFamily.Kind, _ value: (MediaMTXPathReport) -> Double?) -> MetricFamily {
            MetricFamily(
                name: name,
                help: help,
                kind: kind,
                samples: report.paths.compactMap { path in
                    value(path).map { .init([instance, .init("path", path.path.name)], $0) }
                }
            )
        }
        families += [
            pathFamily("vigil_mediamtx_path_online", "Whether the path has a publisher (online, or ready in MediaMTX <= 1.15).", .gauge) {
                $0.path.online ? 1 : 0
            },
            pathFamily("vigil_mediamtx_path_readers", "Readers of the path.", .gauge) { Double($0.path.readerCount) },
            pathFamily("vigil_mediamtx_path_inbound_bytes_total", "Bytes received by the path (inboundBytes or bytesReceived).", .counter) {
                $0.path.inboundBytes
            },
            pathFamily("vigil_mediamtx_path_outbound_bytes_total", "Bytes sent by the path (outboundBytes or bytesSent).", .counter) {
                $0.path.outboundBytes
            },
            pathFamily("vigil_mediamtx_path_inbound_frames_in_error_total", "Inbound frames that could not be decoded.", .counter) {
                $0.path.inboundFramesInError
            },
            pathFamily("vigil_mediamtx_path_inbound_bytes_per_second", "Inbound data rate between the last two polls (bytes per second).", .gauge) {
                $0.inbound?.instant
            },
            pathFamily("vigil_mediamtx_path_outbound_bytes_per_second", "Outbound data rate between the last two polls (bytes per second).", .gauge) {
                $0.outbound?.instant
            },
        ]
        families.append(
            MetricFamily(
                name: "vigil_mediamtx_path_source_info",
                help: "The type of the path's source; always 1.",
                kind: .gauge,
                samples: report.paths.compactMap { path in
                    path.path.sourceType.map { .init([instance, .init("path", path.path.name), .init("source_type", $0)], 1) }
                }
            )
        )

        var counts: [String: Int] = [:]
        for connection in report.srtConnections { counts[connection.state, default: 0] += 1 }
        families.append(
            MetricFamily(
                name: "vigil_mediamtx_srt_connections",
                help: "SRT connections by state.",
                kind: .gauge,
                samples: counts.keys.sorted().map { .init([instance, .init("state", $0)], Double(counts[$0] ?? 0)) }
            )
        )
        let exported = Array(report.srtConnections.prefix(max(0, maxSRTSeries)))
        func srtFamily(_ name: String, _ help: String, _ value: (MediaMTXSRTConnection) -> Double?) -> MetricFamily {
            MetricFamily(
                name: name,
                help: help,
                kind: .gauge,
                samples: exported.compactMap { connection in
                    value(connection).map {
                        .init([instance, .init("path", connection.path), .init("state", connection.state), .init("id", connection.id)], $0)
                    }
                }
            )
        }
        families += [
            srtFamily("vigil_mediamtx_srt_rtt_seconds", "SRT round-trip time (msRTT).") { $0.rttMilliseconds.map { $0 / 1000 } },
            srtFamily("vigil_mediamtx_srt_receive_rate_bytes_per_second", "SRT receive rate (mbpsReceiveRate).") {
                $0.receiveRateMbps.map { $0 * 125_000 }
            },
            srtFamily("vigil_mediamtx_srt_send_rate_bytes_per_second", "SRT send rate (mbpsSendRate).") { $0.sendRateMbps.map { $0 * 125_000 } },
            srtFamily("vigil_mediamtx_srt_link_capacity_bytes_per_second", "SRT estimated link capacity (mbpsLinkCapacity).") {
                $0.linkCapacityMbps.map { $0 * 125_000 }
            },
            srtFamily("vigil_mediamtx_srt_receive_loss_rate", "SRT received packet loss rate (packetsReceivedLossRate).") { $0.receiveLossRate },
            srtFamily("vigil_mediamtx_srt_send_loss_rate", "SRT sent packet loss rate (packetsSendLossRate).") { $0.sendLossRate },
        ]
        return families
    }
}
