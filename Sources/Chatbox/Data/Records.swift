import Foundation

/// Milliseconds since the Unix epoch (UTC): how every timestamp is stored, on SQLite and MySQL alike.
public typealias Millis = Int64

extension Millis {
    /// Now, in milliseconds since the epoch.
    public static func now() -> Millis { Millis((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
    /// This instant as ISO 8601 UTC with milliseconds, e.g. `2026-11-22T01:02:03.456Z`. Total over every value:
    /// years 0000–9999 have four digits; others use ISO 8601's expanded form with a sign and at least six digits
    /// (as JavaScript does), e.g. `+010000-01-01T00:00:00.000Z`, `-000001-12-31T23:59:59.999Z`, and for
    /// `Int64.min` / `.max` `-292275055-05-16T16:47:04.192Z` / `+292278994-08-17T07:12:55.807Z`.
    public var iso8601: String {
        // Floor division without overflow (also for Int64.min): days since 1970 and milliseconds into the day.
        var (days, inDay) = self.quotientAndRemainder(dividingBy: 86_400_000)
        if inDay < 0 { (days, inDay) = (days - 1, inDay + 86_400_000) }
        let (year, month, day) = Self.civil(fromDays: days)
        let milliseconds = Int(inDay % 1000), seconds = Int(inDay / 1000)
        // Written digit by digit: this runs for every timestamp of every response.
        return String(unsafeUninitializedCapacity: 32) { buffer in
            var index = 0
            func put(_ value: Int64, _ width: Int) {
                var digits = 1, rest = value / 10
                while rest > 0 {
                    digits += 1
                    rest /= 10
                }
                let count = Swift.max(width, digits)
                var value = value
                for offset in stride(from: count - 1, through: 0, by: -1) {
                    buffer[index + offset] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                index += count
            }
            func put(_ value: Int, _ width: Int) { put(Int64(value), width) }
            func put(_ character: Unicode.Scalar) {
                buffer[index] = UInt8(ascii: character)
                index += 1
            }
            if (0...9999).contains(year) {
                put(year, 4)
            } else {
                put(year < 0 ? "-" : "+")
                put(abs(year), 6)
            }  // |year| < 3e8
            put("-")
            put(month, 2)
            put("-")
            put(day, 2)
            put("T")
            put(seconds / 3600, 2)
            put(":")
            put(seconds / 60 % 60, 2)
            put(":")
            put(seconds % 60, 2)
            put(".")
            put(milliseconds, 3)
            put("Z")
            return index
        }
    }

    /// The proleptic Gregorian (year, month, day) of a day counted from 1970-01-01 (H. Hinnant's `civil_from_days`);
    /// year 0 is 1 BC. Exact for every day an Int64 of milliseconds can name (about ±1.1e11 days).
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097  // 0...146096
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365  // 0...399
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // 0...365, from March
        let shiftedMonth = (5 * dayOfYear + 2) / 153  // 0...11, March first
        let day = Int(dayOfYear - (153 * shiftedMonth + 2) / 5 + 1)
        let month = Int(shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
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
    /// The model id its next turn uses (nil: the user's last choice or the default at the time of the turn).
    public var model: String? = nil
    /// Replaces the server's system prompt for this conversation (nil: the server's).
    public var systemPrompt: String? = nil
    /// Sampling temperature, 0...2 (nil: the model's default).
    public var temperature: Double? = nil
    /// The last message of the path the user sees (nil: no message yet).
    public var currentLeafID: Int64? = nil
}

/// A change to a conversation: nil leaves a field as it is; `.some(nil)` resets it to the server's default.
public struct ConversationChange: Sendable, Equatable {
    /// A new title (the user's own: never generated over).
    public var title: String?
    public var model: String??
    public var systemPrompt: String??
    public var temperature: Double??
    /// Selects the path that ends at this message of the conversation.
    public var currentLeafID: Int64?
    public init(
        title: String? = nil, model: String?? = nil, systemPrompt: String?? = nil, temperature: Double?? = nil,
        currentLeafID: Int64? = nil
    ) {
        self.title = title
        self.model = model
        self.systemPrompt = systemPrompt
        self.temperature = temperature
        self.currentLeafID = currentLeafID
    }
    public var isEmpty: Bool {
        title == nil && model == nil && systemPrompt == nil && temperature == nil && currentLeafID == nil
    }
}

/// What a user can set per conversation (and keep as a preset).
public struct ChatSettings: Sendable, Equatable {
    public var model: String?
    public var systemPrompt: String?
    public var temperature: Double?
    public init(model: String? = nil, systemPrompt: String? = nil, temperature: Double? = nil) {
        self.model = model
        self.systemPrompt = systemPrompt
        self.temperature = temperature
    }
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
    /// The message this one follows in the tree (nil: the first question, or one of its versions).
    public var parentID: Int64? = nil
    /// The model id that wrote an answer.
    public var model: String? = nil
    /// A reasoning model's thinking before the answer ("" when none); never sent back to a model.
    public var reasoning: String = ""
    /// Tokens the provider reported for this answer.
    public var usage: TokenUsage? = nil
    /// Milliseconds from the request to the first piece (reasoning or answer), and to the end.
    public var firstTokenMs: Int64? = nil
    public var durationMs: Int64? = nil

    public init(
        id: Int64, conversationID: Int64, role: MessageRole, content: String, status: MessageStatus, error: String?,
        createdAt: Millis, parentID: Int64? = nil, model: String? = nil, reasoning: String = "",
        usage: TokenUsage? = nil, firstTokenMs: Int64? = nil, durationMs: Int64? = nil
    ) {
        (self.id, self.conversationID, self.role, self.content) = (id, conversationID, role, content)
        (self.status, self.error, self.createdAt, self.parentID) = (status, error, createdAt, parentID)
        (self.model, self.reasoning, self.usage) = (model, reasoning, usage)
        (self.firstTokenMs, self.durationMs) = (firstTokenMs, durationMs)
    }
}

/// The text so far of an answer still being generated, to save.
public struct AnswerProgress: Sendable, Equatable {
    public var messageID: Int64
    public var content: String
    public var reasoning: String
    public init(messageID: Int64, content: String, reasoning: String = "") {
        self.messageID = messageID
        self.content = content
        self.reasoning = reasoning
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
        /// The index (in its conversation's `messages`) of the message this one follows; nil for a first
        /// question. A parent always comes before its children.
        public var parentIndex: Int? = nil
        /// An answer's model, reasoning ("" when none) and usage.
        public var model: String? = nil
        public var reasoning = ""
        public var usage: TokenUsage? = nil
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
    /// Its model, system prompt and temperature, as exported.
    public var settings = ChatSettings()
    /// The index of the message at the end of the selected path (nil: the last message).
    public var currentLeafIndex: Int? = nil
    public init(title: String, createdAt: Millis, updatedAt: Millis, messages: [Entry]) {
        self.title = title
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.messages = messages
    }
}

/// How an import is cut into short transactions, so that other users' writes get the (SQLite: single) writer
/// between them: at most `conversations` conversations or about `messages` messages each (a long conversation is
/// split across transactions).
public struct ImportBatching: Sendable, Equatable {
    public var conversations: Int
    public var messages: Int
    public init(conversations: Int = 50, messages: Int = 2_000) {
        self.conversations = Swift.max(1, conversations)
        self.messages = Swift.max(1, messages)
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
    /// For a search: each conversation's newest message whose text matched (absent when only the title did).
    public var matches: [Int64: Int64] = [:]
}

/// Where a new question goes in a conversation's tree.
public enum QuestionPlace: Sendable, Equatable {
    /// After the current leaf (the usual next question).
    case afterCurrentLeaf
    /// As a new version of the first question.
    case root
    /// After this answer (an edited question goes under the edited one's parent).
    case after(messageID: Int64)
}

/// Errors the store raises for the business layer to map; all other errors are database failures.
public enum StoreError: Error, Equatable {
    /// A unique constraint was violated (e.g. a username that is taken).
    case duplicate
    /// The row to change does not exist (or belongs to someone else).
    case notFound
    /// The change would leave no enabled admin; nothing was changed.
    case lastAdmin
    /// A row the change refers to (e.g. a message of the conversation) does not exist there.
    case badReference
    /// The write lost to a concurrent one on another database node (a Galera certification failure, MariaDB error
    /// 1213 at COMMIT) and kept losing when retried; nothing was changed. Worth trying again.
    case conflict
}
