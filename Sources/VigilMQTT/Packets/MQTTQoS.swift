//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The MQTT protocol revision a client speaks.
public enum MQTTProtocolVersion: Sendable, Hashable {
    /// MQTT 3.1.1 (protocol level 4).
    case v3_1_1
    /// MQTT 5.0 (protocol level 5).
    case v5

    /// The protocol level byte sent in CONNECT.
    var level: UInt8 {
        switch self {
        case .v3_1_1: 4
        case .v5: 5
        }
    }
}

/// The quality of service of a publication or subscription.
public enum MQTTQoS: UInt8, Sendable, Hashable, Comparable {
    /// Delivered at most once, without acknowledgement.
    case atMostOnce = 0
    /// Delivered at least once: the receiver acknowledges with PUBACK.
    case atLeastOnce = 1
    /// Delivered exactly once, through the PUBREC/PUBREL/PUBCOMP exchange.
    case exactlyOnce = 2

    /// Orders the levels by strength of guarantee.
    public static func < (lhs: MQTTQoS, rhs: MQTTQoS) -> Bool { lhs.rawValue < rhs.rawValue }
}
