import Synchronization

/// A fixed set of resources handed out one caller at a time, first come first served. A caller waiting for one
/// stops waiting when its task is cancelled; once the pool is closed, callers waiting and callers to come fail with
/// `AsyncPoolClosed` instead of waiting for resources that will never come back.
final class AsyncPool<Resource: Sendable>: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Resource, any Error>
    }
    private struct State {
        var free: [Resource]
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
        var closed = false
        /// `close` waiting for every resource to come back.
        var closing: (count: Int, continuation: CheckedContinuation<[Resource], Never>)?
    }
    private let state: Mutex<State>

    /// Who gets a resource given back.
    private enum Next {
        case waiter(CheckedContinuation<Resource, any Error>)
        case closed(CheckedContinuation<[Resource], Never>, [Resource])
        case none
    }

    init(_ resources: [Resource]) {
        precondition(!resources.isEmpty, "a pool needs at least one resource")
        state = Mutex(State(free: resources))
    }

    /// Runs `body` with a resource that no other caller holds meanwhile.
    func with<T>(_ body: (Resource) async throws -> T) async throws -> T {
        let resource = try await acquire()
        defer { release(resource) }
        return try await body(resource)
    }

    /// Closes the pool and returns every resource (`count` in all) once the callers holding them are done, for
    /// shutting down. Callers still waiting fail at once, and so does every caller after this.
    func close(count: Int) async -> [Resource] {
        await withCheckedContinuation { continuation in
            let (waiters, all) = state.withLock { state -> ([Waiter], [Resource]?) in
                state.closed = true
                defer { state.waiters = [] }
                guard state.free.count < count else {
                    defer { state.free = [] }
                    return (state.waiters, state.free)
                }
                state.closing = (count, continuation)
                return (state.waiters, nil)
            }
            for waiter in waiters { waiter.continuation.resume(throwing: AsyncPoolClosed()) }
            if let all { continuation.resume(returning: all) }
        }
    }

    private func acquire() async throws -> Resource {
        let id = state.withLock { state in
            state.nextID &+= 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let now: Result<Resource, any Error>? = state.withLock { state in
                    if state.closed { return .failure(AsyncPoolClosed()) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if let resource = state.free.popLast() { return .success(resource) }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let now { continuation.resume(with: now) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    private func release(_ resource: Resource) {
        let next: Next = state.withLock { state in
            if !state.closed, !state.waiters.isEmpty { return .waiter(state.waiters.removeFirst().continuation) }
            state.free.append(resource)
            guard let closing = state.closing, state.free.count >= closing.count else { return .none }
            state.closing = nil
            defer { state.free = [] }
            return .closed(closing.continuation, state.free)
        }
        switch next {
        case .waiter(let continuation): continuation.resume(returning: resource)
        case .closed(let continuation, let all): continuation.resume(returning: all)
        case .none: break
        }
    }
}

/// The pool was closed (the server is shutting down): nothing more is handed out.
struct AsyncPoolClosed: Error, CustomStringConvertible {
    var description: String { "the database is closed: the server is shutting down" }
}
