//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import Testing

@testable import VigilMySQL

/// The handler's state machine driven as a plain value.
@Suite("MySQL connection state machine")
struct MySQLStateMachineTests {
    typealias StateMachine = MySQLChannelHandler.StateMachine

    func packet(_ sequenceID: UInt8, _ write: (inout ByteBuffer) -> Void) -> MySQLPacket {
        var payload = ByteBuffer()
        write(&payload)
        return MySQLPacket(sequenceID: sequenceID, payload: payload)
    }

    /// A state machine that finished the handshake with `capabilities`.
    func authenticated(_ capabilities: MySQLCapabilities = .serverDefault) -> StateMachine {
        var machine = StateMachine(credentials: .init(username: "u", password: "p", database: nil))
        guard
            case .send = machine.receive(
                packet(0) {
                    MySQLHandshakeV10(serverVersion: "10.11", connectionID: 1, authPluginData: Array(1...20), capabilities: capabilities).write(
                        to: &$0
                    )
                }
            )
        else {
            Issue.record("no handshake response")
            return machine
        }
        guard case .authenticated = machine.receive(packet(2) { MySQLOKPacket().write(to: &$0) }) else {
            Issue.record("not authenticated")
            return machine
        }
        #expect(machine.isReady)
        return machine
    }

    @Test("Rows of several result sets (SERVER_MORE_RESULTS_EXISTS) are collected under the first set's columns")
    func multipleResultSets() {
        var machine = authenticated()
        machine.startCommand(.query("CALL two_sets()"))
        let column = MySQLColumn(name: "n", type: .longlong)
        var sequence: UInt8 = 1
        func next(_ write: (inout ByteBuffer) -> Void) -> StateMachine.Action {
            defer { sequence += 1 }
            return machine.receive(packet(sequence, write))
        }
        for value in ["1", "2"] {
            _ = next { $0.writeMySQLLengthEncodedInteger(1) }
            _ = next { column.writeDefinition(to: &$0) }
            _ = next { MySQLTextRow.write([value], to: &$0) }
            _ = next { MySQLOKPacket(status: [.autocommit, .moreResultsExist]).write(to: &$0, header: 0xFE) }
        }
        #expect(!machine.isReady)
        guard case .succeedCommand(.rows(let columns, let rows)) = next({ MySQLOKPacket().write(to: &$0) }) else {
            Issue.record("expected rows")
            return
        }
        #expect(columns == [column])
        #expect(rows.map(\.values) == [[.int(1)], [.int(2)]])
        #expect(machine.isReady)
    }

    @Test("An ERR packet in the middle of the rows fails the command and leaves the connection ready")
    func errorDuringRows() {
        var machine = authenticated()
        machine.startCommand(.query("SELECT"))
        _ = machine.receive(packet(1) { $0.writeMySQLLengthEncodedInteger(1) })
        _ = machine.receive(packet(2) { MySQLColumn(name: "a", type: .varString).writeDefinition(to: &$0) })
        _ = machine.receive(packet(3) { MySQLTextRow.write(["x"], to: &$0) })
        guard
            case .failCommand(let error) = machine.receive(
                packet(4) { MySQLError(code: 1317, sqlState: "70100", message: "interrupted").write(to: &$0) }
            )
        else {
            Issue.record("expected failCommand")
            return
        }
        #expect(error.code == 1317)
        #expect(machine.isReady)
    }

    @Test("A packet while no command is in flight closes the connection")
    func unsolicitedPacket() {
        var machine = authenticated()
        guard case .closeWithError(let error) = machine.receive(packet(1) { MySQLOKPacket().write(to: &$0) }) else {
            Issue.record("expected closeWithError")
            return
        }
        #expect((error as? MySQLClientError)?.errorCode == .protocolViolation)
        #expect(!machine.isReady)
    }

    @Test("A server without CLIENT_PROTOCOL_41 is refused")
    func oldServer() {
        var machine = StateMachine(credentials: .init(username: "u", password: "p", database: nil))
        let action = machine.receive(
            packet(0) {
                MySQLHandshakeV10(serverVersion: "4.0", connectionID: 1, authPluginData: Array(1...20), capabilities: [.secureConnection]).write(
                    to: &$0
                )
            }
        )
        guard case .closeWithError(let error) = action else {
            Issue.record("expected closeWithError")
            return
        }
        #expect((error as? MySQLClientError)?.errorCode == .unsupported)
    }

    @Test("An auth switch to a plugin other than mysql_native_password is refused")
    func unsupportedPlugin() {
        var machine = StateMachine(credentials: .init(username: "u", password: "p", database: nil))
        _ = machine.receive(
            packet(0) {
                MySQLHandshakeV10(serverVersion: "8.0", connectionID: 1, authPluginData: Array(1...20), capabilities: .serverDefault).write(to: &$0)
            }
        )
        let action = machine.receive(packet(2) { MySQLAuthSwitchRequest(pluginName: "client_ed25519", pluginData: [1, 2]).write(to: &$0) })
        guard case .closeWithError(let error) = action else {
            Issue.record("expected closeWithError")
            return
        }
        #expect((error as? MySQLClientError)?.errorCode == .unsupported)
    }
}
