//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import Metrics
import ServiceLifecycle
import VigilAnnouncer

/// Seed 001's buffer report ("Report buffer fill length every X sec", `[monitoring]
/// buffer_report_duration`): every interval one line, `Buffer fill length`, with the Announcer's
/// queue depths and connections (info when the key is set, debug otherwise), and the same values
/// as gauges.
///
/// Metrics: `vigil_announcer_in_progress` (announcements being sent), `vigil_announcer_outbox`
/// (announcements in the outbox: queued, being sent, or failed and waiting for a retry),
/// `vigil_announcer_pending_sends` (rendered stanzas waiting for the pacer or a connection).
/// `vigil_announcer_queued` is kept by the Announcer itself.
struct AnnouncerBufferReport: Service {
    let announcer: Announcer
    let connections: XMPPConnectionMetrics
    let interval: Duration
    /// `input_buffer`: the bound of the queue.
    let inputBuffer: Int
    /// `logic_process_number`: the bound of the pending sends (one per worker).
    let workers: Int
    /// Info when the file asked for the report, debug otherwise.
    let level: Logger.Level
    let logger: Logger

    func run() async throws {
        let inProgress = Gauge(label: "vigil_announcer_in_progress")
        let pending = Gauge(label: "vigil_announcer_pending_sends")
        let outbox = Gauge(label: "vigil_announcer_outbox")
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: self.interval) } catch { return }
                let line = self.report()
                inProgress.record(line.inProgress)
                pending.record(line.pending)
                outbox.record(line.outbox)
                self.logger.log(level: self.level, "Buffer fill length", metadata: line.metadata)
            }
        }
    }

    /// One report's values.
    struct Line {
        var queued: Int
        var inProgress: Int
        var pending: Int
        var outbox: Int
        var metadata: Logger.Metadata
    }

    func report() -> Line {
        let queued = announcer.queuedCount
        let inProgress = announcer.inProgressCount
        let pending = announcer.pendingSendCount
        let outbox = announcer.outboxCount
        let (connected, total) = connections.connectedCount
        return Line(
            queued: queued,
            inProgress: inProgress,
            pending: pending,
            outbox: outbox,
            metadata: [
                "announcer.outbox": "\(outbox)",
                "announcer.input_buffer": "\(queued)/\(inputBuffer)",
                "announcer.in_progress": "\(inProgress)",
                "announcer.pending_sends": "\(pending)/\(workers)",
                "xmpp.connected": "\(connected)/\(total)",
            ]
        )
    }
}
