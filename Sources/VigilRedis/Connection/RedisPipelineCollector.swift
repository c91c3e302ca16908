//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Gathers the results of one pipeline and resumes its task once, with all of them.
///
/// One collector serves every command of a pipeline, so a pipeline of P commands costs one
/// continuation rather than P promises. It lives on the connection's event loop.
final class RedisPipelineCollector {
    private var results: [Result<RESPValue, RedisClientError>]
    private let expected: Int
    private var continuation: CheckedContinuation<[Result<RESPValue, RedisClientError>], Never>?

    /// Creates a collector for `expected` results.
    ///
    /// - Parameters:
    ///   - expected: The number of commands in the pipeline; at least one.
    ///   - continuation: Resumed with the results, in order, when the last one arrives.
    init(expected: Int, continuation: CheckedContinuation<[Result<RESPValue, RedisClientError>], Never>) {
        self.expected = expected
        self.continuation = continuation
        self.results = []
        self.results.reserveCapacity(expected)
    }

    /// Records the result of the next command; replies arrive in the order the commands were sent.
    ///
    /// - Parameter result: The reply, or the error for that command.
    func add(_ result: Result<RESPValue, RedisClientError>) {
        guard let continuation else { return }
        results.append(result)
        if results.count == expected {
            self.continuation = nil
            continuation.resume(returning: results)
            results = []
        }
    }

    /// Fails every command still waiting, for example when the connection closes.
    ///
    /// - Parameter error: The error for each remaining command.
    func finish(failing error: RedisClientError) {
        while continuation != nil { self.add(.failure(error)) }
    }
}

@available(*, unavailable)
extension RedisPipelineCollector: Sendable {}
