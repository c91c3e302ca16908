// swift-tools-version:6.1
//
// Vigil: one service that watches real-time communication and media infrastructure.
// The module graph follows docs/ARCHITECTURE.md: protocol clients at the
// bottom, VigilCore as the pure domain, storage and sources above it, VigilApp wiring them, and a
// thin `vigil` executable.

import PackageDescription

/// Compiler settings shared by every target.
///
/// - `ExistentialAny` (SE-0335) makes every existential explicit.
/// - `MemberImportVisibility` (SE-0444) stops members leaking through transitive imports.
/// - `InternalImportsByDefault` (SE-0409) keeps dependencies out of our public API unless we say
///   `public import`.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "vigil",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vigil", targets: ["vigil"]),
        .library(name: "VigilMQTT", targets: ["VigilMQTT"]),
        .library(name: "VigilRedis", targets: ["VigilRedis"]),
        .library(name: "VigilKafka", targets: ["VigilKafka"]),
        .library(name: "VigilCore", targets: ["VigilCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // traits: [] keeps hummingbird from recompiling when switching between build and test.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
    ],
    targets: [
        // MARK: - Protocol clients (no domain knowledge)
        // The skeleton the four clients share: one reconnect policy and one error shape. It depends
        // on nothing, so each client stays usable on its own (docs/ARCHITECTURE.md, "Protocol clients").
        .target(
            name: "VigilClientSupport",
            dependencies: ["CVigilCRC32C", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // CRC-32C with the CPU's CRC32 instruction (Kafka record batches, LevelDB blocks).
        .target(name: "CVigilCRC32C"),
        // SASL mechanisms the XMPP and Kafka clients share (SCRAM-SHA-1/256/512, base64).
        .target(
            name: "VigilSASL",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilMQTT",
            dependencies: [
                "VigilClientSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilRedis",
            dependencies: [
                "VigilClientSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Kafka on SwiftNIO (issue 16): no Swift Kafka package exists here and Debian's librdkafka
        // fails against the test broker, so the protocol is implemented natively.
        .systemLibrary(name: "CVigilZlib"),
        // LZ4 and Zstandard record batches, through liblz4 and libzstd loaded at run time.
        .target(name: "CVigilCodecs", linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
        .target(
            name: "VigilKafka",
            dependencies: [
                "VigilClientSupport",
                "VigilSASL",
                "CVigilZlib",
                "CVigilCodecs",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: - Domain
        .target(
            name: "VigilCore",
            dependencies: [
                "VigilClientSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: - Storage, sources, web
        // Reads iotmonitor's LevelDB state store for `vigil import` without linking LevelDB.
        .target(name: "VigilLevelDB", dependencies: ["VigilClientSupport"], swiftSettings: swiftSettings),
        .target(
            name: "VigilStorage",
            dependencies: [
                "VigilCore",
                "VigilRedis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                // The SQLite C API, for binding multi-row inserts without boxing each value.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilMonitors",
            dependencies: [
                "VigilCore",
                "VigilMQTT",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilWeb",
            dependencies: [
                "VigilCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The dashboard's files (DashboardAssets.swift) and docs/openapi.yaml (a symbolic link in
            // API/, served at /api/v1/openapi.yaml), compiled into the binary as `PackageResources`.
            resources: [
                .embedInCode("Resources/index.html"),
                .embedInCode("Resources/dashboard.css"),
                .embedInCode("Resources/dashboard.js"),
                .embedInCode("API/openapi.yaml"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: - Test support and benchmarks
        // Simulated MediaMTX and Visionaire HTTP APIs, shared by the tests and bench/streams.
        .target(
            name: "StreamSimulators",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "vigil-streams-bench",
            dependencies: ["VigilMonitors", "VigilCore", "StreamSimulators"],
            path: "bench/streams/Sources",
            swiftSettings: swiftSettings
        ),

        // Alert evaluation benchmark: bench/alerts/run.sh.
        .executableTarget(
            name: "vigil-alerts-bench",
            dependencies: ["VigilCore"],
            path: "bench/alerts/Sources",
            swiftSettings: swiftSettings
        ),

        // WebSocket live-feed benchmark: bench/live/run.sh.
        .executableTarget(
            name: "vigil-live-bench",
            dependencies: [
                "VigilCore",
                "VigilWeb",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "bench/live/Sources",
            swiftSettings: swiftSettings
        ),

        // Protocol clients for the Announcer (seed 001): XMPP and MySQL.
        .target(
            name: "VigilXMPP",
            dependencies: [
                "VigilClientSupport",
                "VigilSASL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilMySQL",
            dependencies: [
                "VigilClientSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // Seed 001: announcements to XMPP users.
        .target(
            name: "VigilAnnouncer",
            dependencies: [
                "VigilCore",
                "VigilXMPP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: - Application
        .target(
            name: "VigilApp",
            dependencies: [
                "VigilCore",
                "VigilStorage",
                "VigilLevelDB",
                "VigilMonitors",
                "VigilWeb",
                "VigilMQTT",
                "VigilAnnouncer",
                "VigilXMPP",
                "VigilMySQL",
                "VigilRedis",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                "VigilKafka",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "vigil",
            dependencies: [
                "VigilApp",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: - Tests
        // Seed corpora and a seeded mutator for the codec tests (docs/FUZZING.md).
        .target(name: "FuzzSupport", path: "Fuzz/Support", swiftSettings: swiftSettings),
        .testTarget(
            name: "VigilClientSupportTests",
            dependencies: ["VigilClientSupport", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilLevelDBTests",
            dependencies: ["VigilLevelDB", "FuzzSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilMQTTTests",
            dependencies: [
                "VigilClientSupport",
                "VigilMQTT",
                "FuzzSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilRedisTests",
            dependencies: [
                "VigilClientSupport",
                "VigilRedis",
                "FuzzSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilKafkaTests",
            dependencies: [
                "VigilKafka",
                "VigilSASL",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                "VigilClientSupport",
                "FuzzSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilCoreTests",
            dependencies: [
                "VigilCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilStorageTests",
            dependencies: ["VigilStorage", "VigilCore", "VigilRedis"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilMonitorsTests",
            dependencies: [
                "VigilMonitors", "VigilCore", "StreamSimulators", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"), .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilWebTests",
            dependencies: [
                "VigilWeb",
                "VigilCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSTesting", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilXMPPTests",
            dependencies: [
                "VigilClientSupport",
                "VigilXMPP",
                "VigilSASL",
                "FuzzSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilMySQLTests",
            dependencies: [
                "VigilMySQL",
                "FuzzSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilAnnouncerTests",
            dependencies: [
                "VigilAnnouncer",
                "VigilApp",
                "VigilWeb",
                "VigilCore",
                "VigilStorage",
                "VigilXMPP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilAppTests",
            dependencies: [
                "VigilApp",
                "VigilAnnouncer",
                "VigilCore",
                "VigilWeb",
                "VigilStorage",
                "VigilRedis",
                "VigilMonitors",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "VigilClientSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                "StreamSimulators",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "VigilMonitors",
                "VigilMQTT",
                "VigilRedis",
                "VigilKafka",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                "VigilXMPP",
                "VigilMySQL",
                "VigilApp",
                "VigilCore",
                "VigilStorage",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// MARK: - Fuzzing (docs/FUZZING.md)
// libFuzzer targets exist only when the manifest sees VIGIL_FUZZ=1: scripts/fuzz sets it and builds
// them in .build-fuzz with -sanitize=fuzzer,address, which the default build must never need. Being
// targets of this package, they reach the decoders through narrow `package` entry points instead
// of new public API.
if Context.environment["VIGIL_FUZZ"] == "1" {
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("mqtt", ["VigilMQTT"]),
        ("resp", ["VigilRedis"]),
        ("kafka", ["VigilKafka"]),
        ("leveldb", ["VigilLevelDB"]),
        ("mysql", ["VigilMySQL"]),
        ("xmpp", ["VigilXMPP", .product(name: "NIOCore", package: "swift-nio")]),
        ("config", ["VigilApp"]),
        ("query", ["VigilWeb"]),
    ]
    for target in fuzzTargets {
        package.targets.append(
            .executableTarget(
                name: "fuzz-\(target.name)",
                dependencies: target.dependencies,
                path: "Fuzz/Targets/\(target.name)",
                swiftSettings: swiftSettings
            )
        )
    }
}
