import Hummingbird

/// `/api/auth/*`: register, log in, log out, who am I.
struct AuthController {
    let auth: AuthService
    let cookies: SessionCookie
    let body: JSONBody
    let addresses: ClientAddress

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("register", use: register)
            .post("login", use: login)
            .post("logout", use: logout)
            .get("me", use: me)
    }

    struct Credentials: Decodable {
        let username: String
        let password: String
    }

    struct SignedIn: ResponseEncodable {
        let user: UserDTO
        let token: String
    }

    struct Me: ResponseEncodable {
        let user: UserDTO
    }

    @Sendable func register(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await body.decode(Credentials.self, from: request)
        let (signedIn, token): (Authenticated, String)
        do {
            (signedIn, token) = try await auth.register(
                username: input.username, password: input.password, address: addresses.of(request, context: context))
        } catch AuthError.throttled(let seconds) {
            throw HTTPError.tooManyRequests(retryAfter: seconds, "Too many sign-ups from your address.")
        }
        return try signedInResponse(signedIn, token: token, status: .created, request: request, context: context)
    }

    @Sendable func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await body.decode(Credentials.self, from: request)
        let (signedIn, token) = try await auth.login(
            username: input.username, password: input.password, address: addresses.of(request, context: context))
        return try signedInResponse(signedIn, token: token, status: .ok, request: request, context: context)
    }

    @Sendable func logout(_ request: Request, context: AppRequestContext) async throws -> Response {
        if let token = context.token { try await auth.logout(token: token) }
        var response = Response.noContent
        response.headers[.setCookie] = cookies.clearing()
        return response
    }

    @Sendable func me(_ request: Request, context: AppRequestContext) async throws -> Me {
        guard let signedIn = context.auth else { throw HTTPError(.unauthorized, message: "Please log in.") }
        return Me(user: UserDTO(signedIn.user))
    }

    private func signedInResponse(
        _ signedIn: Authenticated, token: String, status: HTTPResponse.Status, request: Request,
        context: AppRequestContext
    ) throws -> Response {
        var response = try SignedIn(user: UserDTO(signedIn.user), token: token).response(
            from: request, context: context)
        response.status = status
        response.headers[.setCookie] = cookies.setting(token, expiresAt: signedIn.session.expiresAt)
        return response
    }
}

extension HTTPError {
    /// 429 with `Retry-After`, saying what was too many and when to try again.
    static func tooManyRequests(retryAfter seconds: Int, _ what: String) -> HTTPError {
        HTTPError(
            .tooManyRequests, headers: [.retryAfter: "\(seconds)"], message: "\(what) Try again in \(seconds) seconds.")
    }
}
