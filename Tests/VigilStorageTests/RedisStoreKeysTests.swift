//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilCore
import VigilRedis
import VigilStorage

@Suite("Redis store key layout")
struct RedisStoreKeysTests {
    @Test("MediaMTX data goes to seed 003's keys, everything else under the prefix")
    func layout() {
        let keys = RedisStoreKeys(prefix: "v:")
        #expect(keys.latest(TargetID(.stream, "mediamtx/main/cam1")) == ("mediamtx:streams:latest", "main/cam1"))
        #expect(keys.latest(TargetID(.stream, "visionaire/h/1")) == ("v:latest:stream", "visionaire/h/1"))
        #expect(keys.latest(TargetID(.device, "lamp")) == ("v:latest:device", "lamp"))
        #expect(keys.history("stream/mediamtx/main/cam1/rtt_seconds") == "mediamtx:history:main/cam1/rtt_seconds")
        #expect(keys.history("host/web1/cpu_usage_ratio") == "v:history:host/web1/cpu_usage_ratio")
        #expect(keys.state == "v:state")
        #expect(keys.updates == "v:updates")
    }

    @Test("The event stream and its counter share one cluster slot")
    func eventSlot() {
        let keys = RedisStoreKeys(prefix: "vigil:")
        #expect(RedisClusterSlot.slot(for: keys.events) == RedisClusterSlot.slot(for: keys.eventSequence))
    }

    @Test("Prefixes: hash tags, globs, whitespace, seed-003 names and empty ones are refused")
    func prefixes() {
        #expect(RedisStoreKeys.validate(prefix: "vigil:") == nil)
        #expect(RedisStoreKeys.validate(prefix: "site-a/vigil:") == nil)
        for bad in ["", "a{b}", "a*", "a b", "mediamtx:x", String(repeating: "a", count: 65)] {
            #expect(RedisStoreKeys.validate(prefix: bad) != nil, "\(bad)")
        }
    }
}
