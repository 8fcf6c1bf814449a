import Synchronization

/// A fixed set of resources handed out one caller at a time, first come first served.
final class AsyncPool<Resource: Sendable>: Sendable {
    private struct State {
        var free: [Resource]
        var waiters: [CheckedContinuation<Resource, Never>] = []
    }
    private let state: Mutex<State>

    init(_ resources: [Resource]) {
        precondition(!resources.isEmpty, "a pool needs at least one resource")
        state = Mutex(State(free: resources))
    }

    /// Runs `body` with a resource that no other caller holds meanwhile.
    func with<T>(_ body: (Resource) async throws -> T) async throws -> T {
        let resource = await acquire()
        defer { release(resource) }
        return try await body(resource)
    }

    /// Every resource, for shutting down.
    func drain(count: Int) async -> [Resource] {
        var all: [Resource] = []
        for _ in 0..<count { all.append(await acquire()) }
        return all
    }

    private func acquire() async -> Resource {
        await withCheckedContinuation { continuation in
            let resource: Resource? = state.withLock { state in
                if let resource = state.free.popLast() { return resource }
                state.waiters.append(continuation)
                return nil
            }
            if let resource { continuation.resume(returning: resource) }
        }
    }

    private func release(_ resource: Resource) {
        let waiter: CheckedContinuation<Resource, Never>? = state.withLock { state in
            if state.waiters.isEmpty {
                state.free.append(resource)
                return nil
            }
            return state.waiters.removeFirst()
        }
        waiter?.resume(returning: resource)
    }
}
