//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilWeb

@Suite("Metric family filter")
struct MetricFamilyFilterTests {
    struct Text: MetricsExporter {
        var text: String
        func emit(into buffer: inout [UInt8]) { buffer.append(contentsOf: text.utf8) }
    }

    @Test("keeps the HELP, TYPE and sample lines of matching families, nothing else")
    func filters() {
        let source = Text(
            text: """
                # HELP vigil_gateway_online 1 when online.
                # TYPE vigil_gateway_online gauge
                vigil_gateway_online{gateway="gxy1"} 1.0
                # TYPE galaxy_gateways_sessions gauge
                galaxy_gateways_sessions{name="gxy1",type="rooms"} 3
                # TYPE gxydb_gateway_sessions gauge
                gxydb_gateway_sessions{name="gxy1",type="rooms"} 3
                # a comment that names galaxy_ nothing
                galaxy_failover_active{failed_server="gxy1",failover_server="gxy12"} 1
                """
        )
        var buffer: [UInt8] = []
        MetricFamilyFilter(source, keeping: ["galaxy_", "gxydb_"]).emit(into: &buffer)
        #expect(
            String(decoding: buffer, as: UTF8.self) == """
                # TYPE galaxy_gateways_sessions gauge
                galaxy_gateways_sessions{name="gxy1",type="rooms"} 3
                # TYPE gxydb_gateway_sessions gauge
                gxydb_gateway_sessions{name="gxy1",type="rooms"} 3
                galaxy_failover_active{failed_server="gxy1",failover_server="gxy12"} 1
                """
        )
    }
}
