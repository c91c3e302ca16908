// swift-tools-version:6.1
//
// Benchmark for VigilKafka: produce and consume throughput, driven by run.sh next to confluent-kafka.
// It is a separate package so that the main build does not compile it; it depends on the main
// package by path.

import Foundation
import PackageDescription

// The identity of a path dependency is its directory name, which depends on where the repository
// was cloned; compute it instead of hard-coding it.
let rootName = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .lastPathComponent

let package = Package(
    name: "kafka-bench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
    ],
    targets: [
        .executableTarget(
            name: "KafkaBench",
            dependencies: [
                .product(name: "VigilKafka", package: rootName),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [
                .enableUpcomingFeature("ExistentialAny"),
                .enableUpcomingFeature("MemberImportVisibility"),
                .enableUpcomingFeature("InternalImportsByDefault"),
            ]
        )
    ]
)
