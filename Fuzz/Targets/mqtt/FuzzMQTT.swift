// libFuzzer target: the MQTT packet decoder, as both protocol versions (docs/FUZZING.md).
import Glibc
import VigilMQTT

/// libFuzzer's entry point for programs with their own `main` (SwiftPM gives every executable one).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzer(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ test: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(
    runFuzzer(&argc, &argv) { data, size in
        let bytes = UnsafeBufferPointer(start: data, count: size)
        _ = try? MQTTFuzzing.decodeStream(bytes, version: .v5)
        _ = try? MQTTFuzzing.decodeStream(bytes, version: .v3_1_1)
        return 0
    }
)
