import Foundation
import Hummingbird

/// `/api/account/*`: the signed-in user's password, sessions, deletion, and export / import of their history.
struct AccountController {
    let account: AccountService
    let transfer: TransferService
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
        let cutMessages: Int
        let skipped: [Skipped]
        enum CodingKeys: String, CodingKey {
            case source, imported, importedMessages = "imported_messages", cutMessages = "cut_messages", skipped
        }
    }

    @Sendable func sessions(_ request: Request, context: AuthenticatedContext) async throws -> Sessions {
        let sessions = try await account.sessions(context.signedIn)
        return Sessions(
            sessions: sessions.map {
                SessionDTO(
                    id: $0.id, createdAt: $0.createdAt.iso8601, lastUsedAt: $0.lastUsedAt.iso8601,
                    expiresAt: $0.expiresAt.iso8601, current: $0.id == context.session.id)
            })
    }

    @Sendable func revokeSession(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        try await account.revokeSession(context.signedIn, sessionID: try pathID(context, of: "Session"))
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

    /// Streams the export: the document's envelope, then each conversation as its messages are read (one
    /// conversation in memory at a time), in pieces of about 64 KB. A failure midway is logged and ends the
    /// response early (the client gets cut-off JSON, not a complete-looking file).
    @Sendable func exportAll(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let plan = try await transfer.exportPlan(userID: context.user.id, username: context.user.username)
        let encoder = APICoding.encoder
        let envelope = String(decoding: try encoder.encode(plan.envelope), as: UTF8.self)
        guard let slot = envelope.range(of: "\"conversations\":[]") else {
            throw HTTPError(.internalServerError, message: "The export could not be written.")
        }
        let head = String(envelope[..<slot.lowerBound]) + "\"conversations\":["
        let tail = "]" + envelope[slot.upperBound...]
        let (transfer, logger, userID) = (self.transfer, context.logger, context.user.id)
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/json", .contentDisposition: "attachment; filename=\"chatbox-export.json\""
            ],
            body: ResponseBody { writer in
                var written = 0
                do {
                    var buffer = ByteBuffer(string: head)
                    for (index, conversation) in plan.conversations.enumerated() {
                        if index > 0 { buffer.writeString(",") }
                        buffer.writeBytes(try encoder.encode(try await transfer.exported(conversation)))
                        written += 1
                        if buffer.readableBytes >= 1 << 16 {
                            try await writer.write(buffer)
                            buffer.clear()
                        }
                    }
                    buffer.writeString(tail)
                    try await writer.write(buffer)
                    try await writer.finish(nil)
                } catch {
                    logger.error(
                        "export of user \(userID) stopped after \(written) of \(plan.conversations.count) conversations: \(error)"
                    )
                    throw error
                }
            })
    }

    @Sendable func exportConversation(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let (conversation, markdown) = try await transfer.markdown(
            conversationID: try pathID(context, of: "Conversation"), userID: context.user.id)
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/markdown; charset=utf-8",
                .contentDisposition: "attachment; filename=\"conversation-\(conversation.id).md\""
            ],
            body: .init(byteBuffer: ByteBuffer(string: markdown)))
    }

    @Sendable func importHistory(_ request: Request, context: AuthenticatedContext) async throws -> ImportReport {
        let data = try await importBody.rawJSON(from: request)
        let report = try await transfer.importHistory(userID: context.user.id, data)
        return ImportReport(
            source: report.source, imported: report.imported, importedMessages: report.importedMessages,
            cutMessages: report.cutMessages, skipped: report.skipped.map { .init(title: $0.title, reason: $0.reason) })
    }
}

extension AuthenticatedContext {
    var signedIn: Authenticated { Authenticated(user: user, session: session) }
}
