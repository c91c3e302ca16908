// libFuzzer target: REST v1 request targets, path and query string (docs/FUZZING.md).
import Glibc
import VigilWeb

/// The input with every byte outside printable ASCII, and every `%` not starting an escape,
/// written as `%XX`: lossy UTF-8 decoding turns invalid bytes into U+FFFD, and this variant lets the
/// raw bytes reach the strict percent-decoder instead.
func percentEncoded(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
    let hex = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 3)
    func isHex(_ index: Int) -> Bool {
        index < bytes.count && Character(Unicode.Scalar(bytes[index])).isHexDigit
    }
    for (index, byte) in bytes.enumerated() {
        let escape = byte == UInt8(ascii: "%") && isHex(index + 1) && isHex(index + 2)
        if byte > 0x20, byte < 0x7F, byte != UInt8(ascii: "%") || escape {
            out.append(byte)
        } else {
            out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// Parses one target and checks that what comes back is within the ranges docs/API.md promises.
func check(_ target: String) {
    let parsed: APIQuery?
    do {
        // A fixed "now" (2026-12-06) so that a finding reproduces.
        parsed = try APIQuery.parse(target: target, now: 1_796_515_200)
    } catch {
        return  // a 400 naming the parameter: the expected outcome for most inputs
    }
    switch parsed {
    case .events(let query):
        precondition((1...Int(EventsQuery.maxLimit)).contains(query.limit), "limit out of range")
        precondition(query.afterID.map { $0 >= 0 } ?? true, "negative 'after'")
        precondition(query.since.map(APIQuery.timeRange.contains) ?? true, "'since' out of range")
    case .history(let query):
        precondition(!query.series.isEmpty, "empty series")
        precondition(APIQuery.timeRange.contains(query.from) && APIQuery.timeRange.contains(query.to), "range out of bounds")
        precondition(query.from <= query.to, "'from' after 'to'")
        precondition(APIQuery.timeRange.contains(query.step), "step out of range")
    case .series, .target, nil:
        break
    }
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
        let bytes = UnsafeBufferPointer(start: data, count: size)
        check(String(decoding: bytes, as: UTF8.self))
        // Only when the lossy decoding lost something: otherwise the first call saw the same bytes.
        if bytes.contains(where: { $0 >= 0x80 || $0 < 0x20 }) {
            check(percentEncoded(bytes))
        }
        return 0
    }
)
