// libFuzzer target: MySQL packet framing and every packet parser of the client (docs/FUZZING.md).
import Glibc
import VigilMySQL

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
        _ = try? MySQLFuzzing.decodeStream(UnsafeBufferPointer(start: data, count: size))
        return 0
    }
)
