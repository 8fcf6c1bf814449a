import Dispatch
import Foundation
import NIOCore
import Synchronization

/// A fixed set of threads for blocking libmariadb calls, owned by one `MariaDBDatabase`
/// (`poolSize` threads, so every leased connection can always make progress; bcrypt or other users of
/// shared pools never compete with it). Jobs run in submission order.
///
/// (Same role as NIO's `NIOThreadPool`; NIOPosix is not a dependency of this module in Package.swift.)
final class BlockingThreadPool: Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        var isShutdown = false
    }

    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)
    private let finished = DispatchGroup()
    let numberOfThreads: Int

    init(numberOfThreads: Int, label: String = "mariadb") {
        self.numberOfThreads = max(1, numberOfThreads)
        for i in 0..<self.numberOfThreads {
            finished.enter()
            let thread = Thread { [self] in self.work() }
            thread.name = "\(label)-\(i)"
            thread.start()
        }
    }

    /// Thrown by `run` after `shutdown()`.
    struct Inactive: Error {}

    /// Runs `body` on one of the pool's threads.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let accepted = state.withLock { s -> Bool in
                guard !s.isShutdown else { return false }
                s.jobs.append { continuation.resume(with: Result { try body() }) }
                return true
            }
            if accepted { available.signal() } else { continuation.resume(throwing: Inactive()) }
        }
    }

    /// Refuses new jobs, lets queued ones finish, and waits for the threads to exit.
    func shutdown() async {
        let first = state.withLock { s -> Bool in
            defer { s.isShutdown = true }
            return !s.isShutdown
        }
        if first { for _ in 0..<numberOfThreads { available.signal() } }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            finished.notify(queue: .global()) { continuation.resume() }
        }
    }

    private func work() {
        defer { finished.leave() }
        while true {
            available.wait()
            let job: (@Sendable () -> Void)? = state.withLock { s in
                guard s.head < s.jobs.count else { return nil }
                let job = s.jobs[s.head]
                s.head += 1
                if s.head > 64 && s.head * 2 > s.jobs.count {      // compact the consumed prefix
                    s.jobs.removeFirst(s.head)
                    s.head = 0
                }
                return job
            }
            guard let job else { return }       // woken without a job: shutting down and the queue is drained
            job()
        }
    }
}

/// A minimal serial `EventLoop` on a dispatch queue, for SQLKit's future-based API when the app does not pass
/// its own event loop group (pass `MultiThreadedEventLoopGroup.singleton` from the app to use NIO's).
final class DispatchEventLoop: EventLoop, Sendable {
    static let shared = DispatchEventLoop(label: "mariadb.eventloop")

    private static let key = DispatchSpecificKey<UInt64>()
    private static let ids = Atomic<UInt64>(0)
    private let queue: DispatchQueue
    private let id: UInt64

    init(label: String) {
        queue = DispatchQueue(label: label)
        id = Self.ids.add(1, ordering: .relaxed).newValue
        queue.setSpecific(key: Self.key, value: id)
    }

    var inEventLoop: Bool { DispatchQueue.getSpecific(key: Self.key) == id }

    func execute(_ task: @escaping @Sendable () -> Void) { queue.async(execute: task) }

    @discardableResult
    func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        let promise = makePromise(of: T.self)
        let done = Flag()
        let now = NIODeadline.now()
        let delay = deadline > now ? (deadline - now).nanoseconds : 0
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: delay))) {
            guard done.claim() else { return }
            do { promise.assumeIsolated().succeed(try task()) } catch { promise.fail(error) }
        }
        return Scheduled(promise: promise) {
            if done.claim() { promise.fail(EventLoopError.cancelled) }
        }
    }

    @discardableResult
    func scheduleTask<T>(in amount: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        scheduleTask(deadline: .now() + amount, task)
    }

    func preconditionInEventLoop(file: StaticString, line: UInt) {
        precondition(inEventLoop, "not in the event loop", file: file, line: line)
    }

    func preconditionNotInEventLoop(file: StaticString, line: UInt) {
        precondition(!inEventLoop, "in the event loop", file: file, line: line)
    }

    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
        queue.async { callback(nil) }          // the shared loop lives as long as the process
    }

    private final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        /// True exactly once.
        func claim() -> Bool { !value.exchange(true, ordering: .acquiringAndReleasing) }
    }
}
