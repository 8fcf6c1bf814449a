import SQLKit
import SQLiteNIO

extension SQLChatStore {
    /// The names of `messageColumns`, in order.
    static let messageColumnNames = messageColumns.split(separator: ",").map { String($0.trimmingSpaces) }

    /// A message row. SQLite's rows of `messageColumns` are read by position, the rest through SQLKit's decoding by
    /// name: every message of a conversation is read before each of its turns, and by name cost ~1 µs more a row (a
    /// dictionary lookup and a dynamic cast per column), where SQLite's own work is a fraction of a µs.
    static func message(_ row: any SQLRow) throws -> Message {
        if let row = row as? SQLiteValuesRow, let message = message(at: row.row) { return message }
        return try messageByName(row)
    }

    /// The message of a row of `messageColumns` in that order, each value of the type the schema gives it; nil for
    /// any other row (read by name then, which says what is wrong).
    static func message(at row: SQLiteValues) -> Message? {
        let values = row.values
        guard row.columns.names == messageColumnNames, case .integer(let id) = values[0],
            case .integer(let conversationID) = values[1], case .text(let role) = values[2],
            case .text(let content) = values[3], case .text(let status) = values[4],
            let error = optionalText(values[5]), case .integer(let createdAt) = values[6],
            let model = optionalText(values[7]), let reasoning = optionalText(values[8]),
            let promptTokens = optionalInteger(values[9]), let completionTokens = optionalInteger(values[10]),
            let firstTokenMs = optionalInteger(values[11]), let durationMs = optionalInteger(values[12]),
            let parentID = optionalInteger(values[13])
        else { return nil }
        return Message(
            id: Int64(id), conversationID: Int64(conversationID), role: MessageRole(rawValue: role) ?? .assistant,
            content: content, status: MessageStatus(rawValue: status) ?? .failed, error: error,
            createdAt: Int64(createdAt), parentID: parentID.map(Int64.init), model: model, reasoning: reasoning ?? "",
            usage: promptTokens.flatMap { prompt in
                completionTokens.map { TokenUsage(promptTokens: prompt, completionTokens: $0) }
            },
            firstTokenMs: firstTokenMs.map(Int64.init), durationMs: durationMs.map(Int64.init))
    }

    /// `.some(text)` or `.some(nil)` for NULL; nil for a value of another type.
    private static func optionalText(_ value: SQLiteData) -> String?? {
        switch value {
        case .text(let text): text
        case .null: .some(nil)
        default: nil
        }
    }

    /// `.some(integer)` or `.some(nil)` for NULL; nil for a value of another type.
    private static func optionalInteger(_ value: SQLiteData) -> Int?? {
        switch value {
        case .integer(let integer): integer
        case .null: .some(nil)
        default: nil
        }
    }

    /// A message row of any database, its columns decoded by name.
    static func messageByName(_ row: any SQLRow) throws -> Message {
        let promptTokens = try row.decode(column: "prompt_tokens", as: Int?.self)
        let completionTokens = try row.decode(column: "completion_tokens", as: Int?.self)
        return Message(
            id: try row.decode(column: "id", as: Int64.self),
            conversationID: try row.decode(column: "conversation_id", as: Int64.self),
            role: MessageRole(rawValue: try row.decode(column: "role", as: String.self)) ?? .assistant,
            content: try row.decode(column: "content", as: String.self),
            status: MessageStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .failed,
            error: try row.decode(column: "error", as: String?.self),
            createdAt: try row.decode(column: "created_at", as: Int64.self),
            parentID: try row.decode(column: "parent_id", as: Int64?.self),
            model: try row.decode(column: "model", as: String?.self),
            reasoning: try row.decode(column: "reasoning", as: String?.self) ?? "",
            usage: promptTokens.flatMap { prompt in
                completionTokens.map { TokenUsage(promptTokens: prompt, completionTokens: $0) }
            },
            firstTokenMs: try row.decode(column: "first_token_ms", as: Int64?.self),
            durationMs: try row.decode(column: "duration_ms", as: Int64?.self))
    }
}
