// swift-tools-version:6.1
//
// Benchmarks for VigilMQTT: the subscriber driven by run.sh, and the device watchdog's message path
// over MQTT driven by bench/watchdog/run.sh and bench/callgrind/run.sh. A separate package so that
// the main build does not compile it; it depends on the main package by path. WatchdogSubscriber
// compiles DeviceTable and its two companions through symlinks to Sources/VigilMonitors/Devices
// (the VigilMonitors target would bring the HTTP client stack along). RedisBench is bench/redis's
// executable through a symlink, so that bench/callgrind/run.sh needs one build for all workloads.

import Foundation
import PackageDescription

// The identity of a path dependency is its directory name, which depends on where the repository
// was cloned; compute it instead of hard-coding it.
let rootName = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .lastPathComponent

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "mqtt-bench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
    ],
    targets: [
        .executableTarget(
            name: "MQTTBench",
            dependencies: [
                .product(name: "VigilMQTT", package: rootName),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "WatchdogSubscriber",
            dependencies: [
                .product(name: "VigilMQTT", package: rootName),
                .product(name: "VigilCore", package: rootName),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "RedisBench",
            dependencies: [
                .product(name: "VigilRedis", package: rootName),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
