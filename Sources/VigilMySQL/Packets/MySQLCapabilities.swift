//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Capability flags exchanged in the initial handshake (`CLIENT_*` in the protocol documentation).
struct MySQLCapabilities: OptionSet, Hashable, Sendable {
    var rawValue: UInt32

    static let longPassword = MySQLCapabilities(rawValue: 1 << 0)
    static let foundRows = MySQLCapabilities(rawValue: 1 << 1)
    static let longFlag = MySQLCapabilities(rawValue: 1 << 2)
    static let connectWithDB = MySQLCapabilities(rawValue: 1 << 3)
    static let localFiles = MySQLCapabilities(rawValue: 1 << 7)
    static let protocol41 = MySQLCapabilities(rawValue: 1 << 9)
    static let ssl = MySQLCapabilities(rawValue: 1 << 11)
    static let transactions = MySQLCapabilities(rawValue: 1 << 13)
    static let secureConnection = MySQLCapabilities(rawValue: 1 << 15)
    static let multiStatements = MySQLCapabilities(rawValue: 1 << 16)
    static let multiResults = MySQLCapabilities(rawValue: 1 << 17)
    static let psMultiResults = MySQLCapabilities(rawValue: 1 << 18)
    static let pluginAuth = MySQLCapabilities(rawValue: 1 << 19)
    static let connectAttributes = MySQLCapabilities(rawValue: 1 << 20)
    static let pluginAuthLengthEncodedData = MySQLCapabilities(rawValue: 1 << 21)
    static let sessionTrack = MySQLCapabilities(rawValue: 1 << 23)
    static let deprecateEOF = MySQLCapabilities(rawValue: 1 << 24)

    /// What this client asks for; the connection uses the intersection with the server's flags.
    ///
    /// Session tracking, multi-statements, local files, compression and TLS are left out on purpose:
    /// the parsers here do not handle their extra fields.
    static let clientDefault: MySQLCapabilities = [
        .longPassword, .foundRows, .longFlag, .protocol41, .transactions, .secureConnection,
        .multiResults, .psMultiResults, .pluginAuth, .pluginAuthLengthEncodedData, .deprecateEOF,
    ]
}

/// Server status flags carried by OK and EOF packets (`SERVER_*`).
struct MySQLServerStatus: OptionSet, Hashable, Sendable {
    var rawValue: UInt16

    static let inTransaction = MySQLServerStatus(rawValue: 0x0001)
    static let autocommit = MySQLServerStatus(rawValue: 0x0002)
    static let moreResultsExist = MySQLServerStatus(rawValue: 0x0008)
}
