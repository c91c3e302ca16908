// libFuzzer target: the LevelDB table, log, manifest and Snappy readers (docs/FUZZING.md).
import Glibc
import VigilLevelDB

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
        LevelDBFuzzing.decode(Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }
)
