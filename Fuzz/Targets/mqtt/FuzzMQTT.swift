// libFuzzer target: the MQTT packet decoder, as both protocol versions (docs/FUZZING.md).
import VigilMQTT

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMQTT(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    _ = try? MQTTFuzzing.decodeStream(bytes, version: .v5)
    _ = try? MQTTFuzzing.decodeStream(bytes, version: .v3_1_1)
    return 0
}
