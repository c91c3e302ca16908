// swift-tools-version:6.1
//
// Device watchdog benchmark: Vigil's shared deadline engine (DeviceTable + WatchdogEngine) against
// a straightforward per-device-timer watchdog, in the same run. A separate package so the main
// build does not compile it. It compiles only the pure sources it needs through the symlinks in
// Sources/Vigil (no TLS or HTTP stack), so a release build takes about a minute.

import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "watchdog-bench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .target(name: "VigilClientSupport", path: "Sources/Vigil/VigilClientSupport", swiftSettings: swiftSettings),
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
            name: "VigilMQTT",
            dependencies: ["VigilClientSupport"],
            path: "Sources/Vigil/VigilMQTT",
            sources: ["Topics/MQTTTopicTrie.swift", "Topics/MQTTTopicFilter.swift", "MQTTClientError.swift"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilMonitors",
            dependencies: ["VigilCore", "VigilMQTT", .product(name: "NIOCore", package: "swift-nio")],
            path: "Sources/Vigil/VigilMonitors",
            sources: ["Devices/DeviceTable.swift", "Devices/DeviceDefinition.swift", "Devices/DeviceStateLedger.swift"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "WatchdogBench",
            dependencies: ["VigilCore", "VigilMQTT", "VigilMonitors", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
    ]
)
