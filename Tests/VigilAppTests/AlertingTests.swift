//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing
import VigilCore
import VigilWeb

@testable import VigilApp

@Suite("Alerting")
struct AlertingTests {
    // MARK: - Configuration

    @Test("[[alert]] rules, receivers, silences and inhibitions are read; built-in rules can be disabled or replaced")
    func configuration() throws {
        let configuration = try VigilConfiguration.parse(
            """
            [alerting]
            interval = "5s"
            alertmanager = ["http://127.0.0.1:9093/"]
            disable = ["StreamDown"]
            group_by = ["alertname", "severity"]

            [[alerting.webhook]]
            url = "http://127.0.0.1:9999/hook"
            secret = "s3cret"
            retries = 2

            [[alerting.silence]]
            matchers = { device = "lab-*" }
            ends = "2030-01-01T00:00:00Z"
            comment = "lab"

            [[alerting.inhibit]]
            source = { alertname = "HostDown" }
            target = { alertname = "LowBitrate" }
            equal = ["host"]

            [[alert]]
            name = "LowBitrate"
            kind = "stream"
            targets = ["cam-*"]
            sample = "inbound_bytes_per_second"
            below = 1000
            for = "1m"
            severity = "critical"
            labels = { team = "media" }

            [[alert]]
            name = "GatewayDown"
            kind = "gateway"
            status = ["down"]
            """,
            file: "vigil.toml"
        )
        let alerting = configuration.alerting
        #expect(configuration.warnings.isEmpty, "\(configuration.warnings)")
        #expect(alerting.interval == .seconds(5))
        #expect(alerting.alertmanager == ["http://127.0.0.1:9093"])
        #expect(alerting.groupBy == ["alertname", "severity"])
        #expect(alerting.webhooks.map(\.name) == ["webhook-1"])
        #expect(alerting.webhooks.first?.secret == "s3cret")
        #expect(alerting.silences.first?.endsAt == 1_893_456_000)
        #expect(alerting.inhibitRules.count == InhibitRule.builtIn.count + 1)
        let names = alerting.rules.map(\.name)
        #expect(!names.contains("StreamDown"))
        #expect(names.filter { $0 == "GatewayDown" }.count == 1)
        let gatewayDown = try #require(alerting.rules.first { $0.name == "GatewayDown" })
        #expect(gatewayDown.condition == .status([.down]))
        #expect(gatewayDown.forSeconds == 0)
        let low = try #require(alerting.rules.first { $0.name == "LowBitrate" })
        #expect(low.condition == .threshold(sample: "inbound_bytes_per_second", comparison: .below, bound: 1000))
        #expect(low.forSeconds == 60)
        #expect(low.severity == .critical)
        #expect(low.labels == ["team": "media"])
    }

    @Test(
        "A rule or receiver that cannot work is refused with the key that is wrong",
        arguments: [
            ("[[alert]]\nname = \"A\"\nstatus = [\"down\"]\nstale = \"1m\"", "alert[0].name"),
            ("[[alert]]\nname = \"A\"\nstatus = [\"gone\"]", "alert[0].status"),
            ("[[alert]]\nname = \"A\"\nsample = \"x\"", "alert[0].sample"),
            ("[[alert]]\nname = \"A\"\nstatus = [\"down\"]\nfro = \"1m\"", "alert[0].fro"),
            ("[[alert]]\nname = \"A\"\nstatus = [\"down\"]\nlabels = { alertname = \"B\" }", "alert[0].labels"),
            ("[[alert]]\nname = \"A b\"\nstatus = [\"down\"]", "alert[0].name"),
            ("[[alert]]\nname = \"A\"\nstatus = [\"down\"]\n[[alert]]\nname = \"A\"\nstatus = [\"up\"]", "alert[1].name"),
            ("[alerting]\ndisable = [\"Nope\"]", "alerting.disable"),
            ("[alerting]\nalertmanager = [\"ftp://x\"]", "alerting.alertmanager"),
            ("[alerting]\nmqtt_topic = \"vigil/alerts\"", "alerting.mqtt_topic"),
            ("[alerting]\nxmpp_to = [\"ops@example.org\"]", "alerting.xmpp_to"),
            ("[[alerting.silence]]\nmatchers = { device = \"x\" }", "alerting.silence[0].ends"),
            ("[alerting]\ninterval = \"0s\"", "alerting.interval"),
        ]
    )
    func refused(text: String, key: String) {
        #expect {
            _ = try VigilConfiguration.parse(text, file: "vigil.toml")
        } throws: { error in
            (error as? ConfigurationError)?.key == key
        }
    }

    // MARK: - The service

    /// A receiver that records what it is given and fails while told to.
    final class Recorder: AlertReceiver, Sendable {
        let name: String
        let repeatInterval: Double
        let failing = Mutex(false)
        let received = Mutex<[AlertNotification]>([])

        init(name: String = "recorder", repeatInterval: Double = 3600) {
            self.name = name
            self.repeatInterval = repeatInterval
        }

        func deliver(_ notification: AlertNotification) async throws {
            if failing.withLock({ $0 }) { throw AlertDeliveryError(description: "refused") }
            received.withLock { $0.append(notification) }
        }

        var firing: [String] { received.withLock { $0.flatMap { $0.firing.map(\.id) } } }
        var resolved: [String] { received.withLock { $0.flatMap { $0.resolved.map(\.id) } } }
    }

    func service(hub: Hub, store: MemoryStore, receiver: Recorder, clock: ManualClock) -> AlertingService {
        AlertingService(
            configuration: AlertingConfiguration(),
            hub: hub,
            store: store,
            receivers: [receiver],
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            clock: clock
        )
    }

    @Test("A gateway down fires once, is not repeated after a restart, and its resolution survives the restart")
    func restart() async throws {
        let clock = ManualClock(wallClockSeconds: 1000)
        let store = MemoryStore()
        let hub = Hub(stores: store.stores, clock: clock)
        let gateway = TargetID(.gateway, "gw1")
        await hub.apply(Observation(target: gateway, time: 1000, status: .down))

        let recorder = Recorder()
        let first = service(hub: hub, store: store, receiver: recorder, clock: clock)
        await first.evaluate()
        #expect(recorder.firing.isEmpty)
        clock.advance(by: .seconds(31))
        await first.evaluate()
        #expect(recorder.firing == ["GatewayDown|gateway/gw1"])
        clock.advance(by: .seconds(10))
        await first.evaluate()
        #expect(recorder.firing.count == 1)

        // A new process on the same store: no repeat.
        let again = Recorder()
        let second = service(hub: hub, store: store, receiver: again, clock: clock)
        await second.evaluate()
        #expect(again.firing.isEmpty)

        // The receiver is down when the gateway comes back: the resolution waits, across a restart.
        again.failing.withLock { $0 = true }
        await hub.apply(Observation(target: gateway, time: clock.wallClockSeconds, status: .up))
        clock.advance(by: .seconds(10))
        await second.evaluate()
        #expect(again.resolved.isEmpty)

        let third = Recorder()
        let restarted = service(hub: hub, store: store, receiver: third, clock: clock)
        clock.advance(by: .seconds(10))
        await restarted.evaluate()
        #expect(third.resolved == ["GatewayDown|gateway/gw1"])
        #expect(third.firing.isEmpty)
        clock.advance(by: .seconds(10))
        await restarted.evaluate()
        #expect(third.resolved.count == 1)
        #expect(await restarted.book.alerts.isEmpty)
    }

    @Test("Instances on one store: only the leader notifies, followers show its book, a new leader repeats nothing, a follower's silence holds")
    func leadership() async throws {
        let clock = ManualClock(wallClockSeconds: 1000)
        let store = MemoryStore()
        let hub = Hub(stores: store.stores, clock: clock)
        let leader = Mutex("a")
        func instance(_ name: String, _ recorder: Recorder) -> AlertingService {
            AlertingService(
                configuration: AlertingConfiguration(),
                hub: hub,
                store: store,
                receivers: [recorder],
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                clock: clock,
                leads: { leader.withLock { $0 == name } }
            )
        }
        let (toldA, toldB) = (Recorder(), Recorder())
        let (a, b) = (instance("a", toldA), instance("b", toldB))
        func round() async {
            await a.evaluate()
            await b.evaluate()
        }
        await hub.apply(Observation(target: TargetID(.gateway, "gw1"), time: 1000, status: .down))
        await round()
        clock.advance(by: .seconds(31))
        await round()
        #expect(toldA.firing == ["GatewayDown|gateway/gw1"])
        #expect(toldB.firing.isEmpty)
        // The follower shows what the leader stored.
        #expect(await b.book.alerts["GatewayDown|gateway/gw1"]?.state == .firing)

        // b takes over: nothing is told again.
        leader.withLock { $0 = "b" }
        clock.advance(by: .seconds(10))
        await round()
        #expect(toldA.firing.count == 1)
        #expect(toldB.firing.isEmpty)

        // A silence set on the follower (a) mutes a new alert at the leader (b), and the leader's
        // next store keeps it.
        let created = await a.addSilence(body: Array(#"{"matchers":{"gateway":"gw2"},"duration":"1h"}"#.utf8))
        guard case .done(let json, true) = created else {
            Issue.record("not created: \(created)")
            return
        }
        let silence = try JSONDecoder().decode(Silence.self, from: Data(json))
        await hub.apply(Observation(target: TargetID(.gateway, "gw2"), time: clock.wallClockSeconds, status: .down))
        await round()
        clock.advance(by: .seconds(31))
        await round()
        await round()
        #expect(toldB.firing.isEmpty)
        #expect(await b.book.silences[silence.id] != nil)
        #expect(await a.book.silences[silence.id] != nil)

        // Removed on the follower: the leader tells of gw2 at its next round.
        #expect(await a.removeSilence(id: silence.id) == .done(json: Array("{\"removed\":true}".utf8), created: false))
        await round()
        #expect(toldB.firing == ["GatewayDown|gateway/gw2"])
        #expect(toldA.firing.count == 1)

        // Ended silences leave the stored list when the next one is set: it stays bounded.
        _ = await a.addSilence(body: Array(#"{"matchers":{"gateway":"gw3"},"duration":"1m"}"#.utf8))
        clock.advance(by: .seconds(120))
        _ = await b.addSilence(body: Array(#"{"matchers":{"gateway":"gw4"},"duration":"1h"}"#.utf8))
        let stored = try #require(try await store.value(forKey: AlertingService.silencesKey))
        let kept = try JSONDecoder().decode([Silence].self, from: Data(stored))
        #expect(kept.map { $0.matchers["gateway"] } == ["gw4"])
    }

    @Test("Silences through the desk: bad bodies are refused, a silence mutes, configured ones cannot be deleted")
    func silences() async throws {
        let clock = ManualClock(wallClockSeconds: 1000)
        let store = MemoryStore()
        let hub = Hub(stores: store.stores, clock: clock)
        let recorder = Recorder()
        let alerting = service(hub: hub, store: store, receiver: recorder, clock: clock)

        for body in [
            "", "{}", "{\"matchers\":{}}", "{\"matchers\":{\"a\":\"b\"}}", "{\"matchers\":{\"a\":\"b\"},\"endsAt\":10}",
            "{\"matchers\":{\"a\":\"b\"},\"duration\":\"900d\"}", "{\"matchers\":{\"a\":\"b\"},\"duration\":\"soon\"}",
        ] {
            guard case .bad = await alerting.addSilence(body: Array(body.utf8)) else {
                Issue.record("accepted \(body)")
                continue
            }
        }
        let created = await alerting.addSilence(body: Array(#"{"matchers":{"gateway":"gw*"},"duration":"1h","comment":"maintenance"}"#.utf8))
        guard case .done(let json, true) = created else {
            Issue.record("not created: \(created)")
            return
        }
        let silence = try JSONDecoder().decode(Silence.self, from: Data(json))
        #expect(silence.endsAt == 4600)

        await hub.apply(Observation(target: TargetID(.gateway, "gw1"), time: 1000, status: .down))
        await alerting.evaluate()
        clock.advance(by: .seconds(40))
        await alerting.evaluate()
        #expect(recorder.firing.isEmpty)
        #expect(await alerting.book.alerts["GatewayDown|gateway/gw1"]?.state == .firing)
        let listing = String(decoding: await alerting.alerts(), as: UTF8.self)
        #expect(listing.contains("\"silencedBy\":\"\(silence.id)\""))

        #expect(await alerting.removeSilence(id: silence.id) == .done(json: Array("{\"removed\":true}".utf8), created: false))
        clock.advance(by: .seconds(40))
        await alerting.evaluate()
        #expect(recorder.firing == ["GatewayDown|gateway/gw1"])
        guard case .notFound = await alerting.removeSilence(id: "cfg-1") else {
            Issue.record("a configured silence was removable")
            return
        }
    }

    @Test("Alerts are grouped by the group-by labels")
    func grouping() {
        func alert(_ rule: String, _ name: String) -> Alert {
            var alert = Alert(
                id: "\(rule)|\(name)",
                rule: AlertRule(name: rule, condition: .stale(seconds: 1)),
                target: TargetID(.device, name),
                labels: ["alertname": rule, "device": name],
                summary: "",
                value: nil,
                now: 0
            )
            alert.state = .firing
            return alert
        }
        let groups = AlertingService.group(
            firing: [alert("A", "x"), alert("B", "y"), alert("A", "z")],
            resolved: [alert("B", "w")],
            by: ["alertname"],
            now: 0
        )
        #expect(groups.map(\.groupKey) == ["alertname=A", "alertname=B"])
        #expect(groups.map { $0.firing.count } == [2, 1])
        #expect(groups.map { $0.resolved.count } == [0, 1])
    }

    @Test("The silence routes refuse cross-site writes, non-JSON and oversized bodies, and a wrong token")
    func silenceRouteAbuse() async throws {
        let clock = ManualClock(wallClockSeconds: 1000)
        let store = MemoryStore()
        let hub = Hub(stores: store.stores, clock: clock)
        var configuration = WebConfiguration()
        configuration.token = "t0ken"
        var dependencies = WebDependencies(hub: hub, exporters: [], readiness: Readiness(), version: "1", configuration: configuration)
        let alerting = service(hub: hub, store: store, receiver: Recorder(), clock: clock)
        dependencies.alerts = alerting
        let app = Application(router: buildRouter(dependencies))
        let body = ByteBuffer(string: #"{"matchers":{"device":"x"},"duration":"1h"}"#)
        let json: HTTPFields = [.authorization: "Bearer t0ken", .contentType: "application/json"]
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/silences", method: .post, headers: [.contentType: "application/json"], body: body) {
                #expect($0.status == .unauthorized)
            }
            var foreign = json
            foreign[.origin] = "https://evil.example"
            try await client.execute(uri: "/api/v1/silences", method: .post, headers: foreign, body: body) { #expect($0.status == .forbidden) }
            try await client.execute(
                uri: "/api/v1/silences",
                method: .post,
                headers: [.authorization: "Bearer t0ken", .contentType: "text/plain"],
                body: body
            ) {
                #expect($0.status == .unsupportedMediaType)
            }
            try await client.execute(
                uri: "/api/v1/silences",
                method: .post,
                headers: json,
                body: ByteBuffer(repeating: UInt8(ascii: " "), count: 64 * 1024)
            ) {
                #expect($0.status == .contentTooLarge)
            }
            try await client.execute(uri: "/api/v1/silences/cfg-1", method: .delete, headers: foreign) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/api/v1/silences", method: .post, headers: json, body: body) { #expect($0.status == .created) }
            try await client.execute(uri: "/api/v1/silences", method: .get, headers: json) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""device":"x""#))
            }
        }
        #expect(await alerting.book.silences.count == 1)
    }

    // MARK: - Webhook

    @Test("A webhook gets signed JSON and is retried after a 500")
    func webhook() async throws {
        let answers = Mutex<[HTTPResponse.Status]>([.internalServerError, .ok])
        let requests = Mutex<[(headers: HTTPFields, body: [UInt8])]>([])
        let answer: @Sendable (String, HTTPFields, [UInt8]) -> (HTTPResponse.Status, String) = { _, headers, body in
            requests.withLock { $0.append((headers, body)) }
            return (answers.withLock { $0.isEmpty ? .ok : $0.removeFirst() }, "")
        }
        try await withTestHTTPServer(answer: answer) { base in
            var configuration = AlertingConfiguration.Webhook(name: "ops", url: base + "/hook", secret: "k3y")
            configuration.retries = 2
            let receiver = WebhookReceiver(configuration: configuration, repeatInterval: 60, httpClient: .shared)
            var alert = Alert(
                id: "DeviceExpired|device/esp04",
                rule: AlertRule.builtIn[2],
                target: TargetID(.device, "esp04"),
                labels: ["alertname": "DeviceExpired", "device": "esp04"],
                summary: "Device esp04 has been silent",
                value: nil,
                now: 100
            )
            alert.state = .firing
            alert.startsAt = 100
            try await receiver.deliver(AlertNotification(groupKey: "alertname=DeviceExpired", firing: [alert], resolved: [], now: 200))
        }
        let seen = requests.withLock { $0 }
        #expect(seen.count == 2)
        let last = try #require(seen.last)
        let timestamp = try #require(last.headers[HTTPField.Name("X-Vigil-Timestamp")!])
        #expect(timestamp == "200")
        let expected = HMAC<SHA256>.authenticationCode(for: Array("200.".utf8) + last.body, using: SymmetricKey(data: Array("k3y".utf8)))
        #expect(last.headers[HTTPField.Name("X-Vigil-Signature")!] == "sha256=" + expected.map { String(format: "%02x", $0) }.joined())
        let json = try #require(try JSONSerialization.jsonObject(with: Data(last.body)) as? [String: Any])
        #expect(json["status"] as? String == "firing")
        #expect(json["receiver"] as? String == "ops")
        let alerts = try #require(json["alerts"] as? [[String: Any]])
        #expect((alerts.first?["labels"] as? [String: String])?["device"] == "esp04")
    }

    @Test("XMPP alert text is escaped and cannot inject stanza markup or template placeholders")
    func xmppStanza() {
        let stanza = XMPPAlertReceiver.stanza("a<b>&c %s [inc_id]")
        #expect(stanza == "<message to='%s' type='chat'><body>a&lt;b&gt;&amp;c &#37;s &#91;inc_id]</body></message>")
    }
}
