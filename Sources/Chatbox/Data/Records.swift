import Foundation

/// Milliseconds since the Unix epoch (UTC): how every timestamp is stored, on SQLite and MySQL alike.
public typealias Millis = Int64

extension Millis {
    /// Now, in milliseconds since the epoch.
    public static func now() -> Millis { Millis((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
    /// This instant as ISO 8601 UTC with milliseconds, e.g. `2026-11-22T01:02:03.456Z`.
    public var iso8601: String {
        let wholeSeconds = self >= 0 ? self / 1000 : (self - 999) / 1000  // floor, also before 1970
        let milliseconds = Int(self - wholeSeconds * 1000)
        var seconds = time_t(wholeSeconds)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        // Written digit by digit: this runs for every timestamp of every response.
        return String(unsafeUninitializedCapacity: 24) { buffer in
            var index = 0
            func put(_ value: Int, _ width: Int) {
                var value = value
                for offset in stride(from: width - 1, through: 0, by: -1) {
                    buffer[index + offset] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                index += width
            }
            func put(_ character: Unicode.Scalar) {
                buffer[index] = UInt8(ascii: character)
                index += 1
            }
            put(Int(parts.tm_year) + 1900, 4); put("-"); put(Int(parts.tm_mon) + 1, 2); put("-")
            put(Int(parts.tm_mday), 2); put("T"); put(Int(parts.tm_hour), 2); put(":"); put(Int(parts.tm_min), 2)
            put(":"); put(Int(parts.tm_sec), 2); put("."); put(milliseconds, 3); put("Z")
            return index
        }
    }
}

public enum Role: String, Sendable, Codable {
    case admin, user
}

public struct User: Sendable, Equatable {
    public var id: Int64
    public var username: String
    public var role: Role
    public var disabled: Bool
    public var createdAt: Millis
}

public struct Conversation: Sendable, Equatable {
    public var id: Int64
    public var userID: Int64
    public var title: String
    /// True once the user renamed it: the generated title never overwrites a user's name.
    public var titleSetByUser: Bool
    public var createdAt: Millis
    public var updatedAt: Millis
}

public enum MessageRole: String, Sendable, Codable {
    case user, assistant
}

public enum MessageStatus: String, Sendable, Codable {
    case processing, completed, failed, stopped
    public var isTerminal: Bool { self != .processing }
}

public struct Message: Sendable, Equatable {
    public var id: Int64
    public var conversationID: Int64
    public var role: MessageRole
    public var content: String
    public var status: MessageStatus
    public var error: String?
    public var createdAt: Millis
}

/// The text so far of an answer still being generated, to save.
public struct AnswerProgress: Sendable, Equatable {
    public var messageID: Int64
    public var content: String
    public init(messageID: Int64, content: String) {
        self.messageID = messageID
        self.content = content
    }
}

/// A user as the admin page lists them.
public struct UserSummary: Sendable, Equatable {
    public var user: User
    public var lastActiveAt: Millis?
    public var conversationCount: Int
}

/// A conversation brought in from an export, with its messages oldest first.
public struct ImportedConversation: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var role: MessageRole
        public var content: String
        public var status: MessageStatus
        public var error: String?
        public var createdAt: Millis
        public init(role: MessageRole, content: String, status: MessageStatus, error: String?, createdAt: Millis) {
            self.role = role
            self.content = content
            self.status = status
            self.error = error
            self.createdAt = createdAt
        }
    }
    public var title: String
    public var createdAt: Millis
    public var updatedAt: Millis
    public var messages: [Entry]
    public init(title: String, createdAt: Millis, updatedAt: Millis, messages: [Entry]) {
        self.title = title
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.messages = messages
    }
}

/// A login session. Only the SHA-256 of its token is stored.
public struct Session: Sendable, Equatable {
    public var id: Int64
    public var userID: Int64
    public var createdAt: Millis
    public var lastUsedAt: Millis
    public var expiresAt: Millis
}

/// A position in a newest-first list: the last row's `updated_at` and `id`.
public struct PageCursor: Sendable, Equatable {
    public var updatedAt: Millis
    public var id: Int64
    public init(updatedAt: Millis, id: Int64) {
        self.updatedAt = updatedAt
        self.id = id
    }
}

public struct ConversationPage: Sendable {
    public var conversations: [Conversation]
    public var next: PageCursor?
}

/// Errors the store raises for the business layer to map; all other errors are database failures.
public enum StoreError: Error, Equatable {
    /// A unique constraint was violated (e.g. a username that is taken).
    case duplicate
    /// The row to change does not exist (or belongs to someone else).
    case notFound
    /// The change would leave no enabled admin; nothing was changed.
    case lastAdmin
}
