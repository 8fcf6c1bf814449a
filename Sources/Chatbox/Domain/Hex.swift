extension Sequence<UInt8> {
    /// The bytes as lower-case hex digits, two per byte. Foundation's `String(format: "%02x")` took ~2 µs a byte on
    /// Linux: a session token's hash on every request cost ~0.08 ms of its time to first token (bench/README).
    var lowercaseHex: String {
        let digits = Array("0123456789abcdef".utf8)
        var utf8: [UInt8] = []
        utf8.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            utf8.append(digits[Int(byte >> 4)])
            utf8.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: utf8, as: UTF8.self)
    }
}
