//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import NIOCore

/// Decodes the bytes of one XMPP stream into ``XMPPStreamEvent``s.
///
/// A thin `NIOSingleStepByteToMessageDecoder` around ``XMPPStreamParser``, for pipelines that only
/// read. The connection handler drives the parser itself, because a stream restart (after STARTTLS or
/// SASL) must reset the parser while keeping the bytes already received.
public struct XMPPStreamDecoder: NIOSingleStepByteToMessageDecoder {
    /// The decoded message type.
    public typealias InboundOut = XMPPStreamEvent

    private var parser: XMPPStreamParser

    /// Creates a decoder with the given limits.
    public init(limits: XMPPStreamParser.Limits = .init()) {
        self.parser = XMPPStreamParser(limits: limits)
    }

    /// Decodes the next event, or returns `nil` when more bytes are needed.
    public mutating func decode(buffer: inout ByteBuffer) throws -> XMPPStreamEvent? {
        try parser.next(from: &buffer)
    }

    /// Decodes what is left at the end of input; a stanza or tag cut off by EOF is an error.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> XMPPStreamEvent? {
        if let event = try parser.next(from: &buffer) { return event }
        if seenEOF, parser.isInsideStanza || buffer.readableBytesView.contains(where: { !XMPPStreamParser.isWhitespace($0) }) {
            throw XMLDecodeError(.unexpectedEndOfStream)
        }
        return nil
    }
}
