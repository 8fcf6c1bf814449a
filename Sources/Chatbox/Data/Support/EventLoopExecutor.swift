import NIOCore

/// A Swift concurrency task executor that runs jobs on one NIO event loop.
///
/// SQLite's transactions prefer the writer connection's thread (`SQLitePool`), so that their statements run there
/// one after another without a hop each.
///
/// An answer's stream prefers the event loop of the browser's connection (`withTaskExecutorPreference`), and waits
/// for its batch's tick with that loop's own timer: the relay then wakes, reads what the listener holds and writes
/// it on the thread that owns the socket. Before, each batch woke a thread of the global pool (and Dispatch's timer
/// thread for the pause) and then hopped to the event loop for the write. The relay does no blocking work: it
/// formats events and writes them.
///
/// An answer's model request goes out on that loop too, and the task that finishes the answer runs there
/// (`ChatService.startAnswer`).
final class EventLoopExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { [self] in
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }

    /// Waits until `deadline` on the event loop's timer (no other thread involved). Not cancellable: a batch pause
    /// is short. Waits for the same deadline share one wake-up of the loop.
    func sleep(until deadline: NIODeadline) async {
        try? await eventLoop.scheduleTask(deadline: deadline) {}.futureResult.get()
    }
}
