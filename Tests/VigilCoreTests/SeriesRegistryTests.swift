//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import CoreMetrics
import Testing

@testable import VigilCore

@Suite("Series registry")
struct SeriesRegistryTests {
    func text(_ registry: SeriesRegistry) -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    @Test("Gauges and counters render as swift-prometheus does; label values are escaped")
    func rendering() {
        let registry = SeriesRegistry()
        Gauge(label: "vigil_device_up", dimensions: [("device", "b")], factory: registry).record(1)
        Gauge(label: "vigil_device_up", dimensions: [("device", #"a"\"#)], factory: registry).record(0.5)
        let counter = FloatingPointCounter(label: "vigil_agent_restarts_total", dimensions: [("agent", "x\ny")], factory: registry)
        counter.increment(by: 2)
        counter.increment(by: 1)
        Counter(label: "vigil_things_total", factory: registry).increment(by: 5)
        let fraction = FloatingPointCounter(label: "vigil_cpu_seconds_total", factory: registry)
        fraction.increment(by: 0.25)
        fraction.increment(by: -1)  // ignored: a counter never goes down
        #expect(
            text(registry) == """
                # TYPE vigil_agent_restarts_total counter
                vigil_agent_restarts_total{agent="x\\ny"} 3
                # TYPE vigil_cpu_seconds_total counter
                vigil_cpu_seconds_total 0.25
                # TYPE vigil_device_up gauge
                vigil_device_up{device="b"} 1.0
                vigil_device_up{device="a\\"\\\\"} 0.5
                # TYPE vigil_things_total counter
                vigil_things_total 5

                """
        )
    }

    @Test("One series per name and labels; destroyed series leave the text, and empty names too")
    func identityAndDestroy() {
        let registry = SeriesRegistry()
        let first = Gauge(label: "g", dimensions: [("k", "1")], factory: registry)
        let again = Gauge(label: "g", dimensions: [("k", "1")], factory: registry)
        first.record(3)
        again.record(4)
        #expect(registry.seriesCount == 1)
        #expect(text(registry).contains("g{k=\"1\"} 4.0"))
        let other = Gauge(label: "g", dimensions: [("k", "2")], factory: registry)
        other.record(Double.nan)
        #expect(text(registry).contains("g{k=\"2\"} NaN"))
        first.destroy()
        #expect(registry.seriesCount == 1)
        #expect(!text(registry).contains("k=\"1\""))
        other.destroy()
        #expect(registry.seriesCount == 0)
        #expect(text(registry).isEmpty)
        // A destroyed handle's series can be made again.
        Gauge(label: "g", dimensions: [("k", "1")], factory: registry).record(1)
        #expect(text(registry) == "# TYPE g gauge\ng{k=\"1\"} 1.0\n")
    }

    @Test("100,000 series of one name are created, rendered in creation order and destroyed")
    func manySeries() {
        let registry = SeriesRegistry()
        var gauges: [Gauge] = []
        gauges.reserveCapacity(100_000)
        for index in 0..<100_000 {
            let gauge = Gauge(label: "vigil_device_up", dimensions: [("device", "d\(index)")], factory: registry)
            gauge.record(Double(index % 2))
            gauges.append(gauge)
        }
        #expect(registry.seriesCount == 100_000)
        let lines = text(registry).split(separator: "\n")
        #expect(lines.count == 100_001)
        #expect(lines[1] == "vigil_device_up{device=\"d0\"} 0.0")
        #expect(lines[100_000] == "vigil_device_up{device=\"d99999\"} 1.0")
        for gauge in gauges { gauge.destroy() }
        #expect(registry.seriesCount == 0)
    }

    @Test("The hub's samples land in the registry, seed-fixed names included; a removed target's series go")
    func hubSamples() async {
        let registry = SeriesRegistry()
        let hub = Hub(stores: MemoryStore().stores, metricsFactory: registry)
        let target = TargetID(.gateway, "gxy1")
        await hub.apply(
            Observation(
                target: target,
                time: 1,
                samples: [
                    Sample(.sessions, 3),
                    Sample(.galaxyGatewaysSessions, 3, labels: [Label("type", "rooms")]),
                ]
            )
        )
        #expect(text(registry).contains("galaxy_gateways_sessions{name=\"gxy1\",type=\"rooms\"} 3.0"))
        #expect(text(registry).contains("vigil_gateway_sessions{gateway=\"gxy1\"} 3.0"))
        await hub.remove(target)
        // Only the per-status count stays, at zero.
        #expect(registry.seriesCount == 1)
        #expect(text(registry).contains("vigil_targets{kind=\"gateway\",status=\"unknown\"} 0.0"))
    }
}
