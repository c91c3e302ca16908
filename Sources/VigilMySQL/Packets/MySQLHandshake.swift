//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// The server's first packet, Initial Handshake protocol version 10.
///
/// ```
/// 1  protocol version (10)        4  connection id
/// NUL server version              8  auth-plugin-data part 1
/// 1  filler                       2  capability flags (low)
/// 1  character set                2  status flags
/// 2  capability flags (high)      1  length of auth-plugin-data (or 0)
/// 10 reserved (MariaDB: 6 + 4 extended capability bytes)
/// max(13, len - 8) auth-plugin-data part 2 (if CLIENT_SECURE_CONNECTION)
/// NUL auth plugin name (if CLIENT_PLUGIN_AUTH)
/// ```
struct MySQLHandshakeV10: Hashable, Sendable {
    var serverVersion: String
    var connectionID: UInt32
    /// The scramble nonce: part 1 and part 2 joined, without the trailing NUL.
    var authPluginData: [UInt8]
    var capabilities: MySQLCapabilities
    var characterSet: UInt8 = 45
    var statusFlags: UInt16 = 2
    var authPluginName: String? = MySQLNativePassword.pluginName
}

extension MySQLHandshakeV10 {
    /// Parses the payload of a handshake packet.
    ///
    /// - Throws: ``MySQLDecodeError`` for another protocol version or a truncated packet.
    init(payload: ByteBuffer) throws(MySQLDecodeError) {
        var buffer = payload
        guard let version = buffer.readInteger(as: UInt8.self) else {
            throw MySQLDecodeError(.truncatedPacket, "empty handshake")
        }
        guard version == 10 else {
            throw MySQLDecodeError(.unsupportedProtocolVersion, "handshake protocol version \(version)")
        }
        guard let serverVersion = buffer.readMySQLNullTerminatedString(),
            let connectionID = buffer.readMySQLInteger(as: UInt32.self),
            let part1 = buffer.readBytes(length: 8),
            buffer.readInteger(as: UInt8.self) != nil,
            let capabilitiesLow = buffer.readMySQLInteger(as: UInt16.self)
        else {
            throw MySQLDecodeError(.truncatedPacket, "handshake ends before its capability flags")
        }
        self.serverVersion = serverVersion
        self.connectionID = connectionID
        self.authPluginData = part1
        self.capabilities = MySQLCapabilities(rawValue: UInt32(capabilitiesLow))
        self.characterSet = 0
        self.statusFlags = 0
        self.authPluginName = nil
        // Servers from before 4.1 stop here.
        guard buffer.readableBytes > 0 else { return }
        guard let characterSet = buffer.readInteger(as: UInt8.self),
            let statusFlags = buffer.readMySQLInteger(as: UInt16.self),
            let capabilitiesHigh = buffer.readMySQLInteger(as: UInt16.self),
            let authDataLength = buffer.readInteger(as: UInt8.self),
            buffer.readBytes(length: 10) != nil
        else {
            throw MySQLDecodeError(.truncatedPacket, "handshake ends inside its extended fields")
        }
        self.characterSet = characterSet
        self.statusFlags = statusFlags
        self.capabilities.rawValue |= UInt32(capabilitiesHigh) << 16
        if capabilities.contains(.secureConnection) {
            let length = Swift.max(13, Int(authDataLength) - 8)
            guard var part2 = buffer.readBytes(length: length) else {
                throw MySQLDecodeError(.truncatedPacket, "handshake ends inside auth-plugin-data part 2")
            }
            if part2.last == 0 { part2.removeLast() }
            self.authPluginData += part2
        }
        if capabilities.contains(.pluginAuth) {
            // Some servers omit the terminating NUL of the last field.
            self.authPluginName = buffer.readMySQLNullTerminatedString() ?? buffer.readString(length: buffer.readableBytes)
        }
    }

    /// Serialises the handshake, as a server would; used by tests and fake servers.
    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(10))
        buffer.writeMySQLNullTerminatedString(serverVersion)
        buffer.writeMySQLInteger(connectionID)
        let part1 = authPluginData.prefix(8)
        buffer.writeBytes(part1)
        buffer.writeRepeatingByte(0, count: 8 - part1.count)
        buffer.writeInteger(UInt8(0))
        buffer.writeMySQLInteger(UInt16(truncatingIfNeeded: capabilities.rawValue))
        buffer.writeInteger(characterSet)
        buffer.writeMySQLInteger(statusFlags)
        buffer.writeMySQLInteger(UInt16(truncatingIfNeeded: capabilities.rawValue >> 16))
        buffer.writeInteger(capabilities.contains(.pluginAuth) ? UInt8(authPluginData.count + 1) : 0)
        buffer.writeRepeatingByte(0, count: 10)
        if capabilities.contains(.secureConnection) {
            let part2 = authPluginData.dropFirst(8)
            buffer.writeBytes(part2)
            buffer.writeRepeatingByte(0, count: Swift.max(13 - part2.count, 1))
        }
        if capabilities.contains(.pluginAuth), let authPluginName {
            buffer.writeMySQLNullTerminatedString(authPluginName)
        }
    }
}

/// The client's answer to the handshake, HandshakeResponse41.
struct MySQLHandshakeResponse41: Hashable, Sendable {
    var capabilities: MySQLCapabilities
    var maxPacketSize: UInt32
    var characterSet: UInt8
    var username: String
    var authResponse: [UInt8]
    var database: String?
    var authPluginName: String?
}

extension MySQLHandshakeResponse41 {
    func write(to buffer: inout ByteBuffer) {
        buffer.writeMySQLInteger(capabilities.rawValue)
        buffer.writeMySQLInteger(maxPacketSize)
        buffer.writeInteger(characterSet)
        buffer.writeRepeatingByte(0, count: 23)
        buffer.writeMySQLNullTerminatedString(username)
        if capabilities.contains(.pluginAuthLengthEncodedData) {
            buffer.writeMySQLLengthEncodedBytes(authResponse)
        } else {
            buffer.writeInteger(UInt8(authResponse.count))
            buffer.writeBytes(authResponse)
        }
        if capabilities.contains(.connectWithDB) {
            buffer.writeMySQLNullTerminatedString(database ?? "")
        }
        if capabilities.contains(.pluginAuth) {
            buffer.writeMySQLNullTerminatedString(authPluginName ?? "")
        }
    }

    /// Parses a HandshakeResponse41 payload, as a server would; used by tests and fake servers.
    init(payload: ByteBuffer) throws(MySQLDecodeError) {
        var buffer = payload
        guard let flags = buffer.readMySQLInteger(as: UInt32.self),
            let maxPacketSize = buffer.readMySQLInteger(as: UInt32.self),
            let characterSet = buffer.readInteger(as: UInt8.self),
            buffer.readBytes(length: 23) != nil,
            let username = buffer.readMySQLNullTerminatedString()
        else { throw MySQLDecodeError(.truncatedPacket, "handshake response too short") }
        self.capabilities = MySQLCapabilities(rawValue: flags)
        self.maxPacketSize = maxPacketSize
        self.characterSet = characterSet
        self.username = username
        if capabilities.contains(.pluginAuthLengthEncodedData) {
            guard let data = try buffer.readMySQLLengthEncodedSlice() else {
                throw MySQLDecodeError(.truncatedPacket, "auth response")
            }
            self.authResponse = Array(data.readableBytesView)
        } else {
            guard let length = buffer.readInteger(as: UInt8.self), let data = buffer.readBytes(length: Int(length)) else {
                throw MySQLDecodeError(.truncatedPacket, "auth response")
            }
            self.authResponse = data
        }
        self.database = capabilities.contains(.connectWithDB) ? buffer.readMySQLNullTerminatedString() : nil
        self.authPluginName = capabilities.contains(.pluginAuth) ? buffer.readMySQLNullTerminatedString() : nil
    }
}

/// The server asks the client to authenticate again with another plugin (first byte 0xFE).
struct MySQLAuthSwitchRequest: Hashable, Sendable {
    var pluginName: String
    var pluginData: [UInt8]
}

extension MySQLAuthSwitchRequest {
    init(payload: ByteBuffer) throws(MySQLDecodeError) {
        var buffer = payload
        guard buffer.readInteger(as: UInt8.self) == 0xFE else {
            throw MySQLDecodeError(.unexpectedPacket, "not an auth switch request")
        }
        guard let name = buffer.readMySQLNullTerminatedString() else {
            // A bare 0xFE is the pre-4.1 "old password" switch, which is not supported.
            throw MySQLDecodeError(.unexpectedPacket, "auth switch request without plugin name")
        }
        self.pluginName = name
        var data = Array(buffer.readableBytesView)
        if data.last == 0 { data.removeLast() }
        self.pluginData = data
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0xFE))
        buffer.writeMySQLNullTerminatedString(pluginName)
        buffer.writeBytes(pluginData)
        buffer.writeInteger(UInt8(0))
    }
}
