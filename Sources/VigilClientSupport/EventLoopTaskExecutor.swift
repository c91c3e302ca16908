//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import NIOCore

/// A task executor that runs jobs on one event loop.
///
/// A task that prefers it (`withTaskExecutorPreference`) runs its nonisolated code on the loop
/// that owns the connection's socket, so that writing a request and resuming with its reply (Redis),
/// or handing a batch to a consumer and acknowledging it (MQTT), stay on one thread. A job enqueued
/// from the loop itself joins the loop's task queue without waking anything.
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop that runs every job.
    public let eventLoop: any EventLoop

    /// Creates an executor for a loop.
    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
