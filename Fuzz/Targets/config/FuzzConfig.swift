// libFuzzer target: TOML configuration loading and validation (docs/FUZZING.md).
import Glibc
import VigilApp

/// LeakSanitizer's built-in suppressions, read at start-up. TOMLKit 0.6 never frees what its
/// accessors and parser allocate (`tableGetKeys`, `nodeAsString`, `nodeAsInt`, the parse error), a
/// few hundred bytes a config load; without this every input is a "leak". The pattern matches the
/// source path of the allocating frame, so leaks allocated by Vigil's own code are still reported.
@_cdecl("__lsan_default_suppressions")
func leakSuppressions() -> UnsafePointer<CChar> {
    UnsafeRawPointer(("leak:/checkouts/TOMLKit/\n" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
}

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
        let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
        // Any thrown error is a refused file (exit 2 in `vigil`); only a trap is a finding.
        _ = try? VigilConfiguration.parse(text, file: "fuzz.toml", environment: [:])
        return 0
    }
)
