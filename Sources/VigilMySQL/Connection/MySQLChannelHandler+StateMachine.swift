//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// What a finished command produced.
enum MySQLCommandResult: Hashable, Sendable {
    /// The command succeeded without a result set.
    case ok(MySQLOKPacket)
    /// A result set: its columns and rows (the rows of any further result sets are appended).
    case rows(columns: [MySQLColumn], rows: [MySQLRow])
    /// A statement was prepared.
    case prepared(MySQLPrepareOK)
}

extension MySQLChannelHandler {
    /// The protocol states of one connection, as a pure value: it takes packets and returns what
    /// the handler must do, so it can be tested without a channel.
    ///
    /// ```
    /// waitingForHandshake ─▶ authenticating ─▶ ready ⇄ command(...)
    ///         └──────────────────┴──────────────────┴──▶ closed
    /// ```
    struct StateMachine {
        struct Credentials: Sendable {
            var username: String
            var password: String
            var database: String?
        }

        enum ResultProtocol: Equatable {
            case text
            case binary
        }

        enum CommandState {
            /// Waiting for OK or ERR (COM_PING).
            case simple
            /// Waiting for OK, ERR or a column count.
            case resultStart(ResultProtocol)
            /// Reading column definitions.
            case columns(ResultProtocol, remaining: Int, columns: [MySQLColumn])
            /// Waiting for the EOF after the column definitions (servers without CLIENT_DEPRECATE_EOF).
            case columnsEOF(ResultProtocol, columns: [MySQLColumn])
            /// Reading rows until EOF, OK (0xFE) or ERR.
            case rows(ResultProtocol, columns: [MySQLColumn])
            /// Waiting for the COM_STMT_PREPARE answer.
            case prepareStart
            /// Skipping the parameter and column definitions that follow a prepare OK.
            case prepareDefinitions(MySQLPrepareOK, remaining: Int)
        }

        enum State {
            case waitingForHandshake
            case authenticating(capabilities: MySQLCapabilities, switched: Bool)
            case ready
            case command(CommandState)
            case closed
        }

        enum Action {
            /// Nothing to do yet.
            case none
            /// Write `payload` as a packet with `sequenceID`.
            case send(ByteBuffer, sequenceID: UInt8)
            /// The handshake succeeded; commands may be sent.
            case authenticated
            /// The current command finished.
            case succeedCommand(MySQLCommandResult)
            /// The current command failed with a server error; the connection stays usable.
            case failCommand(MySQLError)
            /// The connection cannot continue; fail everything and close.
            case closeWithError(any Error)
        }

        private(set) var state: State = .waitingForHandshake
        private(set) var capabilities: MySQLCapabilities = []
        private(set) var serverVersion = ""
        private var expectedSequence: UInt8 = 0
        // Rows live outside `state` so that appending does not copy the array.
        private var resultRows: [MySQLRow] = []
        private var resultColumns: [MySQLColumn]?
        let credentials: Credentials
        let maxPacketSize: UInt32

        init(credentials: Credentials, maxPacketSize: UInt32 = 64 << 20) {
            self.credentials = credentials
            self.maxPacketSize = maxPacketSize
        }

        var isReady: Bool {
            if case .ready = state { return true }
            return false
        }

        /// Starts `command`, which the handler writes as `frames` wire frames from sequence id 0; the
        /// server's answer continues the sequence after the last frame.
        mutating func startCommand(_ command: MySQLCommand, frames: Int = 1) {
            precondition(isReady, "a command was started while another is in flight")
            expectedSequence = UInt8(truncatingIfNeeded: frames)
            resultRows = []
            resultColumns = nil
            guard command.expectsResponse else { return }
            switch command {
            case .ping: state = .command(.simple)
            case .query: state = .command(.resultStart(.text))
            case .execute: state = .command(.resultStart(.binary))
            case .prepare: state = .command(.prepareStart)
            case .quit, .closeStatement: break
            }
        }

        /// The connection closed or failed; no more packets are expected.
        mutating func close() {
            state = .closed
        }

        mutating func receive(_ packet: MySQLPacket) -> Action {
            do {
                return try handle(packet)
            } catch let error as MySQLDecodeError {
                state = .closed
                return .closeWithError(MySQLClientError(.protocolViolation, underlyingError: error))
            } catch {
                state = .closed
                return .closeWithError(error)
            }
        }

        private mutating func handle(_ packet: MySQLPacket) throws -> Action {
            if case .closed = state { return .none }
            // A logical packet made of several frames advances the sequence by the frame count;
            // sequenceID is the last frame's, so only check the end when a single frame arrived.
            let frames = MySQLPacket.frameCount(payloadLength: packet.payload.readableBytes)
            let firstSequence = packet.sequenceID &- UInt8(truncatingIfNeeded: frames - 1)
            guard firstSequence == expectedSequence else {
                throw MySQLDecodeError(.outOfOrderPacket, "got sequence id \(firstSequence), expected \(expectedSequence)")
            }
            expectedSequence = packet.sequenceID &+ 1
            let payload = packet.payload
            let header = payload.getInteger(at: payload.readerIndex, as: UInt8.self)

            switch state {
            case .waitingForHandshake:
                if header == 0xFF {
                    state = .closed
                    return .closeWithError(try MySQLError(payload: payload))
                }
                return try handshake(MySQLHandshakeV10(payload: payload))

            case .authenticating(let capabilities, let switched):
                switch header {
                case 0x00:
                    _ = try MySQLOKPacket(payload: payload)
                    state = .ready
                    return .authenticated
                case 0xFF:
                    state = .closed
                    return .closeWithError(try MySQLError(payload: payload))
                case 0xFE where !switched:
                    let request = try MySQLAuthSwitchRequest(payload: payload)
                    guard request.pluginName == MySQLNativePassword.pluginName else {
                        state = .closed
                        return .closeWithError(
                            MySQLClientError(.unsupported, message: "authentication plugin '\(request.pluginName)' is not supported")
                        )
                    }
                    state = .authenticating(capabilities: capabilities, switched: true)
                    let answer = MySQLNativePassword.scramble(password: credentials.password, nonce: request.pluginData)
                    let sequence = expectedSequence
                    expectedSequence &+= 1
                    return .send(ByteBuffer(bytes: answer), sequenceID: sequence)
                default:
                    throw MySQLDecodeError(.unexpectedPacket, "packet 0x\(String(header ?? 0, radix: 16)) during authentication")
                }

            case .ready:
                throw MySQLDecodeError(.unexpectedPacket, "packet while no command is in flight")

            case .command(let command):
                return try handleCommand(command, payload: payload, header: header)

            case .closed:
                return .none
            }
        }

        private mutating func handshake(_ handshake: MySQLHandshakeV10) throws -> Action {
            guard handshake.capabilities.contains([.protocol41, .secureConnection]) else {
                state = .closed
                return .closeWithError(MySQLClientError(.unsupported, message: "server lacks CLIENT_PROTOCOL_41 or CLIENT_SECURE_CONNECTION"))
            }
            serverVersion = handshake.serverVersion
            var wanted = MySQLCapabilities.clientDefault
            if credentials.database != nil { wanted.insert(.connectWithDB) }
            capabilities = wanted.intersection(handshake.capabilities)
            // Whatever the server's default plugin, answer as mysql_native_password with its nonce:
            // the server checks this answer directly when the account uses that plugin, and sends
            // an auth switch request when the account uses another one.
            let response = MySQLHandshakeResponse41(
                capabilities: capabilities,
                maxPacketSize: maxPacketSize,
                characterSet: 45,  // utf8mb4_general_ci
                username: credentials.username,
                authResponse: MySQLNativePassword.scramble(password: credentials.password, nonce: handshake.authPluginData),
                database: credentials.database,
                authPluginName: MySQLNativePassword.pluginName
            )
            var buffer = ByteBuffer()
            response.write(to: &buffer)
            state = .authenticating(capabilities: capabilities, switched: false)
            let sequence = expectedSequence
            expectedSequence &+= 1
            return .send(buffer, sequenceID: sequence)
        }

        private var deprecateEOF: Bool { capabilities.contains(.deprecateEOF) }

        /// Ends the command: a statement that produced a result set reports its rows, others the OK.
        private mutating func finishResult(ok: MySQLOKPacket?) -> Action {
            state = .ready
            let rows = resultRows
            resultRows = []
            defer { resultColumns = nil }
            if let columns = resultColumns {
                return .succeedCommand(.rows(columns: columns, rows: rows))
            }
            return .succeedCommand(.ok(ok ?? MySQLOKPacket()))
        }

        private mutating func handleCommand(_ command: CommandState, payload: ByteBuffer, header: UInt8?) throws -> Action {
            if header == 0xFF {
                let error = try MySQLError(payload: payload)
                state = .ready
                return .failCommand(error)
            }
            switch command {
            case .simple:
                guard header == 0x00 else { throw MySQLDecodeError(.unexpectedPacket, "expected OK") }
                state = .ready
                return .succeedCommand(.ok(try MySQLOKPacket(payload: payload)))

            case .resultStart(let proto):
                if header == 0x00 {
                    let ok = try MySQLOKPacket(payload: payload)
                    if ok.status.contains(.moreResultsExist) {
                        return .none
                    }
                    return finishResult(ok: ok)
                }
                if header == 0xFB {
                    throw MySQLDecodeError(.unexpectedPacket, "LOCAL INFILE request, which this client never enables")
                }
                var buffer = payload
                guard let count = try buffer.readMySQLLengthEncodedInteger(), count > 0, count <= 4096, buffer.readableBytes == 0 else {
                    throw MySQLDecodeError(.unexpectedPacket, "invalid column count packet")
                }
                state = .command(.columns(proto, remaining: Int(count), columns: []))
                return .none

            case .columns(let proto, let remaining, var columns):
                columns.append(try MySQLColumn(definition: payload))
                if remaining > 1 {
                    state = .command(.columns(proto, remaining: remaining - 1, columns: columns))
                    return .none
                }
                if resultColumns == nil { resultColumns = columns }
                state = .command(deprecateEOF ? .rows(proto, columns: columns) : .columnsEOF(proto, columns: columns))
                return .none

            case .columnsEOF(let proto, let columns):
                guard MySQLEOFPacket.matches(payload) else {
                    throw MySQLDecodeError(.unexpectedPacket, "expected EOF after column definitions")
                }
                state = .command(.rows(proto, columns: columns))
                return .none

            case .rows(let proto, let columns):
                let isTerminator =
                    header == 0xFE && (deprecateEOF ? payload.readableBytes < MySQLPacket.maxFramePayload : payload.readableBytes < 9)
                if isTerminator {
                    let status =
                        deprecateEOF ? try MySQLOKPacket(payload: payload).status : try MySQLEOFPacket(payload: payload).status
                    if status.contains(.moreResultsExist) {
                        state = .command(.resultStart(proto))
                        return .none
                    }
                    return finishResult(ok: nil)
                }
                let row =
                    proto == .text
                    ? try MySQLTextRow.decode(payload, columns: columns) : try MySQLBinaryRow.decode(payload, columns: columns)
                resultRows.append(row)
                return .none

            case .prepareStart:
                let ok = try MySQLPrepareOK(payload: payload)
                var remaining = Int(ok.parameterCount) + Int(ok.columnCount)
                if !deprecateEOF {
                    remaining += (ok.parameterCount > 0 ? 1 : 0) + (ok.columnCount > 0 ? 1 : 0)
                }
                if remaining == 0 {
                    state = .ready
                    return .succeedCommand(.prepared(ok))
                }
                state = .command(.prepareDefinitions(ok, remaining: remaining))
                return .none

            case .prepareDefinitions(let ok, let remaining):
                if remaining > 1 {
                    state = .command(.prepareDefinitions(ok, remaining: remaining - 1))
                    return .none
                }
                state = .ready
                return .succeedCommand(.prepared(ok))
            }
        }
    }
}
