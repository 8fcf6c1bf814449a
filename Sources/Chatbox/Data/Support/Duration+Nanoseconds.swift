extension Duration {
    /// The whole nanoseconds in it (anything shorter is dropped): what NIO's `TimeAmount` and an atomic counter
    /// of elapsed time take.
    var wholeNanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }

    /// Whole milliseconds.
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
