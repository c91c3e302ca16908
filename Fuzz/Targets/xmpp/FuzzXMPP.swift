// libFuzzer target: the XMPP stream parser (docs/FUZZING.md). The first byte picks a chunk size; the
// rest is parsed once whole and once in chunks of that size, and both must give the same events and
// the same error, because bytes may arrive split anywhere.
import Glibc
import NIOCore
import VigilXMPP

private func parse(_ bytes: UnsafeBufferPointer<UInt8>, chunk: Int) -> ([XMPPStreamEvent], XMLDecodeError?) {
    var parser = XMPPStreamParser()
    var buffer = ByteBuffer()
    var events: [XMPPStreamEvent] = []
    var offset = 0
    while offset < bytes.count {
        let end = min(offset + chunk, bytes.count)
        buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[offset..<end]))
        offset = end
        do {
            while let event = try parser.next(from: &buffer) { events.append(event) }
        } catch {
            return (events, error)
        }
    }
    return (events, nil)
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
        guard size > 0 else { return 0 }
        let chunk = Int(data[0] % 16) + 1
        let stream = UnsafeBufferPointer(start: data + 1, count: size - 1)
        let whole = parse(stream, chunk: max(stream.count, 1))
        let split = parse(stream, chunk: chunk)
        precondition(whole.0 == split.0, "events differ when the stream arrives in \(chunk)-byte chunks")
        precondition(whole.1?.code == split.1?.code, "errors differ when the stream arrives in \(chunk)-byte chunks")
        return 0
    }
)
