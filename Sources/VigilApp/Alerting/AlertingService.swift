//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import VigilAnnouncer
import VigilCore
import VigilMQTT
import VigilXMPP

/// Evaluates the alert rules over the hub's latest states, keeps the ``AlertBook``, notifies the
/// receivers and stores the book, so that a restart neither repeats nor forgets a notification.
///
/// Each round: read the states, evaluate, update the book, deliver what each receiver is due (all
/// receivers at once, each group of alerts as one notification), mark what was delivered, store the
/// book. A failed delivery stays due and is tried again next round.
///
/// Instances sharing a store (docs/ARCHITECTURE.md "Several instances") must not all notify: only
/// the one for which `leads()` is true evaluates, delivers and stores the book; the others reload
/// the stored book every round, so their API shows the same alerts, and the one that takes over
/// starts from the stored book (what was already delivered is not delivered again). Silences set
/// through the API, on any instance, go to a key of their own that the leader reads every round,
/// so a silence set on a follower is neither lost nor overwritten by the leader's next store.
actor AlertingService: Service {
    /// Where the book is stored in the ``StateStore``.
    static let storeKey = "alerting/book"
    /// Where the silences set through the API are stored (written by whichever instance got the
    /// request, read by the leader).
    static let silencesKey = "alerting/silences"
    /// The most silences set through the API.
    static let maxSilences = 1_000

    private let configuration: AlertingConfiguration
    private let hub: Hub
    private let store: any StateStore
    private let receivers: [any AlertReceiver]
    private let logger: Logger
    let clock: any VigilClock
    private var evaluator: AlertEvaluator
    private(set) var book: AlertBook
    /// Whether this instance delivers (always, unless it is one of several sharing a store).
    private let leads: @Sendable () -> Bool
    /// Whether the last round led: a round that leads after one that did not starts from the
    /// stored book.
    private var led = false
    private var reloaded = false
    private let metrics: Metrics

    init(
        configuration: AlertingConfiguration,
        hub: Hub,
        store: any StateStore,
        receivers: [any AlertReceiver],
        logger: Logger,
        clock: any VigilClock,
        leads: @escaping @Sendable () -> Bool = { true },
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.configuration = configuration
        self.hub = hub
        self.store = store
        self.receivers = receivers
        self.logger = logger
        self.clock = clock
        self.leads = leads
        self.evaluator = AlertEvaluator(rules: configuration.rules)
        self.book = Self.emptyBook(configuration)
        self.metrics = Metrics(factory: metricsFactory, receivers: receivers.map(\.name))
    }

    func run() async throws {
        await reload()
        try? await cancelWhenGracefulShutdown {
            try await self.clock.sleep(for: self.configuration.startupDelay)
            while !Task.isCancelled {
                await self.evaluate()
                try await self.clock.sleep(for: self.configuration.interval)
            }
        }
    }

    private static func emptyBook(_ configuration: AlertingConfiguration) -> AlertBook {
        var book = AlertBook(rules: configuration.rules, inhibitRules: configuration.inhibitRules, capacity: configuration.maxAlerts)
        for silence in configuration.silences { book.setSilence(silence) }
        return book
    }

    /// Replaces the book with the stored one (at start, on taking the lead, and every round of a
    /// follower), then applies the stored API silences.
    func reload() async {
        do {
            var book = Self.emptyBook(configuration)
            if let bytes = try await store.value(forKey: Self.storeKey) {
                book.restore(try JSONDecoder().decode(AlertBook.Snapshot.self, from: Data(bytes)))
            }
            self.book = book
            if !reloaded, !book.alerts.isEmpty {
                logger.info("Restored alerts", metadata: ["alerts": "\(book.alerts.count)", "silences": "\(book.silences.count)"])
            }
            reloaded = true
        } catch {
            logger.error("Could not read the stored alerts; keeping the ones in memory", metadata: ["error": "\(error)"])
        }
        _ = await syncSilences()
    }

    /// Makes the book's API silences those of ``silencesKey`` (when that key exists; a book stored
    /// before it existed keeps its own). Returns whether the book changed.
    private func syncSilences() async -> Bool {
        guard let stored = await storedSilences() else { return false }
        let now = clock.wallClockSeconds
        let wanted = Dictionary(stored.filter { $0.endsAt >= now }.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var changed = false
        for (id, silence) in book.silences where !id.hasPrefix("cfg-") && wanted[id] != silence {
            book.removeSilence(id: id)
            changed = true
        }
        for (id, silence) in wanted where book.silences[id] != silence {
            book.setSilence(silence)
            changed = true
        }
        return changed
    }

    private func storedSilences() async -> [Silence]? {
        do {
            guard let bytes = try await store.value(forKey: Self.silencesKey) else { return nil }
            return try JSONDecoder().decode([Silence].self, from: Data(bytes))
        } catch {
            logger.error("Could not read the stored silences", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// One round: evaluate, notify, store.
    func evaluate() async {
        guard leads() else {
            led = false
            await reload()
            recordFiring()
            return
        }
        if !led {
            // Taking the lead (or the first round): what the previous leader stored is the truth.
            await reload()
            led = true
        }
        let silencesChanged = await syncSilences()
        let started = ContinuousClock.now
        let reading = clock.reading
        let now = reading.wallClockSeconds
        let states = await hub.states()
        let refusedBefore = book.refused
        var changes = book.update(evaluator.evaluate(states, now: now), now: now, monotonic: reading.seconds)
        if book.expireSilences(before: now) || silencesChanged { changes.changed = true }
        metrics.refused.increment(by: book.refused - refusedBefore)
        for id in changes.fired {
            if let alert = book.alerts[id] { logger.notice("Alert firing", metadata: ["alert": "\(id)", "summary": "\(alert.summary)"]) }
        }
        for id in changes.resolved { logger.notice("Alert resolved", metadata: ["alert": "\(id)"]) }
        let delivered = await deliver(now: now, monotonic: reading.seconds)
        if changes.changed || delivered { await persist() }
        recordFiring()
        metrics.evaluationSeconds.record((ContinuousClock.now - started).seconds)
    }

    private func recordFiring() {
        var firing: [Event.Severity: Int] = [.info: 0, .warning: 0, .critical: 0]
        for alert in book.alerts.values where alert.state == .firing { firing[alert.severity, default: 0] += 1 }
        for (severity, count) in firing { metrics.firing[severity]?.record(count) }
    }

    /// Sends every receiver what it is due; returns whether anything was delivered.
    private func deliver(now: Double, monotonic: Double) async -> Bool {
        var plans: [(receiver: any AlertReceiver, notifications: [AlertNotification])] = []
        for receiver in receivers {
            let due = book.due(for: receiver.name, repeatInterval: receiver.repeatInterval, now: now, monotonic: monotonic)
            guard !due.firing.isEmpty || !due.resolved.isEmpty else { continue }
            plans.append((receiver, Self.group(firing: due.firing, resolved: due.resolved, by: configuration.groupBy, now: now)))
        }
        guard !plans.isEmpty else { return false }
        let logger = self.logger
        let outcomes = await withTaskGroup(of: (String, [AlertNotification], [String]).self) { group in
            for plan in plans {
                group.addTask {
                    var done: [AlertNotification] = []
                    var failures: [String] = []
                    for notification in plan.notifications {
                        do {
                            try await plan.receiver.deliver(notification)
                            done.append(notification)
                        } catch {
                            failures.append("\(error)")
                        }
                    }
                    if let failure = failures.first {
                        logger.warning(
                            "Could not deliver alerts",
                            metadata: ["receiver": "\(plan.receiver.name)", "failed": "\(failures.count)", "error": "\(failure)"]
                        )
                    }
                    return (plan.receiver.name, done, failures)
                }
            }
            var outcomes: [(String, [AlertNotification], [String])] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        var delivered = false
        for (receiver, done, failures) in outcomes {
            for notification in done {
                book.markNotified(notification.firing.map(\.id), receiver: receiver, now: now, monotonic: monotonic)
                book.markResolutionSent(notification.resolved.map(\.id), receiver: receiver)
                delivered = true
            }
            metrics.notifications[receiver]?.success.increment(by: done.count)
            metrics.notifications[receiver]?.failure.increment(by: failures.count)
        }
        return delivered
    }

    /// Splits alerts into notifications by the values of the group-by labels.
    static func group(firing: [Alert], resolved: [Alert], by labels: [String], now: Double) -> [AlertNotification] {
        var groups: [String: AlertNotification] = [:]
        func key(_ alert: Alert) -> String {
            labels.map { "\($0)=\(alert.labels[$0] ?? "")" }.joined(separator: ",")
        }
        for alert in firing {
            groups[key(alert), default: AlertNotification(groupKey: key(alert), firing: [], resolved: [], now: now)].firing.append(alert)
        }
        for alert in resolved {
            groups[key(alert), default: AlertNotification(groupKey: key(alert), firing: [], resolved: [], now: now)].resolved.append(alert)
        }
        return groups.values.sorted { $0.groupKey < $1.groupKey }
    }

    private func persist() async {
        do {
            let bytes = try JSONEncoder().encode(book.snapshot)
            try await withCancellationShield { try await self.store.setValue(Array(bytes), forKey: Self.storeKey) }
        } catch {
            logger.error("Could not store alerts", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Silences (API)

    /// Adds a silence; throws a message for a bad one.
    func addSilence(matchers: [String: String], startsAt: Double?, endsAt: Double, createdBy: String, comment: String) async throws -> Silence {
        let now = clock.wallClockSeconds
        guard !matchers.isEmpty, matchers.count <= 20 else { throw SilenceRefusal(description: "a silence needs 1 to 20 matchers") }
        for (name, value) in matchers where name.isEmpty || name.utf8.count > 128 || value.utf8.count > 256 {
            throw SilenceRefusal(description: "matcher '\(name.prefix(40))' is empty or too long")
        }
        let starts = startsAt ?? now
        guard endsAt > starts, endsAt > now else { throw SilenceRefusal(description: "endsAt must be in the future and after startsAt") }
        guard endsAt - now <= 366 * 86_400 else { throw SilenceRefusal(description: "a silence may last at most a year") }
        guard createdBy.utf8.count <= 256, comment.utf8.count <= 1024 else {
            throw SilenceRefusal(description: "createdBy or comment is too long")
        }
        guard book.silences.count < Self.maxSilences else {
            metrics.refusedSilences.increment()
            throw SilenceRefusal(description: "too many silences (\(Self.maxSilences))")
        }
        let silence = Silence(
            id: "api-" + UUID().uuidString.lowercased(),
            matchers: matchers,
            startsAt: starts,
            endsAt: endsAt,
            createdBy: createdBy,
            comment: comment
        )
        book.setSilence(silence)
        do {
            try await storeSilences { $0[silence.id] = silence }
        } catch {
            logger.error("Could not store silences", metadata: ["error": "\(error)"])
        }
        return silence
    }

    /// Removes a silence set through the API; configured ones stay (edit the file).
    func removeSilence(id: String) async -> Bool {
        guard !id.hasPrefix("cfg-") else { return false }
        var existed = book.removeSilence(id: id)
        do {
            try await storeSilences { existed = $0.removeValue(forKey: id) != nil || existed }
        } catch {
            logger.error("Could not store silences", metadata: ["error": "\(error)"])
        }
        return existed
    }

    /// Changes the stored API silences (starting from the book's when none are stored yet) and,
    /// when leading, stores the book too.
    private func storeSilences(_ change: (inout [String: Silence]) -> Void) async throws {
        let current = await storedSilences() ?? book.silences.values.filter { !$0.id.hasPrefix("cfg-") }
        // Ended silences leave the key here, so it holds at most the live ones plus this change.
        let now = clock.wallClockSeconds
        var silences = Dictionary(current.filter { $0.endsAt >= now }.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        change(&silences)
        let bytes = try JSONEncoder().encode(silences.values.sorted { $0.id < $1.id })
        try await withCancellationShield { try await self.store.setValue(Array(bytes), forKey: Self.silencesKey) }
        if leads() { await persist() }
    }

    struct Metrics {
        var firing: [Event.Severity: Gauge] = [:]
        var notifications: [String: (success: Counter, failure: Counter)] = [:]
        let refused: Counter
        let refusedSilences: Counter
        let evaluationSeconds: Gauge

        init(factory: any MetricsFactory, receivers: [String]) {
            for severity in [Event.Severity.info, .warning, .critical] {
                firing[severity] = Gauge(label: "vigil_alerts_firing", dimensions: [("severity", severity.rawValue)], factory: factory)
            }
            for receiver in receivers {
                notifications[receiver] = (
                    Counter(label: "vigil_alert_notifications_total", dimensions: [("receiver", receiver), ("result", "success")], factory: factory),
                    Counter(label: "vigil_alert_notifications_total", dimensions: [("receiver", receiver), ("result", "failure")], factory: factory)
                )
            }
            refused = Counter(label: "vigil_alerts_refused_total", factory: factory)
            refusedSilences = Counter(label: "vigil_alert_silences_refused_total", factory: factory)
            evaluationSeconds = Gauge(label: "vigil_alert_evaluation_seconds", factory: factory)
        }
    }
}

/// Why a silence from the API was refused (answered as 400 with this text).
struct SilenceRefusal: Error, CustomStringConvertible {
    var description: String
}

extension VigilApplication {
    /// The receivers `[alerting]` names.
    static func alertReceivers(_ configuration: VigilConfiguration, mqtt: MQTTClient?, announcer: Announcer?) throws -> [any AlertReceiver] {
        let alerting = configuration.alerting
        var receivers: [any AlertReceiver] = []
        if !alerting.alertmanager.isEmpty {
            receivers.append(
                AlertmanagerReceiver(
                    urls: alerting.alertmanager,
                    repeatInterval: alerting.alertmanagerResend.seconds,
                    generatorURL: alerting.externalURL,
                    httpClient: .shared
                )
            )
        }
        for webhook in alerting.webhooks {
            receivers.append(WebhookReceiver(configuration: webhook, repeatInterval: alerting.repeatInterval.seconds, httpClient: .shared))
        }
        if let topic = alerting.mqttTopic, let mqtt {
            receivers.append(MQTTAlertReceiver(prefix: topic, repeatInterval: alerting.repeatInterval.seconds, client: mqtt))
        }
        if !alerting.xmppTo.isEmpty, let announcer {
            let recipients = alerting.xmppTo
            receivers.append(
                XMPPAlertReceiver(repeatInterval: alerting.repeatInterval.seconds) { text in
                    let template = try StanzaTemplate(XMPPAlertReceiver.stanza(text))
                    _ = try await announcer.submit(Announcement(audience: .users(recipients), template: template, persist: false))
                }
            )
        }
        return receivers
    }
}

extension XMPPAlertReceiver {
    /// A chat message stanza with the text escaped; `%s` is where the Announcer puts each recipient.
    static func stanza(_ text: String) -> String {
        // The template's own placeholders (`%s`, `[inc_id]`) must not appear in the text.
        let escaped = XMLSerializer.escapedAttributeValue(text).replacing("%", with: "&#37;").replacing("[", with: "&#91;")
        return "<message to='%s' type='chat'><body>\(escaped)</body></message>"
    }
}
