//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import VigilCore

/// Seconds as a short Go-style duration: `45s`, `1.5s`, `250ms`, `2m5s`.
func formatSeconds(_ seconds: Double) -> String {
    // Outside this range the conversions below could trap; such values are not durations we make.
    guard seconds.isFinite, seconds >= 0, seconds < 1e12 else { return "\(seconds)s" }
    if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
    if seconds < 60 {
        let tenths = (seconds * 10).rounded() / 10
        return tenths == tenths.rounded() ? "\(Int(tenths))s" : "\(tenths)s"
    }
    let whole = Int(seconds.rounded())
    return whole % 60 == 0 ? "\(whole / 60)m" : "\(whole / 60)m\(whole % 60)s"
}

/// Compact JSON with sorted keys.
func jsonBytes(_ value: JSONValue) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // A JSONValue built from finite numbers and strings always encodes.
    return Array((try? encoder.encode(value)) ?? Data("null".utf8))
}
