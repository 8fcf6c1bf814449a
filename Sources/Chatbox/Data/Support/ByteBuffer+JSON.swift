import NIOCore

extension ByteBuffer {
    /// `text` as the inside of a JSON string: `"`, `\\` and control characters escaped, everything else as is. Runs
    /// that need no escaping are copied whole. This writes every piece of an answer's stream, every message of a
    /// conversation's JSON, and the conversation sent to a model.
    mutating func writeJSONEscaped(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[start..<index]))
                start = index + 1
                switch byte {
                case UInt8(ascii: "\""): writeStaticString("\\\"")
                case UInt8(ascii: "\\"): writeStaticString("\\\\")
                case UInt8(ascii: "\n"): writeStaticString("\\n")
                case UInt8(ascii: "\r"): writeStaticString("\\r")
                case UInt8(ascii: "\t"): writeStaticString("\\t")
                default:
                    writeStaticString("\\u00")
                    writeInteger((byte >> 4) + UInt8(ascii: "0"))  // 0 or 1
                    let low = byte & 0xF
                    writeInteger(low < 10 ? UInt8(ascii: "0") + low : UInt8(ascii: "a") + low - 10)
                }
            }
            writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[start...]))
        }
    }

    /// `"text"` escaped, or `null`.
    mutating func writeJSONString(_ text: String?) {
        guard let text else {
            writeStaticString("null")
            return
        }
        writeStaticString("\"")
        writeJSONEscaped(text)
        writeStaticString("\"")
    }
}
