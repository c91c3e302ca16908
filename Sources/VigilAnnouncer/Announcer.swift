//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization
public import VigilCore

/// Delivers announcements: accepts them, keeps them in an outbox that survives restarts, expands
/// them to recipients, renders one stanza per recipient and sends it at the global rate with
/// retries over the XMPP connections in turn.
///
/// - **Input.** ``submit(_:)`` stores the announcement in the outbox (the ``StateStore``, key
///   `announcer/outbox/<id>`) and queues it; when ``Settings/inputBuffer`` announcements already
///   wait, it refuses with ``SubmitError/busy`` (HTTP 503) rather than grow without bound.
/// - **Expansion.** ``Settings/workers`` announcements are worked on at once. A user list is sent
///   in order; a channel is read page by page from the ``RecipientSource``. A channel whose source
///   keeps failing for ``Settings/recipientSourceGiveUp`` gives up with an `announcement_failed`
///   event and stays in the outbox until ``retry(id:)`` (`POST /api/v1/announcements/{id}/retry`).
/// - **Sending.** One ``SendPacer`` for all workers holds the rate; each stanza goes to the next
///   connected connection (``ConnectionRotation``); a failed send is retried on the next one
///   after the pauses of ``Settings/retry``. A stanza that still fails is counted, not dropped
///   silently: `vigil_announcer_messages_total{result="failed"}`, and the announcement's
///   completion event says how many.
/// - **Confirmation and progress.** Recipients go in batches of ``Settings/progressInterval``. After
///   each batch, every stream it was written into must confirm it (``StanzaSender/confirm(_:)``:
///   a XEP-0198 acknowledgement where the server offers stream management, otherwise a XEP-0199
///   ping round trip) before the batch's progress is saved. Recipients written into a stream that
///   broke or did not answer are sent again on another one. On a graceful stop no new stanza goes
///   out, what was written is confirmed and saved (shielded from the cancellation), so the next
///   start repeats nobody.
///
/// **Guarantee: at least once.** No recipient is skipped: after a crash (`kill -9`), a lost
/// connection or a server that stops answering, every recipient not confirmed is sent again.
/// Duplicates are bounded by the batch size: only a crash between a batch's first send and its
/// saved progress repeats that batch's recipients.
///
/// **Several instances on one outbox** (a shared Redis store, ``Sharing``): each job belongs to the
/// instance that accepted it (`owner`), which alone sends it. The jobs of an instance that is gone
/// are taken over by one live instance (``Sharing/adopts``), which writes its name into them first.
/// Before saving a batch's progress a worker checks that the stored job is still its own, and stops
/// when another instance took it over (it was believed gone): at most that batch is sent twice, the
/// same bound as a crash. One instance (``Sharing/archives``) hands the archive rows to the archive.
///
/// Metrics: `vigil_announcer_messages_total{result="sent"|"confirmed"|"resent"|"failed"|"retried"}`
/// (`sent`: written to a stream; `confirmed`: taken by the server; `resent`: sent again after a
/// broken stream; `retried`: a send attempt repeated after it failed),
/// `vigil_announcer_announcements_total{result="accepted"|"completed"|"refused"|"failed"}`,
/// `vigil_announcer_queued` (gauge), `vigil_announcer_takeovers_total` (jobs taken over from an
/// instance that is gone). Events: `announcement_completed` (info, or warning when
/// some stanzas failed), `announcement_failed` (critical).
public final class Announcer: Service, Sendable {
    /// How the Announcer works.
    public struct Settings: Sendable, Hashable {
        /// Announcements that may wait before ``submit(_:)`` refuses.
        public var inputBuffer = 100
        /// Announcements expanded and sent at the same time.
        public var workers = 2
        /// Messages per second over all connections.
        public var rateLimit: Double = 10
        /// Retries of a failed send.
        public var retry = RetrySchedule(retries: 6)
        /// The domain added to usernames without `@`.
        public var domain: String
        /// Channel members fetched per page.
        public var pageLength = 100
        /// Recipients between two saves of an announcement's progress: the batch that is confirmed
        /// by the XMPP server before its progress is saved, and so the most recipients a crash
        /// can repeat.
        public var progressInterval = 50
        /// How long a channel announcement waits for a failing recipient source (MySQL, Redis)
        /// before it gives up with an `announcement_failed` event; the job stays in the outbox for
        /// ``Announcer/retry(id:)``.
        public var recipientSourceGiveUp: Duration = .seconds(300)
        /// When sending as an XMPP component: its domain, into which every stanza's `from` is
        /// moved (see ``StanzaTemplate/sendingFrom(domain:)``).
        public var componentDomain: String?
        /// `persist: true` announcements waiting for the ``AnnouncementArchive`` beyond which
        /// ``Announcer/submit(_:)`` refuses with ``Announcer/SubmitError/busy`` (the archive is down).
        public var archiveBacklogLimit = 10_000
        /// Announcements handed to the archive at once.
        public var archiveBatch = 200

        /// Creates settings.
        public init(domain: String) {
            self.domain = domain
        }
    }

    /// How instances that share one outbox divide it.
    public struct Sharing: Sendable {
        /// This instance's name, written into the jobs it works on.
        public var instance: String
        /// Whether this instance takes over the jobs of `owner`, an instance that is gone (an empty
        /// name for jobs stored before instances were named): true on exactly one live instance.
        public var adopts: @Sendable (_ owner: String) -> Bool
        /// Whether this instance hands the archive rows (of every instance) to the archive.
        public var archives: @Sendable () -> Bool
        /// How often the outbox is read for jobs to take over, and the archive rows for those of
        /// other instances.
        public var scanInterval: Duration

        /// Creates the sharing of an outbox.
        public init(
            instance: String,
            adopts: @escaping @Sendable (_ owner: String) -> Bool,
            archives: @escaping @Sendable () -> Bool,
            scanInterval: Duration = .seconds(1)
        ) {
            self.instance = instance
            self.adopts = adopts
            self.archives = archives
            self.scanInterval = scanInterval
        }
    }

    /// Why ``submit(_:)`` refused an announcement.
    public enum SubmitError: Error, Hashable, CustomStringConvertible {
        /// Too many announcements wait already.
        case busy
        /// A channel announcement, but no recipient source is configured.
        case noRecipientSource
        /// The outbox could not store it.
        case storeFailed(String)
        /// The stanza cannot be sent as it is.
        case invalid(String)

        public var description: String {
            switch self {
            case .busy: "too many announcements are waiting; try again later"
            case .noRecipientSource: "channel announcements need [mysql] and a user-activity source"
            case .storeFailed(let reason): "the announcement could not be stored: \(reason)"
            case .invalid(let reason): reason
            }
        }
    }

    /// What ``submit(_:)`` returns.
    public struct Receipt: Sendable, Hashable, Codable {
        /// The announcement's id (also in its completion event).
        public var id: String
        /// How many recipients, when known at once (user lists).
        public var recipients: Int?
    }

    /// An announcement in the outbox, with its progress.
    struct Job: Sendable, Hashable, Codable {
        var id: String
        var channel: Int64?
        var usernames: [String]?
        var template: String
        var persist: Bool
        var accepted: Double
        /// User lists: the next recipient's index.
        var next = 0
        /// Channels: where the next page starts.
        var cursor: String?
        var sent = 0
        var failed = 0
        /// Channels: recipients of the page at `cursor` already done (after a stop part-way).
        var pageOffset: Int?
        /// Why the job gave up; it then waits in the outbox for ``Announcer/retry(id:)``.
        var held: String?
        /// The instance that works on it, when instances share the outbox.
        var owner: String?
    }

    static let outboxPrefix = "announcer/outbox/"

    private let settings: Settings
    private let sender: any StanzaSender
    private let recipients: (any RecipientSource)?
    private let store: any StateStore
    private let record: @Sendable (Event) async -> Void
    private let logger: Logger
    /// Pacing and retry pauses run on its monotonic time; acceptance times, ids and events are
    /// wall-clock stamps.
    private let clock: any VigilClock
    private let pacer: Mutex<SendPacer>
    private let rotation: Mutex<ConnectionRotation>
    /// Waiting jobs, idle workers, and the ids of every job queued or in progress (so the outbox
    /// read at start does not queue a job twice).
    private let queue: Mutex<(jobs: [Job], waiters: [CheckedContinuation<Void, Never>], known: Set<String>)> = Mutex(([], [], []))
    private let sequence = Atomic<Int>(0)
    /// Stanzas rendered and waiting for the pacer or a connection (at most one per worker).
    private let pendingSends = Atomic<Int>(0)
    /// Announcements in the outbox that gave up and wait for ``retry(id:)``.
    private let heldCount = Atomic<Int>(0)
    private let archive: (any AnnouncementArchive)?
    private let sharing: Sharing?
    /// Distinguishes this instance's announcement ids from those of others on a shared outbox.
    private let idSuffix: String
    /// Archive rows not yet archived (as last counted, plus those added since), how many were
    /// added in all (so the archiver never sleeps on a row added while it read the store), and the
    /// archiver's wake-up while it waits for one.
    private let archiveState: Mutex<(pending: Int, added: Int, waiter: CheckedContinuation<Void, Never>?)> = Mutex((0, 0, nil))

    private let sentCounter = Counter(label: "vigil_announcer_messages_total", dimensions: [("result", "sent")])
    private let failedCounter = Counter(label: "vigil_announcer_messages_total", dimensions: [("result", "failed")])
    private let retriedCounter = Counter(label: "vigil_announcer_messages_total", dimensions: [("result", "retried")])
    private let confirmedCounter = Counter(label: "vigil_announcer_messages_total", dimensions: [("result", "confirmed")])
    private let resentCounter = Counter(label: "vigil_announcer_messages_total", dimensions: [("result", "resent")])
    private let heldCounter = Counter(label: "vigil_announcer_announcements_total", dimensions: [("result", "failed")])
    private let acceptedCounter = Counter(label: "vigil_announcer_announcements_total", dimensions: [("result", "accepted")])
    private let completedCounter = Counter(label: "vigil_announcer_announcements_total", dimensions: [("result", "completed")])
    private let refusedCounter = Counter(label: "vigil_announcer_announcements_total", dimensions: [("result", "refused")])
    private let queuedGauge = Gauge(label: "vigil_announcer_queued")
    private let archivedCounter = Counter(label: "vigil_announcer_archived_total")
    private let archiveErrorCounter = Counter(label: "vigil_announcer_archive_errors_total")
    private let archivePendingGauge = Gauge(label: "vigil_announcer_archive_pending")
    private let takeoverCounter = Counter(label: "vigil_announcer_takeovers_total")

    /// Creates an Announcer; nothing is sent until ``run()``.
    ///
    /// - Parameters:
    ///   - settings: Rates, buffers, retries.
    ///   - sender: The XMPP connections.
    ///   - recipients: Channel membership; `nil` refuses channel announcements.
    ///   - store: Where the outbox lives.
    ///   - record: Records events (the hub's `record`).
    ///   - logger: Logger, label `vigil.announcer`.
    ///   - clock: The clock (``SystemClock``; tests pass a ``ManualClock``).
    ///   - archive: Where `persist: true` announcements go (seed 001: the Kafka producer topics);
    ///     `nil` keeps none.
    ///   - sharing: How the outbox is divided with other instances; `nil` when this one has it
    ///     alone.
    public init(
        settings: Settings,
        sender: any StanzaSender,
        recipients: (any RecipientSource)?,
        store: any StateStore,
        record: @escaping @Sendable (Event) async -> Void,
        logger: Logger = Logger(label: "vigil.announcer"),
        clock: any VigilClock = SystemClock(),
        archive: (any AnnouncementArchive)? = nil,
        sharing: Sharing? = nil
    ) {
        self.archive = archive
        self.sharing = sharing
        self.idSuffix = sharing.map { "-" + Self.shortHash($0.instance) } ?? ""
        self.settings = settings
        self.sender = sender
        self.recipients = recipients
        self.store = store
        self.record = record
        self.logger = logger
        self.clock = clock
        self.pacer = Mutex(SendPacer(rate: settings.rateLimit))
        self.rotation = Mutex(ConnectionRotation(count: sender.connectionCount))
    }

    /// How many announcements wait to be worked on.
    public var queuedCount: Int { queue.withLock { $0.jobs.count } }
    /// How many announcements are being sent (taken by a worker, not finished or failed).
    public var inProgressCount: Int { queue.withLock { $0.known.count - $0.jobs.count } }
    /// How many rendered stanzas wait for the pacer or a connection (at most one per worker).
    public var pendingSendCount: Int { pendingSends.load(ordering: .relaxed) }
    /// How many announcements are in the outbox: queued, being sent, or failed and waiting for
    /// ``retry(id:)``.
    public var outboxCount: Int { queue.withLock { $0.known.count } + max(0, heldCount.load(ordering: .relaxed)) }

    /// Accepts an announcement: stores it in the outbox and queues it.
    public func submit(_ announcement: Announcement) async throws(SubmitError) -> Receipt {
        var template = announcement.template
        if let domain = settings.componentDomain {
            do {
                template = try template.sendingFrom(domain: domain)
            } catch {
                refusedCounter.increment()
                throw .invalid(error.description)
            }
        }
        var job = Job(id: makeID(), template: template.text, persist: announcement.persist, accepted: clock.wallClockSeconds)
        job.owner = sharing?.instance
        switch announcement.audience {
        case .users(let usernames): job.usernames = usernames
        case .channel(let channel):
            guard recipients != nil else {
                refusedCounter.increment()
                throw .noRecipientSource
            }
            job.channel = channel
        }
        guard queuedCount < settings.inputBuffer else {
            refusedCounter.increment()
            throw .busy
        }
        let archived = archive != nil && announcement.persist
        if archived {
            guard archiveState.withLock({ $0.pending }) < settings.archiveBacklogLimit else {
                refusedCounter.increment()
                throw .busy
            }
        }
        do {
            // The archive row first: once the job is in the outbox, its archiving is too.
            if archived { try await store.setValue(Self.archiveBody(announcement, id: job.id), forKey: Self.archivePrefix + job.id) }
            try await save(job)
        } catch {
            if archived { try? await store.removeValue(forKey: Self.archivePrefix + job.id) }
            refusedCounter.increment()
            throw .storeFailed("\(error)")
        }
        if archived { archiveAdded(1) }
        enqueue([job])
        acceptedCounter.increment()
        logger.debug("Announcement accepted", metadata: ["announcement.id": "\(job.id)", "announcement.recipients": "\(job.usernames?.count ?? -1)"])
        return Receipt(id: job.id, recipients: job.usernames?.count)
    }

    /// Why ``retry(id:)`` refused.
    public enum RetryError: Error, Hashable, CustomStringConvertible {
        /// No announcement with this id is in the outbox.
        case notFound
        /// The announcement has not failed: it is queued or being sent.
        case notFailed
        /// The outbox could not be read or written.
        case storeFailed(String)

        public var description: String {
            switch self {
            case .notFound: "no announcement with this id is in the outbox"
            case .notFailed: "the announcement has not failed; it is queued or being sent"
            case .storeFailed(let reason): "the outbox could not be updated: \(reason)"
            }
        }
    }

    /// Queues again an announcement that gave up (`announcement_failed`, for example after its
    /// recipient source kept failing); it continues where it stopped.
    public func retry(id: String) async throws(RetryError) -> Receipt {
        // Ids are `a<millis>-<serial>`; anything else cannot name an outbox entry.
        guard !id.isEmpty, id.count <= 64, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw .notFound
        }
        var job: Job
        let stored: [UInt8]?
        do {
            stored = try await store.value(forKey: Self.outboxPrefix + id)
        } catch {
            throw .storeFailed("\(error)")
        }
        guard let stored, let decoded = try? JSONDecoder().decode(Job.self, from: Data(stored)) else { throw .notFound }
        job = decoded
        guard job.held != nil, queue.withLock({ !$0.known.contains(id) }) else { throw .notFailed }
        job.held = nil
        job.owner = sharing?.instance
        do {
            try await save(job)
        } catch {
            throw .storeFailed("\(error)")
        }
        heldCount.subtract(1, ordering: .relaxed)
        enqueue([job])
        logger.info("Announcement queued again", metadata: ["announcement.id": "\(id)"])
        return Receipt(id: id, recipients: job.usernames.map { $0.count - job.next })
    }

    /// Resumes the outbox, then works until graceful shutdown. Announcements in progress keep
    /// their saved progress and continue at the next start.
    public func run() async throws {
        do {
            let stored = try await store.values(prefix: Self.outboxPrefix)
            // On a shared outbox, this instance's own; the others' are taken over when theirs are gone.
            let all = stored.compactMap { try? JSONDecoder().decode(Job.self, from: Data($0.value)) }
                .filter { sharing == nil || $0.owner == sharing?.instance }
            heldCount.store(all.filter { $0.held != nil }.count, ordering: .relaxed)
            let jobs = all.filter { $0.held == nil }
                .sorted { $0.accepted < $1.accepted }
            if !jobs.isEmpty {
                logger.info("Resuming announcements from the outbox", metadata: ["announcer.outbox": "\(jobs.count)"])
                enqueue(jobs)
            }
        } catch {
            logger.error("Could not read the announcer outbox", metadata: ["error": "\(error)"])
        }
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<max(1, self.settings.workers) {
                    group.addTask { await self.work() }
                }
                if let archive = self.archive {
                    group.addTask { await self.archiveLoop(archive) }
                }
                if let sharing = self.sharing {
                    group.addTask { await self.takeOverLoop(sharing) }
                }
            }
        }
    }

    // MARK: - Sharing

    /// Takes over, every ``Sharing/scanInterval``, the jobs of instances that are gone.
    private func takeOverLoop(_ sharing: Sharing) async {
        while !Task.isCancelled {
            do { try await clock.sleep(for: sharing.scanInterval) } catch { return }
            let stored: [(key: String, value: [UInt8])]
            do {
                stored = try await store.values(prefix: Self.outboxPrefix)
            } catch {
                logger.error("Could not read the announcer outbox", metadata: ["error": "\(error)"])
                continue
            }
            var adopted: [Job] = []
            for row in stored {
                guard var job = try? JSONDecoder().decode(Job.self, from: Data(row.value)), job.owner != sharing.instance else { continue }
                let previous = job.owner ?? ""
                guard sharing.adopts(previous) else { continue }
                job.owner = sharing.instance
                do {
                    try await save(job)
                } catch {
                    logger.error("Could not take over an announcement", metadata: ["announcement.id": "\(job.id)", "error": "\(error)"])
                    continue
                }
                takeoverCounter.increment()
                logger.notice(
                    "Took over an announcement of an instance that is gone",
                    metadata: ["announcement.id": "\(job.id)", "instance": "\(previous)"]
                )
                if job.held != nil { heldCount.add(1, ordering: .relaxed) } else { adopted.append(job) }
            }
            if !adopted.isEmpty { enqueue(adopted.sorted { $0.accepted < $1.accepted }) }
        }
    }

    /// Whether the stored job still belongs to this instance (always, without sharing). A job that
    /// is gone (finished by the instance that took it over) is not; a store that cannot be read
    /// does not stop the work.
    private func stillOwned(_ job: Job) async -> Bool {
        guard let sharing else { return true }
        let stored: [UInt8]?
        do {
            stored = try await store.value(forKey: Self.outboxPrefix + job.id)
        } catch {
            return true
        }
        let owner = stored.flatMap { try? JSONDecoder().decode(Job.self, from: Data($0)) }?.owner
        if stored != nil, owner == sharing.instance { return true }
        logger.warning(
            "Another instance took over this announcement; stopping here",
            metadata: ["announcement.id": "\(job.id)", "instance": "\(owner ?? "none")"]
        )
        _ = queue.withLock { $0.known.remove(job.id) }
        return false
    }

    /// Saves a job's progress, unless another instance took it over (then false: stop working on it).
    private func saveProgress(_ job: Job) async -> Bool {
        guard await stillOwned(job) else { return false }
        await saveShielded(job)
        return true
    }

    /// Eight hex digits of the instance name's FNV-1a (``WorkOwnership/fnv1a(_:)``): short and
    /// stable across processes (unlike `hashValue`).
    static func shortHash(_ text: String) -> String {
        let digits = String(WorkOwnership.fnv1a(text) & 0xFFFF_FFFF, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    // MARK: - Archive

    static let archivePrefix = "announcer/archive/"

    /// The JSON written to the archive: the REST body it came as (`channel_id` or `usernames`,
    /// `message` in base64, `persist`) with the announcement's `id` and `accepted` time.
    static func archiveBody(_ announcement: Announcement, id: String) throws -> [UInt8] {
        struct Body: Encodable {
            var id: String
            var channelID: Int64?
            var usernames: [String]?
            var message: String
            var persist = true

            enum CodingKeys: String, CodingKey {
                case id, usernames, message, persist
                case channelID = "channel_id"
            }
        }
        var body = Body(id: id, message: Data(announcement.template.text.utf8).base64EncodedString())
        switch announcement.audience {
        case .channel(let channel): body.channelID = channel
        case .users(let usernames): body.usernames = usernames
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(body))
    }

    private func archiveAdded(_ count: Int) {
        let (pending, waiter) = archiveState.withLock { state in
            state.pending += count
            state.added += count
            defer { state.waiter = nil }
            return (state.pending, state.waiter)
        }
        archivePendingGauge.record(pending)
        waiter?.resume()
    }

    /// Hands the archive rows to the archive, oldest first, in batches; a row is removed only
    /// once the archive has taken it, so a failure or a restart loses none (at least once).
    private func archiveLoop(_ archive: any AnnouncementArchive) async {
        var failures = 0
        while !Task.isCancelled {
            if let sharing, !sharing.archives() {
                // Another instance archives; only keep the backlog count that bounds submit().
                if let rows = try? await store.values(prefix: Self.archivePrefix) {
                    archiveState.withLock { $0.pending = rows.count }
                    archivePendingGauge.record(rows.count)
                }
                do { try await clock.sleep(for: sharing.scanInterval) } catch { return }
                continue
            }
            let seen = archiveState.withLock { $0.added }
            let rows: [(key: String, value: [UInt8])]
            do {
                rows = try await store.values(prefix: Self.archivePrefix)
            } catch {
                logger.error("Could not read the announcer's archive rows", metadata: ["error": "\(error)"])
                failures += 1
                do { try await clock.sleep(for: Self.archivePause(failures)) } catch { return }
                continue
            }
            archiveState.withLock { $0.pending = rows.count }
            archivePendingGauge.record(rows.count)
            guard !rows.isEmpty else {
                if let sharing {
                    // Rows of other instances raise no wake-up here: look again after a pause.
                    do { try await clock.sleep(for: sharing.scanInterval) } catch { return }
                    continue
                }
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let resumeNow = archiveState.withLock { state -> Bool in
                            if state.added != seen || Task.isCancelled { return true }
                            state.waiter = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    let waiter = self.archiveState.withLock { state in
                        defer { state.waiter = nil }
                        return state.waiter
                    }
                    waiter?.resume()
                }
                continue
            }
            // Ids are `a<millis>-<serial>`: sorting by acceptance time keeps the archive in order.
            let batch = rows.sorted { Self.acceptanceOrder($0.key, $1.key) }.prefix(max(1, settings.archiveBatch))
            let entries = batch.map { ArchivedAnnouncement(id: String($0.key.dropFirst(Self.archivePrefix.count)), body: $0.value) }
            do {
                try await archive.archive(entries)
            } catch {
                if Task.isCancelled { return }
                failures += 1
                archiveErrorCounter.increment()
                logger.warning(
                    "Could not archive announcements; trying again",
                    metadata: ["announcer.archive_pending": "\(rows.count)", "error": "\(error)"]
                )
                do { try await clock.sleep(for: Self.archivePause(failures)) } catch { return }
                continue
            }
            failures = 0
            archivedCounter.increment(by: entries.count)
            let store = self.store
            for row in batch {
                do {
                    try await withCancellationShield { try await store.removeValue(forKey: row.key) }
                } catch {
                    logger.error("Could not mark an announcement archived", metadata: ["announcement.archive": "\(row.key)", "error": "\(error)"])
                }
            }
        }
    }

    /// 0.5 s doubling to 30 s.
    private static func archivePause(_ failures: Int) -> Duration {
        min(.milliseconds(500 * (1 << min(max(failures - 1, 0), 6))), .seconds(30))
    }

    /// Orders `…/a<millis>-<serial>` keys by time, then serial (plain string order would put
    /// serial 10 before 9).
    private static func acceptanceOrder(_ left: String, _ right: String) -> Bool {
        func parts(_ key: String) -> (Int64, Int64) {
            let id = key.split(separator: "/").last.map(String.init) ?? key
            let numbers = id.dropFirst().split(separator: "-").compactMap { Int64($0) }
            return (numbers.first ?? 0, numbers.dropFirst().first ?? 0)
        }
        let (a, b) = (parts(left), parts(right))
        return a != b ? a < b : left < right
    }

    // MARK: - Work

    private func enqueue(_ jobs: [Job]) {
        let (count, waiters) = queue.withLock { queue in
            for job in jobs where queue.known.insert(job.id).inserted { queue.jobs.append(job) }
            defer { queue.waiters.removeAll() }
            return (queue.jobs.count, queue.waiters)
        }
        queuedGauge.record(count)
        for waiter in waiters { waiter.resume() }
    }

    /// Wakes every idle worker (new work, or shutdown).
    private func wakeAll() {
        let waiters = queue.withLock { queue in
            defer { queue.waiters.removeAll() }
            return queue.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func work() async {
        while !Task.isCancelled {
            let job: Job? = queue.withLock { $0.jobs.isEmpty ? nil : $0.jobs.removeFirst() }
            guard let job else {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let resumeNow = queue.withLock { queue -> Bool in
                            if !queue.jobs.isEmpty || Task.isCancelled { return true }
                            queue.waiters.append(continuation)
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    self.wakeAll()
                }
                continue
            }
            queuedGauge.record(queuedCount)
            await process(job)
        }
    }

    private func process(_ original: Job) async {
        var job = original
        let template: StanzaTemplate
        do {
            template = try StanzaTemplate(job.template)
        } catch {
            logger.error("Dropping an unreadable announcement from the outbox", metadata: ["announcement.id": "\(job.id)", "error": "\(error)"])
            await remove(job)
            return
        }
        // Queued here before another instance took it over (this one was believed gone).
        guard await stillOwned(job) else { return }
        if let usernames = job.usernames {
            while job.next < usernames.count, !Task.isCancelled {
                let start = job.next
                let end = min(usernames.count, start + max(1, settings.progressInterval))
                let batch = await sendBatch(Array(usernames[start..<end]), firstIndex: start, template: template)
                job.next += batch.done
                job.sent += batch.sent
                job.failed += batch.failed
                guard await saveProgress(job) else { return }
                if batch.done < end - start { return }  // stopped part-way; the rest goes after the restart
            }
            if job.next < usernames.count { return }
        } else if let channel = job.channel, let recipients {
            var failingSince: Double?
            // A cursor of nil means the first page, so a job whose last page is done must finish
            // now, even when a stop is under way: saved as is, it would start over.
            var finished = false
            while !Task.isCancelled {
                let page: RecipientPage
                do {
                    page = try await recipients.onlineMembers(ofChannel: channel, after: job.cursor, limit: settings.pageLength)
                    failingSince = nil
                } catch {
                    if Task.isCancelled { return }
                    let now = clock.now.seconds
                    let since = failingSince ?? now
                    failingSince = since
                    if now - since >= settings.recipientSourceGiveUp.secondsDouble {
                        await hold(job, reason: "channel members could not be read for \(settings.recipientSourceGiveUp): \(error)")
                        return
                    }
                    logger.warning("Could not read channel members; retrying", metadata: ["announcement.id": "\(job.id)", "error": "\(error)"])
                    try? await clock.sleep(for: .seconds(1))
                    continue
                }
                // A page goes in batches like a user list; `pageOffset` keeps the recipients of this
                // page already done, since after a stop the page is read again.
                var offset = min(job.pageOffset ?? 0, page.usernames.count)
                while offset < page.usernames.count {
                    let end = min(page.usernames.count, offset + max(1, settings.progressInterval))
                    let batch = await sendBatch(Array(page.usernames[offset..<end]), firstIndex: job.sent + job.failed, template: template)
                    job.sent += batch.sent
                    job.failed += batch.failed
                    let stopped = batch.done < end - offset
                    offset += batch.done
                    guard offset < page.usernames.count else { break }
                    job.pageOffset = offset
                    guard await saveProgress(job) else { return }
                    if stopped { return }
                }
                job.cursor = page.next
                job.pageOffset = nil
                guard await saveProgress(job) else { return }
                if page.next == nil {
                    finished = true
                    break
                }
            }
            guard finished else { return }
        }
        await remove(job)
        completedCounter.increment()
        let event = Event(
            time: clock.wallClockSeconds,
            type: "announcement_completed",
            severity: job.failed > 0 ? .warning : .info,
            message: "Announcement \(job.id) sent to \(job.sent) recipient(s)" + (job.failed > 0 ? ", \(job.failed) failed" : ""),
            fields: ["announcement": job.id, "sent": "\(job.sent)", "failed": "\(job.failed)"]
        )
        await record(event)
    }

    /// Removes a finished or unreadable job from the outbox.
    private func remove(_ job: Job) async {
        let store = self.store
        let key = Self.outboxPrefix + job.id
        do {
            try await withCancellationShield { try await store.removeValue(forKey: key) }
        } catch {
            logger.error("Could not remove a finished announcement from the outbox", metadata: ["announcement.id": "\(job.id)", "error": "\(error)"])
        }
        _ = queue.withLock { $0.known.remove(job.id) }
    }

    /// Gives up on a job for now: it stays in the outbox, marked, until ``retry(id:)``.
    private func hold(_ original: Job, reason: String) async {
        var job = original
        job.held = reason
        await saveShielded(job)
        _ = queue.withLock { $0.known.remove(job.id) }
        heldCounter.increment()
        heldCount.add(1, ordering: .relaxed)
        logger.error("Announcement failed; kept for a retry through the API", metadata: ["announcement.id": "\(job.id)", "error": "\(reason)"])
        await record(
            Event(
                time: clock.wallClockSeconds,
                type: "announcement_failed",
                severity: .critical,
                message: "Announcement \(job.id) stopped after \(job.sent) recipient(s): \(reason); "
                    + "POST /api/v1/announcements/\(job.id)/retry sends the rest",
                fields: ["announcement": job.id, "sent": "\(job.sent)", "failed": "\(job.failed)", "reason": reason]
            )
        )
    }

    /// What became of a batch.
    private struct BatchOutcome {
        /// Recipients from the start of the batch whose delivery is settled (confirmed or failed);
        /// fewer than the batch when stopped.
        var done = 0
        var sent = 0
        var failed = 0
    }

    private enum RecipientState {
        case pending
        case written(StanzaStream)
        case confirmed
        case failed
    }

    /// Sends a batch, then confirms every stream it was written into before its progress may be
    /// saved. Recipients written into a stream that broke, or did not confirm in time, are sent
    /// again on another one, and confirmed again. When stopping, no new stanza goes out; what was
    /// written is still confirmed (shielded from the cancellation), so the saved progress holds
    /// exactly the confirmed recipients and a graceful stop repeats nobody.
    private func sendBatch(_ usernames: [String], firstIndex: Int, template: StanzaTemplate) async -> BatchOutcome {
        var states = [RecipientState](repeating: .pending, count: usernames.count)
        var resend: [Int] = Array(usernames.indices)
        var round = 0
        while !resend.isEmpty {
            for offset in resend {
                if Task.isCancelled { break }
                if round > 0 { resentCounter.increment() }
                switch await deliver(to: usernames[offset], template: template, index: firstIndex + offset) {
                case .sent(let stream): states[offset] = .written(stream)
                case .failed: states[offset] = .failed
                case .cancelled: break
                }
            }
            var streams: [StanzaStream] = []
            for state in states {
                if case .written(let stream) = state, !streams.contains(stream) { streams.append(stream) }
            }
            let broken = await confirm(streams)
            resend = []
            for offset in states.indices {
                guard case .written(let stream) = states[offset] else { continue }
                if broken.contains(stream) {
                    states[offset] = .pending
                    resend.append(offset)
                } else {
                    states[offset] = .confirmed
                    confirmedCounter.increment()
                }
            }
            if Task.isCancelled { break }
            round += 1
            // Streams that keep breaking before they confirm: after as many rounds as a send has
            // retries, the rest is counted as failed (named in the completion event), as a send
            // that keeps failing is.
            if round > settings.retry.retries, !resend.isEmpty {
                logger.warning(
                    "Announcement stanzas unconfirmed after \(round) rounds; counted as failed",
                    metadata: ["announcer.unconfirmed": "\(resend.count)"]
                )
                for offset in resend { states[offset] = .failed }
                failedCounter.increment(by: resend.count)
                resend = []
            }
        }
        var outcome = BatchOutcome()
        for state in states {
            switch state {
            case .confirmed: outcome.sent += 1
            case .failed: outcome.failed += 1
            case .pending, .written: return outcome
            }
            outcome.done += 1
        }
        return outcome
    }

    /// Confirms streams at once (a stop waits for the slowest, not for their sum), each shielded
    /// from cancellation; returns the ones that broke or did not answer.
    private func confirm(_ streams: [StanzaStream]) async -> Set<StanzaStream> {
        let sender = self.sender
        return await withTaskGroup(of: (StanzaStream, String?).self) { group in
            for stream in streams {
                group.addTask {
                    do {
                        try await withCancellationShield { try await sender.confirm(stream) }
                        return (stream, nil)
                    } catch {
                        return (stream, "\(error)")
                    }
                }
            }
            var broken: Set<StanzaStream> = []
            for await (stream, problem) in group {
                guard let problem else { continue }
                broken.insert(stream)
                logger.warning(
                    "XMPP stream broke before it confirmed the batch; sending its part again",
                    metadata: ["xmpp.connection": "\(stream.connection)", "error": "\(problem)"]
                )
            }
            return broken
        }
    }

    private enum Delivery {
        case sent(StanzaStream)
        case failed
        /// Shutting down: the stanza was not sent and counts as neither.
        case cancelled
    }

    /// Renders and sends one recipient's stanza. A recipient that is no valid username or JID
    /// (channel members come from a database; outbox entries may predate the check) is counted as
    /// failed and never sent.
    private func deliver(to username: String, template: StanzaTemplate, index: Int) async -> Delivery {
        if let problem = RecipientAddress.problem(in: username) {
            failedCounter.increment()
            logger.debug("Skipping a recipient that is not a valid XMPP address", metadata: ["error": "\(problem)"])
            return .failed
        }
        return await deliver(template.render(username: username, domain: settings.domain, index: index))
    }

    /// Sends one stanza at the global rate, retrying on the next connections.
    private func deliver(_ stanza: String) async -> Delivery {
        pendingSends.add(1, ordering: .relaxed)
        defer { pendingSends.subtract(1, ordering: .relaxed) }
        var attempt = 1
        while true {
            let time = clock.now.seconds
            let wait = pacer.withLock { $0.reserve(now: time) }
            if wait > 0 {
                do { try await clock.sleep(for: .nanoseconds(Int64((wait * 1e9).rounded(.up)))) } catch { return .cancelled }
            }
            let sender = self.sender
            let index = rotation.withLock { $0.pick { sender.isConnected($0) } }
            var problem = "no XMPP connection is up"
            if let index {
                do {
                    let stream = try await sender.send(stanza, on: index)
                    sentCounter.increment()
                    return .sent(stream)
                } catch {
                    problem = "\(error)"
                }
            }
            guard let pause = settings.retry.pause(afterAttempt: attempt) else {
                failedCounter.increment()
                logger.warning("Announcement stanza not sent after \(attempt) attempts", metadata: ["error": "\(problem)"])
                return .failed
            }
            retriedCounter.increment()
            attempt += 1
            do { try await clock.sleep(for: pause) } catch { return .cancelled }
        }
    }

    /// Saves a job's progress, also while shutting down (the worker's task is cancelled then, and
    /// a store that honours cancellation would refuse the write).
    private func saveShielded(_ job: Job) async {
        do {
            try await withCancellationShield { try await self.save(job) }
        } catch {
            logger.error("Could not save an announcement's progress", metadata: ["announcement.id": "\(job.id)", "error": "\(error)"])
        }
    }

    private func save(_ job: Job) async throws {
        try await store.setValue(Array(try JSONEncoder().encode(job)), forKey: Self.outboxPrefix + job.id)
    }

    private func makeID() -> String {
        let serial = sequence.add(1, ordering: .relaxed).newValue
        return "a\(Int64(clock.wallClockSeconds * 1000))-\(serial)\(idSuffix)"
    }
}
