import NIOCore

/// Ticks `interval` apart on NIO's monotonic clock (`NIODeadline`), the same for every stream of the process.
///
/// An answer's stream writes its pieces at most once per slot between two ticks (`SSE.relay`), and a model
/// connection reads its answer's socket at most once per slot (`OpenAIStreamHandler`). What waits, waits for the
/// next tick: the streams of one event loop that wait meanwhile wake up together, on one timer, and the model's
/// pieces that their reads bring are written at once, in the same slot.
struct TickGrid: Sendable, Equatable {
    /// Nanoseconds between two ticks; more than zero.
    let interval: UInt64

    /// Nil for a zero (or negative) interval: nothing waits.
    init?(_ interval: Duration) {
        let nanoseconds = interval.wholeNanoseconds
        guard nanoseconds > 0 else { return nil }
        self.interval = UInt64(nanoseconds)
    }

    /// The slot `time` is in: the number of ticks before it.
    func slot(_ time: NIODeadline = .now()) -> UInt64 {
        time.uptimeNanoseconds / interval
    }

    /// The tick that ends `slot`.
    func tick(after slot: UInt64) -> NIODeadline {
        guard slot < .max else { return .distantFuture }
        let (next, overflow) = (slot + 1).multipliedReportingOverflow(by: interval)
        return overflow ? .distantFuture : .uptimeNanoseconds(next)
    }
}
