//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import NIOCore

/// Something that runs Redis commands: a ``RedisConnection`` or a ``RedisClient``.
///
/// The typed command methods (``get(_:)``, ``xadd(_:id:fields:trim:)`` and the others) are
/// written once on this protocol, on top of ``execute(_:)``.
public protocol RedisCommandExecutor: Sendable {
    /// Sends a command and waits for its reply.
    ///
    /// - Parameter command: The command.
    /// - Returns: The reply; error replies are thrown.
    /// - Throws: ``RedisClientError``.
    func execute(_ command: RedisCommand) async throws -> RESPValue

    /// Sends a command that blocks on the server for up to `block`.
    ///
    /// - Parameters:
    ///   - command: The command.
    ///   - block: The server-side block time; `nil` for no limit.
    /// - Returns: The reply.
    /// - Throws: ``RedisClientError``.
    func executeBlocking(_ command: RedisCommand, block: Duration?) async throws -> RESPValue
}

extension RedisCommandExecutor {
    /// Sends a command given as strings: the first is the name.
    ///
    /// - Parameter command: The name followed by the arguments, as in `["HGET", "key", "field"]`.
    /// - Returns: The reply.
    /// - Throws: ``RedisClientError``.
    @discardableResult
    public func execute(_ command: [String]) async throws -> RESPValue {
        try await self.execute(RedisCommand(command))
    }

    /// Sends a command given as byte buffers: the first is the name.
    ///
    /// - Parameter command: The name followed by binary arguments.
    /// - Returns: The reply.
    /// - Throws: ``RedisClientError``.
    @discardableResult
    public func execute(_ command: [ByteBuffer]) async throws -> RESPValue {
        try await self.execute(RedisCommand(command))
    }
}

/// How long a key set with ``RedisCommandExecutor/set(_:to:expiration:)`` lives.
public enum RedisExpiration: Sendable, Hashable {
    /// `EX seconds`.
    case seconds(Int)
    /// `PX milliseconds`.
    case milliseconds(Int)
}

/// How `XADD` trims a stream.
///
/// The approximate forms (`~`) let Redis trim whole nodes only, which is much cheaper; the stream
/// may then keep a few more entries than asked.
public enum RedisStreamTrim: Sendable, Hashable {
    /// `MAXLEN [~] count`: keep at most about `count` entries.
    case maxLength(Int, approximate: Bool = true)
    /// `MINID [~] id`: drop entries with IDs lower than `id` (such as `"1700000000000-0"`).
    case minID(String, approximate: Bool = true)
}

/// One entry of a Redis stream.
public struct RedisStreamEntry: Sendable, Hashable {
    /// The entry ID, `milliseconds-sequence`.
    public var id: String
    /// The field names and values, in the order they were added.
    public var fields: [Field]

    /// One field of a stream entry.
    public struct Field: Sendable, Hashable {
        /// The field name.
        public var name: String
        /// The value.
        public var value: ByteBuffer

        /// Creates a field.
        ///
        /// - Parameters:
        ///   - name: The name.
        ///   - value: The value.
        public init(name: String, value: ByteBuffer) {
            self.name = name
            self.value = value
        }
    }

    /// Creates an entry.
    ///
    /// - Parameters:
    ///   - id: The entry ID.
    ///   - fields: The fields.
    public init(id: String, fields: [Field]) {
        self.id = id
        self.fields = fields
    }

    /// The value of the first field with this name.
    public subscript(name: String) -> ByteBuffer? {
        fields.first { $0.name == name }?.value
    }

    init(_ value: RESPValue) throws {
        guard let pair = value.array, pair.count == 2, let id = pair[0].string, let list = pair[1].array ?? (pair[1].isNull ? [] : nil),
            list.count % 2 == 0
        else {
            throw RedisClientError(.unexpectedResponse, message: "stream entry \(value)")
        }
        var fields: [Field] = []
        fields.reserveCapacity(list.count / 2)
        for index in stride(from: 0, to: list.count, by: 2) {
            guard let name = list[index].string, let value = list[index + 1].bytes else {
                throw RedisClientError(.unexpectedResponse, message: "stream field in \(value)")
            }
            fields.append(Field(name: name, value: value))
        }
        self.init(id: id, fields: fields)
    }
}

/// The entries `XREAD` returned for one stream.
public struct RedisStreamRead: Sendable, Hashable {
    /// The stream's key.
    public var key: String
    /// The new entries.
    public var entries: [RedisStreamEntry]
}
