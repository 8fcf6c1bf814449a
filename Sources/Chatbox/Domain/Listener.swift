import Synchronization

/// One listener of a generation: the events it has not taken yet. Its reader takes everything pending at once,
/// so the pieces that arrive while it is busy writing go out together in its next write: one wake-up and one
/// write however many pieces queued up, instead of one each. Pieces that queue up are joined into one event as
/// they come (see `appendJoiningPieces`): a reader that falls behind (a slow network) costs about the answer's
/// text, which the answer's length limit bounds, not an event per token.
///
/// The model is not slowed down for a slow reader: the answer is saved, and followed by other readers, at the
/// model's pace.
public final class Listener: Sendable {
    private struct State {
        var pending: [ChatEvent] = []
        var waiter: CheckedContinuation<Void, Never>?
        /// No more events will be added: the generation finished, or the reader left.
        var closed = false
    }

    private let state = Mutex(State())
    /// Runs once, when the listener closes (frees the user's stream slot).
    private let onClose: (@Sendable () -> Void)?

    init(onClose: (@Sendable () -> Void)? = nil) {
        self.onClose = onClose
    }

    /// Adds an event; false when the listener is closed (the generation then forgets it).
    func push(_ event: ChatEvent) -> Bool {
        let (open, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.closed else { return (false, nil) }
            state.pending.appendJoiningPieces(event)
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        waiter?.resume()
        return open
    }

    /// Whether events can still be added (neither the generation nor the reader has closed it).
    var isOpen: Bool { state.withLock { !$0.closed } }

    /// Ends the events: `next()` returns what is still pending, then nil. Called by the generation when it has
    /// finished, and by the reader when it leaves.
    public func close() {
        let (wasOpen, waiter) = state.withLock { state in
            defer {
                state.closed = true
                state.waiter = nil
            }
            return (!state.closed, state.waiter)
        }
        waiter?.resume()
        if wasOpen { onClose?() }
    }

    /// Every event pending now, without waiting (none: empty).
    public func takePending() -> [ChatEvent] {
        state.withLock { state in
            defer { state.pending = [] }
            return state.pending
        }
    }

    /// Every event pending, after waiting for at least one; nil once closed and drained, or when the calling
    /// task is cancelled.
    public func next() async -> [ChatEvent]? {
        while true {
            let taken: [ChatEvent]?? = state.withLock { state in
                if !state.pending.isEmpty {
                    defer { state.pending = [] }
                    return .some(state.pending)
                }
                return state.closed ? .some(nil) : nil
            }
            if let taken { return taken }
            if Task.isCancelled { return nil }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                    let ready = state.withLock { state in
                        if !state.pending.isEmpty || state.closed { return true }
                        state.waiter = waiter
                        return false
                    }
                    if ready { waiter.resume() }
                }
            } onCancel: {
                close()
            }
        }
    }
}

extension [ChatEvent] {
    /// Appends `event`; a piece of the answer (or of its reasoning) that follows a piece of the same kind is
    /// joined to it instead, in place.
    mutating func appendJoiningPieces(_ event: ChatEvent) {
        let joins =
            switch (last, event) {
            case (.delta?, .delta), (.reasoning?, .reasoning): true
            default: false
            }
        guard joins else {
            append(event)
            return
        }
        switch (removeLast(), event) {  // taken out, so that its text is not shared and grows in place
        case (.delta(var text), .delta(let more)):
            text += more
            append(.delta(text))
        case (.reasoning(var text), .reasoning(let more)):
            text += more
            append(.reasoning(text))
        case (let last, _):
            append(last)
            append(event)
        }
    }
}
