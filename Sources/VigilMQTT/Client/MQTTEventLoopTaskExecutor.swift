//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// A task executor that runs jobs on the client's event loop.
///
/// A subscription body that prefers it runs its nonisolated code on the loop that reads the
/// socket, so handing a batch to the consumer and acknowledging it stay on one thread. A job
/// enqueued from the loop itself joins the loop's task queue without waking anything.
final class MQTTEventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
