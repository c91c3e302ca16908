//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import NIOCore

/// A command to send to Redis: its arguments, already encoded as RESP bulk strings.
///
/// Arguments are written straight into one buffer as they are appended, so sending a command
/// copies each argument once. The array header (`*N`) is written when the command goes out.
///
/// ```swift
/// var command = RedisCommand("SET")
/// command.append("user:1")
/// command.append(ByteBuffer(string: "{\"online\":true}"))
/// command.append("EX", 60)
/// let reply = try await client.execute(command)
///
/// let other: RedisCommand = ["HGET", "user:1", "name"]
/// ```
public struct RedisCommand: Hashable, Sendable, ExpressibleByArrayLiteral {
    /// The encoded bulk strings.
    private(set) var arguments: ByteBuffer
    /// The number of arguments, the name included.
    public private(set) var count: Int
    /// The command name as given.
    private let givenName: String

    /// The command name in upper case (the first argument), for logs and for recognising Pub/Sub
    /// commands.
    public var name: String { givenName.uppercased() }

    /// Creates a command from its name.
    ///
    /// - Parameter name: The command name, such as `GET` or `XADD`.
    public init(_ name: String) {
        self.arguments = ByteBuffer()
        self.arguments.reserveCapacity(64)
        self.count = 0
        // Upper-cased on demand: building a command must not pay for a log's convenience.
        self.givenName = name
        self.append(name)
    }

    /// Creates a command from its name and arguments.
    ///
    /// - Parameters:
    ///   - name: The command name.
    ///   - arguments: The arguments.
    public init(_ name: String, _ arguments: any RedisArgument...) {
        self.init(name)
        for argument in arguments { argument.appendRedisArgument(to: &self) }
    }

    /// Creates a command from strings: the first is the name.
    ///
    /// - Parameter strings: The name followed by the arguments; an empty list gives an empty name.
    public init(_ strings: [String]) {
        self.init(strings.first ?? "")
        for string in strings.dropFirst() { self.append(string) }
    }

    /// Creates a command from byte buffers: the first is the name.
    ///
    /// - Parameter buffers: The name followed by the arguments.
    public init(_ buffers: [ByteBuffer]) {
        self.init(buffers.first.map { String(buffer: $0) } ?? "")
        for buffer in buffers.dropFirst() { self.append(buffer) }
    }

    /// Creates a command from a literal list of strings: the first is the name.
    ///
    /// - Parameter elements: The name followed by the arguments.
    public init(arrayLiteral elements: String...) {
        self.init(elements)
    }

    /// Appends a string argument, encoded as UTF-8.
    ///
    /// - Parameter string: The argument.
    public mutating func append(_ string: String) {
        count += 1
        arguments.writeStaticString("$")
        arguments.writeString(String(string.utf8.count))
        arguments.writeStaticString("\r\n")
        arguments.writeString(string)
        arguments.writeStaticString("\r\n")
    }

    /// Appends a binary argument.
    ///
    /// - Parameter buffer: The argument's bytes.
    public mutating func append(_ buffer: ByteBuffer) {
        count += 1
        arguments.writeStaticString("$")
        arguments.writeString(String(buffer.readableBytes))
        arguments.writeStaticString("\r\n")
        arguments.writeImmutableBuffer(buffer)
        arguments.writeStaticString("\r\n")
    }

    /// Appends an integer argument in decimal.
    ///
    /// - Parameter number: The argument.
    public mutating func append(_ number: Int) {
        self.append(String(number))
    }

    /// Appends several arguments.
    ///
    /// - Parameter values: The arguments, in order.
    public mutating func append(_ values: any RedisArgument...) {
        for value in values { value.appendRedisArgument(to: &self) }
    }

    /// Writes the command as a RESP array of bulk strings.
    ///
    /// - Parameter buffer: The destination.
    func write(to buffer: inout ByteBuffer) {
        if count < 10 {
            // `*N\r\n` in one write: most commands have fewer than ten arguments.
            buffer.writeInteger(UInt32(0x2A00_0D0A) | UInt32(0x30 + count) << 16)
        } else {
            buffer.writeStaticString("*")
            buffer.writeString(String(count))
            buffer.writeStaticString("\r\n")
        }
        buffer.writeImmutableBuffer(arguments)
    }

    /// The encoded size in bytes.
    var encodedSize: Int { arguments.readableBytes + 16 }

    /// The arguments as given, the name first: for the cluster client, which routes by key and
    /// splits multi-key commands.
    var argumentBuffers: [ByteBuffer] {
        var reader = arguments
        var result: [ByteBuffer] = []
        result.reserveCapacity(count)
        // The buffer is our own encoding (`$<length>\r\n<bytes>\r\n`), so a failed read is a bug.
        while reader.readInteger(as: UInt8.self) == UInt8(ascii: "$") {
            var length = 0
            while let digit = reader.readInteger(as: UInt8.self), digit != UInt8(ascii: "\r") {
                length = length * 10 + Int(digit &- UInt8(ascii: "0"))
            }
            reader.moveReaderIndex(forwardBy: 1)
            guard let bytes = reader.readSlice(length: length) else { break }
            result.append(bytes)
            reader.moveReaderIndex(forwardBy: 2)
        }
        return result
    }
}

extension RedisCommand: CustomStringConvertible {
    /// The command name and argument count; arguments are not shown because they may be secrets.
    public var description: String { "\(name) (\(count - 1) arguments)" }
}

/// A value that can be sent as one argument of a ``RedisCommand``.
///
/// `String`, `Substring`, `ByteBuffer`, `Int` and `Double` conform.
public protocol RedisArgument: Sendable {
    /// Appends the value to a command as one bulk string.
    ///
    /// - Parameter command: The command being built.
    func appendRedisArgument(to command: inout RedisCommand)
}

extension String: RedisArgument {
    /// Appends the string, encoded as UTF-8.
    public func appendRedisArgument(to command: inout RedisCommand) { command.append(self) }
}

extension Substring: RedisArgument {
    /// Appends the string, encoded as UTF-8.
    public func appendRedisArgument(to command: inout RedisCommand) { command.append(String(self)) }
}

extension ByteBuffer: RedisArgument {
    /// Appends the readable bytes.
    public func appendRedisArgument(to command: inout RedisCommand) { command.append(self) }
}

extension Int: RedisArgument {
    /// Appends the number in decimal.
    public func appendRedisArgument(to command: inout RedisCommand) { command.append(self) }
}

extension Double: RedisArgument {
    /// Appends the number in Swift's shortest round-trip form (`inf` and `-inf` for infinities).
    public func appendRedisArgument(to command: inout RedisCommand) {
        command.append(self == .infinity ? "+inf" : self == -.infinity ? "-inf" : "\(self)")
    }
}
