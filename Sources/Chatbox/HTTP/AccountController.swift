import Foundation
import Hummingbird

/// `/api/account/*`: the signed-in user's password, sessions, deletion, and export / import of their history.
struct AccountController {
    let account: AccountService
    let store: any ChatStore
    let body: JSONBody
    let importBody: JSONBody
    let cookies: SessionCookie

    func addRoutes(to group: RouterGroup<AuthenticatedContext>) {
        group.get("sessions", use: sessions)
            .delete("sessions/:id", use: revokeSession)
            .post("password", use: changePassword)
            .post("delete", use: deleteAccount)
            .get("export", use: exportAll)
            .get("export/:id", use: exportConversation)
            .post("import", use: importHistory)
    }

    struct SessionDTO: Encodable {
        let id: Int64
        let createdAt: String
        let lastUsedAt: String
        let expiresAt: String
        let current: Bool
        enum CodingKeys: String, CodingKey {
            case id, createdAt = "created_at", lastUsedAt = "last_used_at", expiresAt = "expires_at", current
        }
    }

    struct Sessions: ResponseEncodable {
        let sessions: [SessionDTO]
    }

    struct PasswordChange: Decodable {
        let currentPassword: String
        let newPassword: String
    }

    struct Confirmation: Decodable {
        let password: String
    }

    struct ImportReport: ResponseEncodable {
        struct Skipped: Encodable {
            let title: String
            let reason: String
        }
        let source: String
        let imported: Int
        let importedMessages: Int
        let skipped: [Skipped]
        enum CodingKeys: String, CodingKey { case source, imported, importedMessages = "imported_messages", skipped }
    }

    @Sendable func sessions(_ request: Request, context: AuthenticatedContext) async throws -> Sessions {
        let sessions = try await account.sessions(context.signedIn)
        return Sessions(sessions: sessions.map {
            SessionDTO(
                id: $0.id, createdAt: $0.createdAt.iso8601, lastUsedAt: $0.lastUsedAt.iso8601,
                expiresAt: $0.expiresAt.iso8601, current: $0.id == context.session.id)
        })
    }

    @Sendable func revokeSession(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        guard let text = context.parameters.get("id"), let id = Int64(text) else {
            throw HTTPError(.notFound, message: "Session not found.")
        }
        do { try await account.revokeSession(context.signedIn, sessionID: id) } catch StoreError.notFound {
            throw HTTPError(.notFound, message: "Session not found.")
        }
        return .noContent
    }

    @Sendable func changePassword(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let input = try await body.decode(PasswordChange.self, from: request)
        try await throttled {
            try await account.changePassword(context.signedIn, current: input.currentPassword, new: input.newPassword)
        }
        return .noContent
    }

    @Sendable func deleteAccount(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let input = try await body.decode(Confirmation.self, from: request)
        try await throttled { try await account.deleteAccount(context.signedIn, password: input.password) }
        var response = Response.noContent
        response.headers[.setCookie] = cookies.clearing()
        return response
    }

    /// Checking the current password is throttled per account like logins, and says so.
    private func throttled(_ body: () async throws -> Void) async throws {
        do { try await body() } catch AuthError.throttled(let seconds) {
            throw HTTPError.tooManyRequests(retryAfter: seconds, "Too many wrong passwords for this account.")
        }
    }

    @Sendable func exportAll(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let export = Transfer.export(username: context.user.username, try await store.export(userID: context.user.id))
        let json = try APICoding.encoder.encode(export)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json", .contentDisposition: "attachment; filename=\"chatbox-export.json\""],
            body: .init(byteBuffer: ByteBuffer(data: json)))
    }

    @Sendable func exportConversation(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        guard let conversation = try await store.conversation(id: try pathID(context), userID: context.user.id) else {
            throw HTTPError(.notFound, message: "Conversation not found.")
        }
        let markdown = Transfer.markdown(conversation, try await store.messages(conversationID: conversation.id))
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/markdown; charset=utf-8",
                .contentDisposition: "attachment; filename=\"conversation-\(conversation.id).md\"",
            ],
            body: .init(byteBuffer: ByteBuffer(string: markdown)))
    }

    @Sendable func importHistory(_ request: Request, context: AuthenticatedContext) async throws -> ImportReport {
        let data = try await importBody.rawJSON(from: request)
        let parsed = try Transfer.parse(data)
        let added = try await store.importConversations(userID: context.user.id, parsed.conversations)
        var skipped = parsed.skipped.map { ImportReport.Skipped(title: $0.title, reason: $0.reason) }
        var messages = 0
        for (conversation, wasAdded) in zip(parsed.conversations, added) {
            if wasAdded { messages += conversation.messages.count } else {
                skipped.append(.init(title: conversation.title, reason: "it is already here"))
            }
        }
        return ImportReport(
            source: parsed.source, imported: added.filter { $0 }.count, importedMessages: messages, skipped: skipped)
    }
}

extension AuthenticatedContext {
    var signedIn: Authenticated { Authenticated(user: user, session: session) }
}
