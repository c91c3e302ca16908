//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import Metrics
import Synchronization
import VigilXMPP

/// The state of the Announcer's XMPP connections, per node (`host:port` of `[ejabberd]
/// cluster_nodes`), kept from the clients' ``XMPPClient/ConnectionEvent``s.
///
/// Metrics: `vigil_announcer_xmpp_connections{node, state="connecting"|"connected"|"disconnected"}`
/// (gauge: how many of the node's `each_node_conn_num` connections are in that state),
/// `vigil_announcer_xmpp_reconnects_total{node}` (connection attempts after a connection's first),
/// `vigil_announcer_xmpp_disconnects_total{node}` (established connections lost).
final class XMPPConnectionMetrics: Sendable {
    enum State: String, CaseIterable, Sendable {
        case connecting, connected, disconnected
    }

    private struct Connection {
        var state = State.disconnected
        var attempted = false
    }

    private struct NodeMetrics {
        let gauges: [State: Gauge]
        let reconnects: Counter
        let disconnects: Counter
    }

    /// The node of each connection, by connection number.
    let nodes: [String]
    private let connections: Mutex<[Connection]>
    private let metrics: [String: NodeMetrics]
    private let giveUpWarning: Int?
    private let logger: Logger

    /// Creates the tracker; every connection starts `disconnected`.
    ///
    /// - Parameters:
    ///   - nodes: The node of each connection, by connection number.
    ///   - giveUpWarning: After this many failed attempts in a row (`[component]
    ///     max_conn_check_retry`) an error is logged once: the operator must act.
    ///   - logger: Where that error goes.
    init(nodes: [String], giveUpWarning: Int?, logger: Logger) {
        self.nodes = nodes
        self.giveUpWarning = giveUpWarning
        self.logger = logger
        connections = Mutex(Array(repeating: Connection(), count: nodes.count))
        var metrics: [String: NodeMetrics] = [:]
        for node in Set(nodes) {
            metrics[node] = NodeMetrics(
                gauges: Dictionary(
                    uniqueKeysWithValues: State.allCases.map {
                        ($0, Gauge(label: "vigil_announcer_xmpp_connections", dimensions: [("node", node), ("state", $0.rawValue)]))
                    }
                ),
                reconnects: Counter(label: "vigil_announcer_xmpp_reconnects_total", dimensions: [("node", node)]),
                disconnects: Counter(label: "vigil_announcer_xmpp_disconnects_total", dimensions: [("node", node)])
            )
        }
        self.metrics = metrics
        for node in Set(nodes) { record(node: node, counts: tally(of: node, in: Array(repeating: Connection(), count: nodes.count))) }
    }

    /// The observer to give connection `index`'s client.
    func observer(for index: Int) -> @Sendable (XMPPClient.ConnectionEvent) -> Void {
        { [self] event in self.handle(event, on: index) }
    }

    /// Connections that are up, and all of them.
    var connectedCount: (connected: Int, total: Int) {
        connections.withLock { list in (list.filter { $0.state == .connected }.count, list.count) }
    }

    private func handle(_ event: XMPPClient.ConnectionEvent, on index: Int) {
        guard nodes.indices.contains(index), let node = metrics[nodes[index]] else { return }
        let (counts, wasConnected, reconnect) = connections.withLock { list -> ([State: Int], Bool, Bool) in
            let before = list[index]
            var reconnect = false
            switch event {
            case .connecting:
                reconnect = before.attempted
                list[index].attempted = true
                list[index].state = .connecting
            case .connected: list[index].state = .connected
            case .disconnected, .stopped: list[index].state = .disconnected
            }
            return (tally(of: nodes[index], in: list), before.state == .connected, reconnect)
        }
        if reconnect { node.reconnects.increment() }
        switch event {
        case .disconnected(let failures):
            if wasConnected { node.disconnects.increment() }
            if let giveUpWarning, failures == giveUpWarning {
                logger.error(
                    "XMPP connection still failing after max_conn_check_retry attempts; Vigil keeps trying",
                    metadata: ["xmpp.node": "\(nodes[index])", "xmpp.attempts": "\(failures)"]
                )
            }
        default: break
        }
        record(node: nodes[index], counts: counts)
    }

    private func tally(of node: String, in list: [Connection]) -> [State: Int] {
        var counts: [State: Int] = [:]
        for (index, connection) in list.enumerated() where nodes[index] == node { counts[connection.state, default: 0] += 1 }
        return counts
    }

    private func record(node: String, counts: [State: Int]) {
        guard let gauges = metrics[node]?.gauges else { return }
        for state in State.allCases { gauges[state]?.record(counts[state] ?? 0) }
    }
}
