//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Bounds how many messages one live client may send: a token bucket that refills at ``rate`` per
/// second and holds at most one second's worth, so a client may burst ``rate`` messages and then
/// send ``rate`` per second. Every subscribe costs a snapshot (a hub read, an event query and a
/// JSON encoding), which is what this guards. A pure value: the caller supplies the time.
struct LiveRequestLimiter: Sendable, Hashable {
    /// Messages per second (and the burst size).
    let rate: Double
    private var tokens: Double
    private var last: Double

    /// Creates a full bucket.
    ///
    /// - Parameters:
    ///   - perSecond: Messages per second; values below 1 count as 1.
    ///   - now: The current time in seconds (monotonic).
    init(perSecond: Int, now: Double) {
        rate = Double(max(1, perSecond))
        tokens = rate
        last = now
    }

    /// Takes one token; `false` when the client has sent too many messages.
    mutating func allow(now: Double) -> Bool {
        // A clock that went backwards refills nothing rather than trapping or going negative.
        let elapsed = max(0, now - last)
        last = max(last, now)
        tokens = min(rate, tokens + elapsed * rate)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
