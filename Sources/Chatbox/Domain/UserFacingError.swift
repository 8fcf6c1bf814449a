/// What kind of refusal an error is, in the business layer's words; the HTTP layer turns each into a status
/// (`ErrorMiddleware`), the command line prints the message.
public enum ErrorKind: Sendable, Equatable {
    case invalid
    case notFound
    case conflict
    case forbidden
    case unauthorized
    case tooLarge
    case tooManyRequests(retryAfterSeconds: Int)
    /// The server cannot do it now; with a time, when to try again.
    case unavailable(retryAfterSeconds: Int? = nil)
}

/// An error whose message may be shown to the person who caused it, with its kind. Every refusal of the
/// business layer is one; anything else is unexpected (logged, and shown as "something went wrong").
public protocol UserFacingError: Error {
    var kind: ErrorKind { get }
    var message: String { get }
    /// The refusal's stable snake_case name, for programs and the page to tell refusals of one status apart (a busy
    /// conversation from a model that is gone); nil when its status says enough.
    var code: String? { get }
}

extension UserFacingError {
    public var code: String? { nil }
}

/// A record the person asked for by id does not exist (or is not theirs): "Conversation not found.".
public struct NotFound: UserFacingError, Equatable {
    /// What was looked for, capitalised as the message starts with it: "Conversation", "User", "Session".
    public let thing: String
    public init(_ thing: String) { self.thing = thing }
    public var kind: ErrorKind { .notFound }
    public var message: String { "\(thing) not found." }
}

extension ValidationError: UserFacingError {
    public var kind: ErrorKind { .invalid }
}

extension AuthError: UserFacingError {
    public var kind: ErrorKind {
        switch self {
        case .invalid: .invalid
        case .usernameTaken: .conflict
        case .invalidCredentials: .unauthorized
        case .throttled(let seconds): .tooManyRequests(retryAfterSeconds: seconds)
        case .registrationClosed: .forbidden
        case .unknownUser: .notFound
        }
    }

    public var message: String {
        switch self {
        case .invalid(let rule): rule.message
        case .usernameTaken: "That username is taken."
        case .invalidCredentials: "Wrong username or password."
        case .throttled(let seconds): "Too many failed logins. Try again in \(seconds) seconds."
        case .registrationClosed: "Registration is closed on this server."
        case .unknownUser(let name): "No user named \(name)."
        }
    }
}

extension AdminError: UserFacingError {
    public var kind: ErrorKind {
        switch self {
        case .lastAdmin: .conflict
        case .wrongPassword: .forbidden
        case .userNotFound: .notFound
        case .confirmationMismatch: .invalid
        }
    }

    public var message: String {
        switch self {
        case .lastAdmin: "There must always be an admin: this would remove the last one."
        case .wrongPassword: "The password is not correct."
        case .userNotFound: "User not found."
        case .confirmationMismatch: "To delete a user, confirm with their exact username."
        }
    }
}

extension TransferError: UserFacingError {
    public var kind: ErrorKind {
        switch self {
        case .importRunning: .conflict
        case .busy(let seconds): .unavailable(retryAfterSeconds: seconds)
        }
    }

    public var message: String {
        switch self {
        case .importRunning: "An import into this account is already running; wait until it has finished."
        case .busy(let seconds): "The server is busy with other imports; try again in \(seconds) seconds."
        }
    }
}

extension ChatError: UserFacingError {
    public var kind: ErrorKind {
        switch self {
        case .conversationNotFound: .notFound
        case .alreadyGenerating, .nothingToRegenerate, .modelUnavailable, .noModel: .conflict
        case .messageTooLong: .tooLarge
        case .notInConversation: .invalid
        case .tooManyRunning, .tooManyStreams: .tooManyRequests(retryAfterSeconds: 5)
        }
    }

    public var code: String? {
        switch self {
        case .conversationNotFound: "conversation_not_found"
        case .alreadyGenerating: "already_generating"
        case .nothingToRegenerate: "nothing_to_regenerate"
        case .messageTooLong: "message_too_long"
        case .tooManyRunning: "too_many_running"
        case .tooManyStreams: "too_many_streams"
        case .modelUnavailable: "model_unavailable"
        case .noModel: "no_model"
        case .notInConversation: "not_in_conversation"
        }
    }

    public var message: String {
        switch self {
        case .conversationNotFound: "Conversation not found."
        case .alreadyGenerating: "An answer is already being generated in this conversation; stop it or wait for it."
        case .nothingToRegenerate: "There is no question to answer again in this conversation."
        case .messageTooLong(let max): "The message is longer than \(max) characters."
        case .tooManyRunning(let limit):
            "You already have \(limit) answers being written; wait for one to finish or stop it."
        case .tooManyStreams(let limit): "You already have \(limit) answer streams open; close some tabs and try again."
        case .modelUnavailable(let id): "The model \"\(id)\" is no longer available. Pick another model."
        case .noModel: "No model is available on this server; an admin must add a connection."
        case .notInConversation:
            "That message is not in this conversation (a question follows an answer; regenerate names a message of it)."
        }
    }
}
