//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Runs `operation` to completion even when the calling task is cancelled, and returns its result.
///
/// Shutdown cancels the tasks that do the work, and their last act is often a store write (an
/// announcement's progress, buffered history, the latest states). A write that checks for
/// cancellation, as GRDB's async writes do, would then fail with `CancellationError` and the saved
/// state would go stale. Running the write here keeps it: it either commits or fails for a reason
/// of its own.
///
/// The operation must finish by itself (a store write, or anything with its own timeout): the
/// caller waits for it whatever happens to the calling task.
public func withCancellationShield<Result: Sendable>(
    _ operation: sending @escaping @isolated(any) () async throws -> Result
) async throws -> Result {
    // An unstructured task is the one way to run code that does not inherit the caller's
    // cancellation (Swift 6.3 has no cancellation shield); it is awaited at once, so it never
    // outlives the caller's interest in its result and the structure is kept in effect.
    try await Task(operation: operation).value
}
