import Hummingbird

/// `/api/admin/*`: user management and runtime settings, for admins only (403 for others, 401 signed out).
struct AdminController {
    let admin: AdminService
    let body: JSONBody

    func addRoutes(to group: RouterGroup<AuthenticatedContext>) {
        group.add(middleware: AdminOnlyMiddleware())
            .get("users", use: listUsers)
            .post("users", use: createUser)
            .patch("users/:id", use: updateUser)
            .post("users/:id/password", use: resetPassword)
            .delete("users/:id", use: deleteUser)
            .get("settings", use: settings)
            .patch("settings", use: updateSettings)
    }

    struct AdminUserDTO: Encodable {
        let id: Int64
        let username: String
        let role: String
        let disabled: Bool
        let createdAt: String
        @NullWhenAbsent var lastActiveAt: String?
        let conversationCount: Int
        init(_ summary: UserSummary) {
            id = summary.user.id
            username = summary.user.username
            role = summary.user.role.rawValue
            disabled = summary.user.disabled
            createdAt = summary.user.createdAt.iso8601
            lastActiveAt = summary.lastActiveAt?.iso8601
            conversationCount = summary.conversationCount
        }
        enum CodingKeys: String, CodingKey {
            case id, username, role, disabled, createdAt = "created_at", lastActiveAt = "last_active_at"
            case conversationCount = "conversation_count"
        }
    }

    struct UserPage: ResponseEncodable {
        let users: [AdminUserDTO]
        @NullWhenAbsent var nextCursor: String?
        enum CodingKeys: String, CodingKey { case users, nextCursor = "next_cursor" }
    }

    struct NewUser: Decodable {
        let username: String
        let password: String
        let role: Role?
    }

    struct Update: Decodable {
        let role: Role?
        let disabled: Bool?
    }

    struct NewPassword: Decodable {
        let password: String
    }

    struct OneUser: ResponseEncodable {
        let user: UserDTO
    }

    struct Settings: ResponseCodable {
        let registrationOpen: Bool
        // Read with the Swift name (the request decoder converts keys); written with the wire name.
        enum ResponseKeys: String, CodingKey { case registrationOpen = "registration_open" }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: ResponseKeys.self)
            try container.encode(registrationOpen, forKey: .registrationOpen)
        }
    }

    @Sendable func listUsers(_ request: Request, context: AuthenticatedContext) async throws -> UserPage {
        let query = request.uri.queryParameters
        let limit = try ConversationController.limit(query.get("limit"))
        let after = try query.get("cursor").map(CursorCodec.decode)?.id
        let page = try await admin.users(limit: limit, afterID: after, query: query.get("q"))
        let next =
            page.hasMore ? page.users.last.map { CursorCodec.encode(PageCursor(updatedAt: 0, id: $0.user.id)) } : nil
        return UserPage(users: page.users.map(AdminUserDTO.init), nextCursor: next)
    }

    @Sendable func createUser(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let input = try await body.decode(NewUser.self, from: request)
        let user = try await admin.createUser(
            username: input.username, password: input.password, role: input.role ?? .user)
        return try OneUser(user: UserDTO(user)).created(from: request, context: context)
    }

    @Sendable func updateUser(_ request: Request, context: AuthenticatedContext) async throws -> OneUser {
        let input = try await body.decode(Update.self, from: request)
        let user = try await admin.update(
            userID: try pathID(context, of: "User"), role: input.role, disabled: input.disabled)
        return OneUser(user: UserDTO(user))
    }

    @Sendable func resetPassword(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let input = try await body.decode(NewPassword.self, from: request)
        try await admin.resetPassword(userID: try pathID(context, of: "User"), password: input.password)
        return .noContent
    }

    @Sendable func deleteUser(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let confirm = request.uri.queryParameters.get("confirm") ?? ""
        try await admin.delete(userID: try pathID(context, of: "User"), confirm: confirm)
        return .noContent
    }

    @Sendable func settings(_ request: Request, context: AuthenticatedContext) async throws -> Settings {
        Settings(registrationOpen: try await admin.registrationOpen())
    }

    @Sendable func updateSettings(_ request: Request, context: AuthenticatedContext) async throws -> Settings {
        let input = try await body.decode(Settings.self, from: request)
        try await admin.setRegistrationOpen(input.registrationOpen)
        return Settings(registrationOpen: try await admin.registrationOpen())
    }
}

/// Lets only admins through.
struct AdminOnlyMiddleware: RouterMiddleware {
    func handle(
        _ request: Request, context: AuthenticatedContext,
        next: (Request, AuthenticatedContext) async throws -> Response
    ) async throws -> Response {
        guard context.user.role == .admin else { throw HTTPError(.forbidden, message: "Only admins can do this.") }
        return try await next(request, context)
    }
}
