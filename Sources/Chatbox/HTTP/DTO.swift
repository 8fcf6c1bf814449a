import Hummingbird
import NIOCore

/// What the API shows of records: snake_case JSON, ISO 8601 UTC timestamps. Every response type names its
/// snake_case keys itself (`CodingKeys`): `APICoding.responseEncoder` converts no keys.
/// An optional written as `null` when absent, where the synthesised `encode(to:)` would leave the key out: the
/// API always sends every field of its objects.
@propertyWrapper
struct NullWhenAbsent<Value: Encodable>: Encodable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension NullWhenAbsent: Sendable where Value: Sendable {}

struct UserDTO: ResponseEncodable {
    let id: Int64
    let username: String
    let role: String
    let disabled: Bool
    let createdAt: String
    init(_ user: User) {
        id = user.id
        username = user.username
        role = user.role.rawValue
        disabled = user.disabled
        createdAt = user.createdAt.iso8601
    }
    enum CodingKeys: String, CodingKey { case id, username, role, disabled, createdAt = "created_at" }
}

struct ConversationDTO: ResponseEncodable {
    let id: Int64
    let title: String
    let createdAt: String
    let updatedAt: String
    @NullWhenAbsent var model: String?
    @NullWhenAbsent var systemPrompt: String?
    @NullWhenAbsent var temperature: Double?
    @NullWhenAbsent var currentLeafId: Int64?
    init(_ conversation: Conversation) {
        id = conversation.id
        title = conversation.title
        createdAt = conversation.createdAt.iso8601
        updatedAt = conversation.updatedAt.iso8601
        model = conversation.model
        systemPrompt = conversation.systemPrompt
        temperature = conversation.temperature
        currentLeafId = conversation.currentLeafID
    }
    enum CodingKeys: String, CodingKey {
        case id, title, createdAt = "created_at", updatedAt = "updated_at", model, systemPrompt = "system_prompt"
        case temperature, currentLeafId = "current_leaf_id"
    }
}

struct UsageDTO: Encodable, Sendable, Equatable {
    let promptTokens: Int
    let completionTokens: Int
    init(_ usage: TokenUsage) {
        promptTokens = usage.promptTokens
        completionTokens = usage.completionTokens
    }
    enum CodingKeys: String, CodingKey { case promptTokens = "prompt_tokens", completionTokens = "completion_tokens" }
}

struct MessageDTO: ResponseEncodable {
    let id: Int64
    let conversationId: Int64
    let role: String
    let content: String
    let status: String
    @NullWhenAbsent var error: String?
    let createdAt: String
    @NullWhenAbsent var parentId: Int64?
    @NullWhenAbsent var model: String?
    let reasoning: String
    @NullWhenAbsent var usage: UsageDTO?
    @NullWhenAbsent var firstTokenMs: Int64?
    @NullWhenAbsent var durationMs: Int64?
    init(_ message: Message) {
        id = message.id
        conversationId = message.conversationID
        role = message.role.rawValue
        content = message.content
        status = message.status.rawValue
        error = message.error
        createdAt = message.createdAt.iso8601
        parentId = message.parentID
        model = message.model
        reasoning = message.reasoning
        usage = message.usage.map(UsageDTO.init)
        firstTokenMs = message.firstTokenMs
        durationMs = message.durationMs
    }

    enum CodingKeys: String, CodingKey {
        case id, conversationId = "conversation_id", role, content, status, error, createdAt = "created_at"
        case parentId = "parent_id", model, reasoning, usage, firstTokenMs = "first_token_ms", durationMs =
            "duration_ms"
    }
}

// The same objects as `encode(to:)`, written by hand into a buffer, for the one large response (a conversation
// with all its messages, `ConversationController.WithMessages`). Strings are escaped as in SSE `delta` events;
// timestamps (ISO 8601 digits), roles and statuses (lowercase words) need no escaping.
extension ConversationDTO {
    func writeJSON(to buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"id\":")
        buffer.writeString(String(id))
        buffer.writeStaticString(",\"title\":\"")
        buffer.writeJSONEscaped(title)
        buffer.writeStaticString("\",\"created_at\":\"")
        buffer.writeString(createdAt)
        buffer.writeStaticString("\",\"updated_at\":\"")
        buffer.writeString(updatedAt)
        buffer.writeStaticString("\",\"model\":")
        buffer.writeJSONString(model)
        buffer.writeStaticString(",\"system_prompt\":")
        buffer.writeJSONString(systemPrompt)
        buffer.writeStaticString(",\"temperature\":")
        buffer.writeString(temperature.map { "\($0)" } ?? "null")  // finite: checked on the way in
        buffer.writeStaticString(",\"current_leaf_id\":")
        buffer.writeString(currentLeafId.map(String.init) ?? "null")
        buffer.writeStaticString("}")
    }
}

extension MessageDTO {
    func writeJSON(to buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"id\":")
        buffer.writeString(String(id))
        buffer.writeStaticString(",\"conversation_id\":")
        buffer.writeString(String(conversationId))
        buffer.writeStaticString(",\"role\":\"")
        buffer.writeString(role)
        buffer.writeStaticString("\",\"content\":\"")
        buffer.writeJSONEscaped(content)
        buffer.writeStaticString("\",\"status\":\"")
        buffer.writeString(status)
        buffer.writeStaticString("\",\"error\":")
        buffer.writeJSONString(error)
        buffer.writeStaticString(",\"created_at\":\"")
        buffer.writeString(createdAt)
        buffer.writeStaticString("\",\"parent_id\":")
        buffer.writeString(parentId.map(String.init) ?? "null")
        buffer.writeStaticString(",\"model\":")
        buffer.writeJSONString(model)
        buffer.writeStaticString(",\"reasoning\":\"")
        buffer.writeJSONEscaped(reasoning)
        buffer.writeStaticString("\",\"usage\":")
        if let usage {
            buffer.writeString(
                "{\"prompt_tokens\":\(usage.promptTokens),\"completion_tokens\":\(usage.completionTokens)}")
        } else {
            buffer.writeStaticString("null")
        }
        buffer.writeStaticString(",\"first_token_ms\":")
        buffer.writeString(firstTokenMs.map(String.init) ?? "null")
        buffer.writeStaticString(",\"duration_ms\":")
        buffer.writeString(durationMs.map(String.init) ?? "null")
        buffer.writeStaticString("}")
    }
}

extension Response {
    /// 204 No Content.
    static var noContent: Response { Response(status: .noContent) }
}

extension ResponseEncodable {
    /// This body with 201 Created.
    func created(from request: Request, context: some RequestContext) throws -> Response {
        var response = try response(from: request, context: context)
        response.status = .created
        return response
    }
}

/// Reads `{id}` from the path: a positive whole number, else 404 naming what was looked for (`NotFound(thing)`:
/// an id that cannot exist is simply not found).
func pathID(_ context: some RequestContext, of thing: String) throws -> Int64 {
    guard let text = context.parameters.get("id"), let id = Int64(text), id > 0 else { throw NotFound(thing) }
    return id
}
