// libFuzzer target: MySQL packet framing and every packet parser of the client (docs/FUZZING.md).
import VigilMySQL

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMySQL(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? MySQLFuzzing.decodeStream(UnsafeBufferPointer(start: data, count: size))
    return 0
}
