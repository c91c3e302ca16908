//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import VigilCore
import VigilWeb

extension AlertingService: AlertDesk {
    /// An alert as the API shows it: the stored alert, plus what mutes it.
    struct AlertView: Encodable {
        var alert: Alert
        var silencedBy: String?
        var inhibitedBy: String?

        func encode(to encoder: any Encoder) throws {
            try alert.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encodeIfPresent(silencedBy, forKey: .silencedBy)
            try container.encodeIfPresent(inhibitedBy, forKey: .inhibitedBy)
        }

        enum Keys: String, CodingKey { case silencedBy, inhibitedBy }
    }

    struct SilenceRequest: Decodable {
        var matchers: [String: String]
        var startsAt: Double?
        var endsAt: Double?
        /// Instead of `endsAt`: how long, such as `2h`.
        var duration: String?
        var createdBy: String?
        var comment: String?
    }

    nonisolated func alerts() async -> [UInt8] {
        let (alerts, now, rules) = await snapshotForAPI()
        let views = alerts.map { alert in
            AlertView(alert: alert.alert, silencedBy: alert.silence, inhibitedBy: alert.inhibitor)
        }
        struct Document: Encodable {
            var time: Double
            var rules: [String]
            var alerts: [AlertView]
        }
        return (try? Array(Self.encoder.encode(Document(time: now, rules: rules, alerts: views)))) ?? Array("{}".utf8)
    }

    nonisolated func silences() async -> [UInt8] {
        struct Document: Encodable { var silences: [Silence] }
        let silences = await book.silences.values.sorted { $0.id < $1.id }
        return (try? Array(Self.encoder.encode(Document(silences: silences)))) ?? Array("{}".utf8)
    }

    nonisolated func addSilence(body: [UInt8]) async -> AlertDeskResult {
        let request: SilenceRequest
        do {
            request = try JSONDecoder().decode(SilenceRequest.self, from: Data(body))
        } catch {
            return .bad("not a silence: expected {\"matchers\": {...}, \"endsAt\": seconds or \"duration\": \"2h\"}")
        }
        let now = clock.wallClockSeconds
        var endsAt = request.endsAt
        if let text = request.duration {
            do {
                endsAt = (request.startsAt ?? now) + (try DurationParser.parse(text)).seconds
            } catch {
                return .bad("duration: \(error)")
            }
        }
        guard let endsAt, endsAt.isFinite, request.startsAt?.isFinite ?? true else { return .bad("endsAt or duration is required") }
        do {
            let silence = try await addSilence(
                matchers: request.matchers,
                startsAt: request.startsAt,
                endsAt: endsAt,
                createdBy: request.createdBy ?? "",
                comment: request.comment ?? ""
            )
            return .done(json: (try? Array(Self.encoder.encode(silence))) ?? [], created: true)
        } catch {
            return .bad("\(error)")
        }
    }

    nonisolated func removeSilence(id: String) async -> AlertDeskResult {
        await removeSilence(id: id)
            ? .done(json: Array("{\"removed\":true}".utf8), created: false) : .notFound("no silence '\(id.prefix(80))' set through the API")
    }

    private func snapshotForAPI() -> ([(alert: Alert, silence: String?, inhibitor: String?)], Double, [String]) {
        let now = clock.wallClockSeconds
        let alerts = book.sortedAlerts().map { alert in
            (alert, book.silence(for: alert, now: now)?.id, book.inhibitor(of: alert)?.id)
        }
        return (alerts, now, book.rules.map(\.name))
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
}
