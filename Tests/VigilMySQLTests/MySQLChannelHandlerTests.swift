//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import FuzzSupport
import NIOCore
import NIOEmbedded
import Testing

@testable import VigilMySQL

/// A MySQL server scripted packet by packet on an `EmbeddedChannel`.
struct ScriptedServer {
    static let nonce: [UInt8] = Array(1...20)
    let channel: EmbeddedChannel
    let handler: MySQLChannelHandler

    init(username: String = "vigil", password: String = "secret", database: String? = "announcer", commandTimeout: TimeAmount? = nil) throws {
        handler = MySQLChannelHandler(
            credentials: .init(username: username, password: password, database: database),
            commandTimeout: commandTimeout
        )
        channel = EmbeddedChannel(handler: handler)
        // Connected, so that isActive tells whether the handler closed the channel.
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 3306)).wait()
        #expect(channel.isActive)
    }

    func send(_ sequenceID: UInt8, _ write: (inout ByteBuffer) -> Void) throws {
        var payload = ByteBuffer()
        write(&payload)
        try channel.writeInbound(framed(payload, sequenceID: sequenceID))
    }

    /// The next packet the client wrote.
    func received() throws -> MySQLPacket {
        var wire = try #require(try channel.readOutbound(as: ByteBuffer.self))
        var decoder = MySQLPacketDecoder()
        let packet = try #require(try decoder.decode(buffer: &wire))
        #expect(wire.readableBytes == 0)
        return packet
    }

    func noMoreOutput() throws {
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
    }

    /// Runs the handshake with `capabilities` and accepts the client; returns its response.
    @discardableResult
    func handshake(capabilities: MySQLCapabilities = .serverDefault) throws -> MySQLHandshakeResponse41 {
        let startup = channel.eventLoop.makePromise(of: Void.self)
        handler.waitForStartup(startup)
        try send(0) {
            MySQLHandshakeV10(serverVersion: "10.11.19-MariaDB", connectionID: 9, authPluginData: Self.nonce, capabilities: capabilities)
                .write(to: &$0)
        }
        let packet = try received()
        #expect(packet.sequenceID == 1)
        let response = try MySQLHandshakeResponse41(payload: packet.payload)
        try send(2) { MySQLOKPacket().write(to: &$0) }
        #expect(try outcome(startup.futureResult) != nil)
        return response
    }

    func command(_ command: MySQLCommand) -> EventLoopFuture<MySQLCommandResult> {
        let promise = channel.eventLoop.makePromise(of: MySQLCommandResult.self)
        handler.send(command, promise: promise)
        return promise.futureResult
    }
}

extension MySQLCapabilities {
    static let serverDefault: MySQLCapabilities = [
        .longPassword, .foundRows, .longFlag, .connectWithDB, .protocol41, .transactions, .secureConnection,
        .multiResults, .psMultiResults, .pluginAuth, .pluginAuthLengthEncodedData, .deprecateEOF,
    ]
}

/// The value of a completed future, `nil` while it is pending; rethrows its error.
func outcome<T>(_ future: EventLoopFuture<T>) throws -> T? {
    var result: Result<T, any Error>?
    future.assumeIsolated().whenComplete { result = $0 }
    return try result?.get()
}

func failure<T>(_ future: EventLoopFuture<T>) -> (any Error)? {
    var error: (any Error)?
    future.assumeIsolated().whenFailure { error = $0 }
    return error
}

@Suite("MySQL channel handler against a scripted server")
struct MySQLChannelHandlerTests {
    @Test("Handshake, then a text query whose rows end with an OK packet (CLIENT_DEPRECATE_EOF)")
    func handshakeAndQuery() throws {
        let server = try ScriptedServer()
        let response = try server.handshake()
        #expect(response.username == "vigil")
        #expect(response.database == "announcer")
        #expect(response.authPluginName == "mysql_native_password")
        #expect(response.authResponse == MySQLNativePassword.scramble(password: "secret", nonce: ScriptedServer.nonce))
        #expect(response.capabilities.contains([.protocol41, .secureConnection, .pluginAuth, .connectWithDB, .deprecateEOF]))
        #expect(!response.capabilities.contains(.ssl))

        let result = server.command(.query("SELECT id, name FROM members"))
        let query = try server.received()
        #expect(query.sequenceID == 0)
        #expect(query.payload == ByteBuffer(bytes: [0x03] + Array("SELECT id, name FROM members".utf8)))
        let columns = [MySQLColumn(name: "id", type: .longlong), MySQLColumn(name: "name", type: .varString)]
        try server.send(1) { $0.writeMySQLLengthEncodedInteger(2) }
        try server.send(2) { columns[0].writeDefinition(to: &$0) }
        try server.send(3) { columns[1].writeDefinition(to: &$0) }
        try server.send(4) { MySQLTextRow.write(["1", "alice"], to: &$0) }
        #expect(try outcome(result) == nil)
        try server.send(5) { MySQLTextRow.write(["2", nil], to: &$0) }
        try server.send(6) { MySQLOKPacket().write(to: &$0, header: 0xFE) }
        guard case .rows(let gotColumns, let rows) = try outcome(result) else {
            Issue.record("expected rows")
            return
        }
        #expect(gotColumns == columns)
        #expect(rows.map(\.values) == [[.int(1), .string("alice")], [.int(2), .null]])
        #expect(try server.channel.finish(acceptAlreadyClosed: false).isClean)
    }

    @Test("Auth switch to mysql_native_password, then a query on a server without CLIENT_DEPRECATE_EOF")
    func authSwitchAndEOFServer() throws {
        let server = try ScriptedServer(database: nil)
        let startup = server.channel.eventLoop.makePromise(of: Void.self)
        server.handler.waitForStartup(startup)
        var capabilities = MySQLCapabilities.serverDefault
        capabilities.remove(.deprecateEOF)
        try server.send(0) {
            MySQLHandshakeV10(
                serverVersion: "8.0",
                connectionID: 1,
                authPluginData: ScriptedServer.nonce,
                capabilities: capabilities,
                authPluginName: "caching_sha2_password"
            ).write(to: &$0)
        }
        let response = try MySQLHandshakeResponse41(payload: try server.received().payload)
        #expect(response.authPluginName == "mysql_native_password")
        #expect(response.authResponse == MySQLNativePassword.scramble(password: "secret", nonce: ScriptedServer.nonce))
        #expect(!response.capabilities.contains(.connectWithDB))
        #expect(!response.capabilities.contains(.deprecateEOF))
        let newNonce: [UInt8] = Array(101...120)
        try server.send(2) { MySQLAuthSwitchRequest(pluginName: "mysql_native_password", pluginData: newNonce).write(to: &$0) }
        let answer = try server.received()
        #expect(answer.sequenceID == 3)
        #expect(Array(answer.payload.readableBytesView) == MySQLNativePassword.scramble(password: "secret", nonce: newNonce))
        try server.send(4) { MySQLOKPacket().write(to: &$0) }
        #expect(try outcome(startup.futureResult) != nil)

        let result = server.command(.query("SELECT 1"))
        _ = try server.received()
        try server.send(1) { $0.writeMySQLLengthEncodedInteger(1) }
        try server.send(2) { MySQLColumn(name: "1", type: .longlong).writeDefinition(to: &$0) }
        try server.send(3) { MySQLEOFPacket().write(to: &$0) }
        try server.send(4) { MySQLTextRow.write(["1"], to: &$0) }
        try server.send(5) { MySQLEOFPacket().write(to: &$0) }
        guard case .rows(_, let rows) = try outcome(result) else {
            Issue.record("expected rows")
            return
        }
        #expect(rows.map(\.values) == [[.int(1)]])
    }

    @Test("A server error fails only its command; queued commands run afterwards")
    func errorKeepsConnection() throws {
        let server = try ScriptedServer()
        try server.handshake()
        let bad = server.command(.query("SELEC 1"))
        let ping = server.command(.ping)
        _ = try server.received()
        // The ping waits until the query is answered: one command in flight at a time.
        try server.noMoreOutput()
        try server.send(1) { MySQLError(code: 1064, sqlState: "42000", message: "syntax").write(to: &$0) }
        #expect(failure(bad) as? MySQLError == MySQLError(code: 1064, sqlState: "42000", message: "syntax"))
        let pingPacket = try server.received()
        #expect(pingPacket.payload == ByteBuffer(bytes: [0x0E]))
        try server.send(1) { MySQLOKPacket().write(to: &$0) }
        #expect(try outcome(ping) != nil)
    }

    @Test("Prepare and execute with binary rows")
    func preparedStatement() throws {
        let server = try ScriptedServer()
        try server.handshake()
        let prepared = server.command(.prepare("SELECT name FROM members WHERE id = ?"))
        #expect(try server.received().payload.getInteger(at: 0, as: UInt8.self) == 0x16)
        try server.send(1) { MySQLPrepareOK(statementID: 5, columnCount: 1, parameterCount: 1).write(to: &$0) }
        try server.send(2) { MySQLColumn(name: "?", type: .null).writeDefinition(to: &$0) }
        try server.send(3) { MySQLColumn(name: "name", type: .varString).writeDefinition(to: &$0) }
        #expect(try outcome(prepared) == .prepared(MySQLPrepareOK(statementID: 5, columnCount: 1, parameterCount: 1)))

        let executed = server.command(.execute(statementID: 5, binds: [.int(42)]))
        _ = try server.received()
        try server.send(1) { $0.writeMySQLLengthEncodedInteger(1) }
        try server.send(2) { MySQLColumn(name: "name", type: .varString).writeDefinition(to: &$0) }
        try server.send(3) {
            $0.writeBytes([0x00, 0x00])
            $0.writeMySQLLengthEncodedString("bob")
        }
        try server.send(4) { MySQLOKPacket().write(to: &$0, header: 0xFE) }
        guard case .rows(_, let rows) = try outcome(executed) else {
            Issue.record("expected rows")
            return
        }
        #expect(rows.first?["name"] == .string("bob"))

        let closed = server.command(.closeStatement(5))
        #expect(try server.received().payload == ByteBuffer(bytes: [0x19, 5, 0, 0, 0]))
        #expect(try outcome(closed) != nil)
    }

    @Test("A command of 16 MB or more goes out as several frames and the answer continues their sequence")
    func splitCommand() throws {
        let server = try ScriptedServer()
        try server.handshake()
        let sql = "SELECT '" + String(repeating: "x", count: MySQLPacket.maxFramePayload) + "'"
        let result = server.command(.query(sql))
        let packet = try server.received()
        // 1 command byte + the SQL: two frames, sequence ids 0 and 1.
        #expect(packet.sequenceID == 1)
        #expect(packet.payload.readableBytes == sql.utf8.count + 1)
        try server.send(2) { MySQLOKPacket(affectedRows: 0).write(to: &$0) }
        #expect(try outcome(result) == .ok(MySQLOKPacket()))
    }

    @Test("Access denied during the handshake fails startup with the server's error and closes")
    func accessDenied() throws {
        let server = try ScriptedServer()
        let startup = server.channel.eventLoop.makePromise(of: Void.self)
        server.handler.waitForStartup(startup)
        let queued = server.command(.ping)
        try server.send(0) {
            MySQLHandshakeV10(serverVersion: "10.11", connectionID: 1, authPluginData: ScriptedServer.nonce, capabilities: .serverDefault)
                .write(to: &$0)
        }
        _ = try server.received()
        try server.send(2) { MySQLError(code: 1045, sqlState: "28000", message: "Access denied").write(to: &$0) }
        #expect((failure(startup.futureResult) as? MySQLError)?.code == 1045)
        #expect((failure(queued) as? MySQLError)?.code == 1045)
        #expect(!server.channel.isActive)
    }

    @Test("A packet with the wrong sequence id closes the connection with a protocol violation")
    func wrongSequence() throws {
        let server = try ScriptedServer()
        try server.handshake()
        let result = server.command(.ping)
        _ = try server.received()
        try server.send(5) { MySQLOKPacket().write(to: &$0) }
        #expect((failure(result) as? MySQLClientError)?.errorCode == .protocolViolation)
        #expect(!server.channel.isActive)
        // Later commands fail at once instead of hanging.
        #expect((failure(server.command(.ping)) as? MySQLClientError)?.errorCode == .protocolViolation)
    }

    @Test("A command the server does not answer within the command timeout closes the connection")
    func commandTimeout() throws {
        let server = try ScriptedServer(commandTimeout: .seconds(5))
        try server.handshake()
        let answered = server.command(.ping)
        _ = try server.received()
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        try server.send(1) { MySQLOKPacket().write(to: &$0) }
        #expect(try outcome(answered) != nil)
        // The deadline of the answered command was cancelled: nothing happens when it would fire.
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(server.channel.isActive)

        let silent = server.command(.query("SELECT SLEEP(100)"))
        _ = try server.received()
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect((failure(silent) as? MySQLClientError)?.errorCode == .timeout)
        #expect(!server.channel.isActive)
    }

    @Test("Random packets after the handshake never crash the handler")
    func randomPackets() throws {
        var generator = SplitMix64(seed: 0x4841_4E44)
        for _ in 0..<300 {
            let server = try ScriptedServer()
            try server.handshake()
            let result = server.command(.query("SELECT 1"))
            _ = try server.received()
            for sequence in 1...UInt8(4) {
                guard server.channel.isActive else { break }
                let count = Int.random(in: 0..<40, using: &generator)
                try server.send(sequence) { buffer in
                    for _ in 0..<count { buffer.writeInteger(UInt8.random(in: 0...255, using: &generator)) }
                }
            }
            // Either answered, failed, or still waiting: never a trap.
            _ = try? outcome(result)
            _ = try? server.channel.finish()
        }
    }
}
