// libFuzzer target: the RESP3 decoder (docs/FUZZING.md).
import VigilRedis

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? RESPFuzzing.decodeStream(UnsafeBufferPointer(start: data, count: size))
    return 0
}
