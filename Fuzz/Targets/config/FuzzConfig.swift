// libFuzzer target: TOML configuration loading and validation (docs/FUZZING.md).
import VigilApp

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    // Any thrown error is a refused file (exit 2 in `vigil`); only a trap is a finding.
    _ = try? VigilConfiguration.parse(text, file: "fuzz.toml", environment: [:])
    return 0
}
