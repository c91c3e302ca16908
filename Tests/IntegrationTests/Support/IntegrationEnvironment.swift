//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation

/// Where the real services started by `scripts/test` live.
///
/// `scripts/test` exports one host/port pair per service. When `VIGIL_INTEGRATION=1`, a service that
/// is not configured is a test *failure* (see ``require(_:)``), never a skip; without it, integration
/// suites are disabled through ``enabled``.
enum IntegrationEnvironment {
    /// Whether the integration suites run at all (`VIGIL_INTEGRATION=1`).
    static let enabled: Bool = ProcessInfo.processInfo.environment["VIGIL_INTEGRATION"] == "1"

    /// The environment of the test process.
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// Host of the plain-TCP Mosquitto listener (`MOSQUITTO_HOST`, default 127.0.0.1).
    static var mosquittoHost: String { environment["MOSQUITTO_HOST"] ?? "127.0.0.1" }

    /// Port of the plain-TCP Mosquitto listener (`MOSQUITTO_PORT`).
    static var mosquittoPort: Int { get throws { try port("MOSQUITTO_PORT") } }

    /// Port of the TLS Mosquitto listener (`MOSQUITTO_TLS_PORT`).
    static var mosquittoTLSPort: Int { get throws { try port("MOSQUITTO_TLS_PORT") } }

    /// CA certificate that signed the TLS listener's certificate (`MOSQUITTO_CA_FILE`).
    static var mosquittoCAFile: String { get throws { try require("MOSQUITTO_CA_FILE") } }

    /// The mosquitto binary, for tests that run a private broker they may kill (`MOSQUITTO_BIN`).
    static var mosquittoBinary: String { environment["MOSQUITTO_BIN"] ?? "/usr/sbin/mosquitto" }

    /// Host of the Prosody XMPP server (`PROSODY_HOST`, default 127.0.0.1).
    static var prosodyHost: String { environment["PROSODY_HOST"] ?? "127.0.0.1" }

    /// Port of Prosody's client (c2s) listener (`PROSODY_C2S_PORT`).
    static var prosodyC2SPort: Int { get throws { try port("PROSODY_C2S_PORT") } }

    /// Port of Prosody's XEP-0114 component listener (`PROSODY_COMPONENT_PORT`).
    static var prosodyComponentPort: Int { get throws { try port("PROSODY_COMPONENT_PORT") } }

    /// The Prosody virtual host users live on (`PROSODY_DOMAIN`).
    static var prosodyDomain: String { get throws { try require("PROSODY_DOMAIN") } }

    /// The external component's domain (`PROSODY_COMPONENT_DOMAIN`).
    static var prosodyComponentDomain: String { get throws { try require("PROSODY_COMPONENT_DOMAIN") } }

    /// The external component's shared secret (`PROSODY_COMPONENT_SECRET`).
    static var prosodyComponentSecret: String { get throws { try require("PROSODY_COMPONENT_SECRET") } }

    /// Registered Prosody users as (name, password), from `PROSODY_USERS` ("user:password" pairs
    /// separated by spaces).
    static var prosodyUsers: [(name: String, password: String)] {
        get throws {
            try require("PROSODY_USERS").split(separator: " ").map { pair in
                let parts = pair.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else { throw MissingService(variable: "PROSODY_USERS", detail: "'\(pair)' is not user:password") }
                return (String(parts[0]), String(parts[1]))
            }
        }
    }

    /// The self-signed certificate of Prosody's c2s STARTTLS, to trust in tests (`PROSODY_CA_FILE`).
    static var prosodyCAFile: String { get throws { try require("PROSODY_CA_FILE") } }

    /// An XMPP server started by `scripts/services/prosody.sh` or `ejabberd.sh`: the variables
    /// `<PREFIX>_HOST`, `_C2S_PORT`, `_COMPONENT_PORT`, `_DOMAIN`, `_COMPONENT_DOMAIN`,
    /// `_COMPONENT_SECRET` and `_USERS` ("user:password" pairs separated by spaces).
    struct XMPPServer: Sendable, CustomStringConvertible {
        var name: String
        var host: String
        var c2sPort: Int
        var componentPort: Int
        var domain: String
        var componentDomain: String
        var componentSecret: String
        var users: [(name: String, password: String)]

        var description: String { name }
    }

    /// The XMPP server whose variables start with `prefix` (`PROSODY`, `EJABBERD`).
    static func xmppServer(_ prefix: String, name: String) throws -> XMPPServer {
        XMPPServer(
            name: name,
            host: environment["\(prefix)_HOST"] ?? "127.0.0.1",
            c2sPort: try port("\(prefix)_C2S_PORT"),
            componentPort: try port("\(prefix)_COMPONENT_PORT"),
            domain: try require("\(prefix)_DOMAIN"),
            componentDomain: try require("\(prefix)_COMPONENT_DOMAIN"),
            componentSecret: try require("\(prefix)_COMPONENT_SECRET"),
            users: try require("\(prefix)_USERS").split(separator: " ").map { pair in
                let parts = pair.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else { throw MissingService(variable: "\(prefix)_USERS", detail: "'\(pair)' is not user:password") }
                return (String(parts[0]), String(parts[1]))
            }
        )
    }

    /// The prosody binary, for tests that run a private server they may restart (`PROSODY_BIN`).
    static var prosodyBinary: String { environment["PROSODY_BIN"] ?? "/usr/bin/prosody" }

    /// Host of the MariaDB server (`MARIADB_HOST`, default 127.0.0.1).
    static var mariadbHost: String { environment["MARIADB_HOST"] ?? "127.0.0.1" }

    /// Port of the MariaDB server (`MARIADB_PORT`).
    static var mariadbPort: Int { get throws { try port("MARIADB_PORT") } }

    /// An account with all privileges on the test database (`MARIADB_USER`).
    static var mariadbUser: String { get throws { try require("MARIADB_USER") } }

    /// That account's password (`MARIADB_PASSWORD`).
    static var mariadbPassword: String { get throws { try require("MARIADB_PASSWORD") } }

    /// The test database (`MARIADB_DATABASE`).
    static var mariadbDatabase: String { get throws { try require("MARIADB_DATABASE") } }

    /// Host of the Redis server started by `scripts/services/redis.sh` (`REDIS_HOST`).
    static var redisHost: String { get throws { try require("REDIS_HOST") } }

    /// Port of that Redis server (`REDIS_PORT`).
    static var redisPort: Int { get throws { try port("REDIS_PORT") } }

    /// Every node of the Redis Cluster started by `scripts/services/redis.sh`, as `host:port`
    /// (`REDIS_CLUSTER_NODES`, comma-separated).
    static var redisClusterNodes: [String] {
        get throws { try require("REDIS_CLUSTER_NODES").split(separator: ",").map(String.init) }
    }

    /// That cluster's folder: one folder per node, named by its port, with `redis.conf` and
    /// `redis.pid` (`REDIS_CLUSTER_DIR`).
    static var redisClusterDirectory: String { get throws { try require("REDIS_CLUSTER_DIR") } }

    /// The redis-server binary, for tests that run a private server they may kill (`REDIS_BIN`).
    static var redisBinary: String { environment["REDIS_BIN"] ?? "/usr/bin/redis-server" }

    /// A directory the test run may write into (`VIGIL_TEST_TMP`, default the system temp dir).
    /// Alertmanager's base URL (scripts/services/alertmanager.sh).
    static var alertmanagerURL: String { get throws { try require("ALERTMANAGER_URL") } }

    /// A python3 that can `import plyvel`, a real LevelDB writer (scripts/services/leveldb.sh).
    static var leveldbPython: String { get throws { try require("LEVELDB_PYTHON") } }

    static var scratchDirectory: URL {
        URL(fileURLWithPath: environment["VIGIL_TEST_TMP"] ?? NSTemporaryDirectory())
    }

    /// Returns a required variable, or throws a descriptive error when `scripts/test` did not set it.
    static func require(_ name: String) throws -> String {
        guard let value = environment[name], !value.isEmpty else {
            throw MissingService(variable: name)
        }
        return value
    }

    /// Returns a required variable parsed as a TCP port.
    static func port(_ name: String) throws -> Int {
        let text = try require(name)
        guard let port = Int(text), (1...65535).contains(port) else {
            throw MissingService(variable: name, detail: "'\(text)' is not a port")
        }
        return port
    }

    /// A service the integration tests need was not provided by `scripts/test`.
    struct MissingService: Error, CustomStringConvertible {
        var variable: String
        var detail: String = "not set; run the tests through scripts/test"
        var description: String { "integration service missing: \(variable) \(detail)" }
    }
}

/// Picks a free loopback TCP port by binding port 0 and closing the socket.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: address.sin_port))
}
