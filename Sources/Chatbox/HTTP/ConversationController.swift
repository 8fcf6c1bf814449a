import Foundation
import Hummingbird

/// `/api/conversations` CRUD for the signed-in user; another user's conversation is a 404.
struct ConversationController {
    let conversations: ConversationService
    let body: JSONBody

    func addRoutes(to group: RouterGroup<AuthenticatedContext>) {
        group.get(use: list)
            .post(use: create)
            .get(":id", use: show)
            .patch(":id", use: update)
            .delete(":id", use: delete)
    }

    struct Page: ResponseEncodable {
        let conversations: [ConversationDTO]
        @NullWhenAbsent var nextCursor: String?
        enum CodingKeys: String, CodingKey { case conversations, nextCursor = "next_cursor" }
    }

    struct NewConversation: Decodable {
        var title: String?
        var model: String?
        var systemPrompt: String?
        var temperature: Double?
        enum CodingKeys: String, CodingKey { case title, model, systemPrompt, temperature }  // snake_case on the wire
        var settings: ChatSettings { ChatSettings(model: model, systemPrompt: systemPrompt, temperature: temperature) }
    }

    /// `PATCH`: each field absent (unchanged) or given; `null` resets model, system prompt and temperature.
    struct Change: Decodable {
        let change: ConversationChange
        init(from decoder: any Decoder) throws {
            let object = try decoder.container(keyedBy: NewConversation.CodingKeys.self)
            func field<T: Decodable>(_ key: NewConversation.CodingKeys, _ type: T.Type) throws -> T?? {
                guard object.contains(key) else { return nil }
                return .some(try object.decodeNil(forKey: key) ? nil : object.decode(T.self, forKey: key))
            }
            change = ConversationChange(
                title: try object.decodeIfPresent(String.self, forKey: .title),
                model: try field(.model, String.self), systemPrompt: try field(.systemPrompt, String.self),
                temperature: try field(.temperature, Double.self))
            guard !change.isEmpty else {
                throw ValidationError("Give at least one of title, model, system_prompt and temperature.")
            }
        }
    }

    struct One: ResponseEncodable {
        let conversation: ConversationDTO
    }

    /// `{"conversation":{…},"messages":[…]}`. Written by hand (`json`): with 1,000 messages, `JSONEncoder` took
    /// most of the response's time. `Encodable` gives the same JSON the usual way (the tests compare the two).
    struct WithMessages: Encodable {
        let conversation: ConversationDTO
        let messages: [MessageDTO]

        var json: ByteBuffer {
            var buffer = ByteBuffer()
            buffer.reserveCapacity(
                messages.reduce(256) {
                    $0 + $1.content.utf8.count + $1.reasoning.utf8.count + ($1.error?.utf8.count ?? 0) + 260
                })
            buffer.writeStaticString("{\"conversation\":")
            conversation.writeJSON(to: &buffer)
            buffer.writeStaticString(",\"messages\":[")
            for (index, message) in messages.enumerated() {
                if index > 0 { buffer.writeStaticString(",") }
                message.writeJSON(to: &buffer)
            }
            buffer.writeStaticString("]}")
            return buffer
        }

        var response: Response {
            let body = json
            return Response(
                status: .ok,
                headers: [.contentType: "application/json; charset=utf-8", .contentLength: String(body.readableBytes)],
                body: .init(byteBuffer: body))
        }
    }

    @Sendable func list(_ request: Request, context: AuthenticatedContext) async throws -> Page {
        let query = request.uri.queryParameters
        let limit = try Self.limit(query.get("limit"))
        let cursor = try query.get("cursor").map(CursorCodec.decode)
        let page = try await conversations.list(
            userID: context.user.id, limit: limit, after: cursor, query: query.get("q"))
        return Page(
            conversations: page.conversations.map(ConversationDTO.init), nextCursor: page.next.map(CursorCodec.encode))
    }

    @Sendable func create(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let input = try await body.decodeOptional(NewConversation.self, from: request) ?? NewConversation()
        let conversation = try await conversations.create(
            userID: context.user.id, title: input.title, settings: input.settings)
        return try One(conversation: ConversationDTO(conversation)).created(from: request, context: context)
    }

    @Sendable func show(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let (conversation, messages) = try await conversations.withMessages(
            id: try pathID(context, of: "Conversation"), userID: context.user.id)
        return WithMessages(conversation: ConversationDTO(conversation), messages: messages.map(MessageDTO.init))
            .response
    }

    @Sendable func update(_ request: Request, context: AuthenticatedContext) async throws -> One {
        let id = try pathID(context, of: "Conversation")
        let input = try await body.decode(Change.self, from: request)
        return One(
            conversation: ConversationDTO(
                try await conversations.update(id: id, userID: context.user.id, change: input.change)))
    }

    @Sendable func delete(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        try await conversations.delete(id: try pathID(context, of: "Conversation"), userID: context.user.id)
        return .noContent
    }

    static func limit(_ text: String?) throws -> Int {
        guard let text else { return 50 }
        guard let limit = Int(text), (1...200).contains(limit) else {
            throw HTTPError(.badRequest, message: "limit must be a whole number from 1 to 200.")
        }
        return limit
    }
}

/// The opaque `next_cursor`: the last row's `updated_at` and `id`, base64url-encoded.
enum CursorCodec {
    static func encode(_ cursor: PageCursor) -> String {
        Data("\(cursor.updatedAt):\(cursor.id)".utf8).base64EncodedString()
            .replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
    }

    static func decode(_ text: String) throws -> PageCursor {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard text.count <= 64, let data = Data(base64Encoded: base64), let plain = String(data: data, encoding: .utf8),
            case let parts = plain.split(separator: ":"), parts.count == 2,
            let updatedAt = Int64(parts[0]), let id = Int64(parts[1])
        else { throw HTTPError(.badRequest, message: "cursor is not valid; use the next_cursor of a previous page.") }
        return PageCursor(updatedAt: updatedAt, id: id)
    }
}
