// swift-tools-version:6.1
//
// Hub and SQLite benchmark: samples through `Hub.apply` into the SQLite store, against Python's
// sqlite3 doing the same inserts in the same run (run.sh), and the same ingest into the Redis store
// against SQLite with history query latency (redis.sh). A separate package so the main build does
// not compile it; it compiles VigilCore, VigilRedis and VigilStorage through the symlinks in
// Sources/Vigil (no HTTP stack).

import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "hub-bench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    ],
    targets: [
        .target(
            name: "VigilClientSupport",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            path: "Sources/Vigil/VigilClientSupport",
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
            path: "Sources/Vigil/VigilRedis",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilCore",
            dependencies: [
                "VigilClientSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Vigil/VigilCore",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilStorage",
            dependencies: [
                "VigilCore",
                "VigilRedis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Vigil/VigilStorage",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "HubBench",
            dependencies: ["VigilCore", "VigilRedis", "VigilStorage", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
    ]
)
