import SQLKit
import SQLiteNIO

/// A turn's history: the path up from one message, read from the newest end, only as far as the turn needs.
///
/// A conversation's messages are read newest first by id, which meets a path's messages leaf first: a parent's id
/// is smaller than its children's (see `messages(conversationID:)`). On SQLite the rows are stepped one by one and
/// only the path's are decoded, so a long conversation costs the messages its context holds, not all of them; on
/// MySQL, where the rows come in one round trip, the same walk runs over them.
extension SQLChatStore {
    /// `messageColumns`, without the reasoning: no prompt includes it, and it is often longer than the answer.
    static let pathColumns = messageColumnNames.map { $0 == "reasoning" ? "'' AS reasoning" : $0 }
        .joined(separator: ", ")

    public func conversationWithPath<Walk: PathWalk>(id: Int64, userID: Int64, walk: Walk) async throws
        -> (Conversation, [Message], Walk)?
    {
        if let sqlite = db as? SQLitePool {
            return try await sqlite.reading { conn in
                guard let conversation = try await Self.conversation(id: id, userID: userID, on: conn) else {
                    return nil
                }
                var path = PathFollower(walk, from: conversation)
                if let leaf = path.wanted {
                    let handle = conn.handle
                    path = try await handle.onThread { [path] in try Self.follow(path, up: leaf, id, on: handle) }
                }
                return (conversation, path.messages, path.walk)
            }
        }
        async let rows = Self.pathRows(of: id, on: db)
        guard let conversation = try await Self.conversation(id: id, userID: userID, on: db) else { return nil }
        var path = PathFollower(walk, from: conversation)
        for row in try await rows { guard try path.offer(row) else { break } }
        return (conversation, path.messages, path.walk)
    }

    /// The conversation's message rows for a path, newest first.
    private static func pathRows(of conversationID: Int64, on conn: any SQLDatabase) async throws -> [any SQLRow] {
        try await conn.raw(
            """
            SELECT \(unsafeRaw: pathColumns) FROM messages WHERE conversation_id = \(bind: conversationID) \
            ORDER BY id DESC
            """
        ).all()
    }

    /// Steps through the rows from `leaf` down, decoding only those on the path; on `handle`'s thread.
    private static func follow<Walk>(
        _ path: PathFollower<Walk>, up leaf: Int64, _ conversationID: Int64, on handle: SQLiteHandle
    ) throws -> PathFollower<Walk> {
        var path = path
        let sql = """
            SELECT \(pathColumns) FROM messages WHERE conversation_id = ?1 AND id <= ?2 ORDER BY id DESC
            """
        try handle.stepHere(sql, [.integer(Int(conversationID)), .integer(Int(leaf))]) { row in
            guard let id = row.integer(0) else { return false }
            return try path.offer(id: id) {
                let values = try row.values()
                return try message(at: values) ?? message(SQLiteValuesRow(row: values))
            }
        }
        return path
    }
}

/// Follows a path up from its leaf through rows that come newest first, keeping the path's messages (oldest first
/// in `messages`) until `walk` has enough, the root is reached, or a parent is missing.
struct PathFollower<Walk: PathWalk>: Sendable {
    private(set) var walk: Walk
    /// The id of the next message up the path; nil once the walk is over.
    private(set) var wanted: Int64?
    private var newestFirst: [Message] = []

    init(_ walk: Walk, from conversation: Conversation) {
        self.walk = walk
        wanted = walk.leaf(of: conversation)
    }

    var messages: [Message] { newestFirst.reversed() }

    /// Offers the row of message `id`; `message` decodes it, called only when it is the next on the path. False
    /// once the walk is over: nothing older is needed.
    mutating func offer(id: Int64, _ message: () throws -> Message) rethrows -> Bool {
        guard let wanted else { return false }
        if id > wanted { return true }
        // Passed without meeting it: the parent is not in this conversation, and the path ends here.
        guard id == wanted else {
            self.wanted = nil
            return false
        }
        let message = try message()
        newestFirst.append(message)
        // A parent is always older; one that is not would be damaged data, and ends the path rather than loop.
        self.wanted = message.parentID.flatMap { $0 < id ? $0 : nil }
        if walk.take(message) { self.wanted = nil }
        return self.wanted != nil
    }

    /// `offer` for a row of any database.
    mutating func offer(_ row: any SQLRow) throws -> Bool {
        try offer(id: try row.decode(column: "id", as: Int64.self)) { try SQLChatStore.message(row) }
    }
}
