import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The session cookie: HttpOnly, SameSite=Lax, Secure when the site is served over https.
struct SessionCookie: Sendable {
    static let name = "chatbox_session"
    let secure: Bool

    func setting(_ token: String, expiresAt: Millis) -> String {
        let maxAge = max(0, (expiresAt - .now()) / 1000)
        return "\(Self.name)=\(token); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Lax\(secure ? "; Secure" : "")"
    }

    func clearing() -> String {
        "\(Self.name)=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax\(secure ? "; Secure" : "")"
    }

    /// The token from `Authorization: Bearer …` or the cookie.
    static func token(in request: Request) -> String? {
        if let header = request.headers[.authorization], header.prefix(7).lowercased() == "bearer " {
            let token = header.dropFirst(7).trimmingSpaces
            return token.isEmpty ? nil : String(token)
        }
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let trimmed = pair.trimmingSpaces
                if trimmed.hasPrefix(name + "=") {
                    let token = String(trimmed.dropFirst(name.count + 1))
                    return token.isEmpty ? nil : token
                }
            }
        }
        return nil
    }
}

/// The client's address, for throttling: the socket's peer, or — when configured to trust a reverse proxy — the
/// last X-Forwarded-For hop, the one the proxy itself appended (earlier hops are written by the client).
struct ClientAddress: Sendable {
    let trustForwardedFor: Bool

    func of(_ request: Request, context: AppRequestContext) -> String {
        if trustForwardedFor, let forwarded = request.headers[values: .init("X-Forwarded-For")!].last,
            let last = forwarded.split(separator: ",").last
        {
            return String(last.trimmingSpaces)
        }
        return context.remoteAddress?.ipAddress ?? "unknown"
    }
}

/// Finds the signed-in user (cookie or Bearer token) and puts it in the context; never refuses by itself.
struct SessionMiddleware: RouterMiddleware {
    let auth: AuthService

    func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    )
        async throws -> Response
    {
        var context = context
        if request.uri.path.hasPrefix("/api/"), let token = SessionCookie.token(in: request) {
            context.token = token
            context.auth = try await auth.authenticate(token: token)
        }
        return try await next(request, context)
    }
}

/// Refuses state-changing requests that a browser sent from another site (cross-site request forgery):
/// the Origin must be this server's own (or a configured one) and Sec-Fetch-Site must not be cross-site.
/// Requests without either header come from non-browser clients, which carry no ambient cookie risk.
struct OriginCheckMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowedOrigins: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        switch request.method {
        case .get, .head, .options:
            return try await next(request, context)
        default:
            break
        }
        if let site = request.headers[.secFetchSite], site != "same-origin", site != "none" {
            throw HTTPError(.forbidden, message: "Cross-site requests are not allowed.")
        }
        if let origin = request.headers[.origin] {
            let host = request.head.authority ?? ""
            let own = ["http://" + host, "https://" + host]
            guard own.contains(origin) || allowedOrigins.contains(origin) else {
                throw HTTPError(.forbidden, message: "Requests from \(origin) are not allowed.")
            }
        }
        return try await next(request, context)
    }
}

/// Headers that keep the page safe: a Content-Security-Policy that allows only our own scripts (plus the one
/// inline import map, by hash), no MIME sniffing, no framing, no referrer leaks.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    let contentSecurityPolicy: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.contentSecurityPolicy] = contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "no-referrer"
        response.headers[.xFrameOptions] = "DENY"
        if request.uri.path.hasPrefix("/api/") {
            response.headers[.cacheControl] = response.headers[.cacheControl] ?? "no-store"
        }
        return response
    }
}

/// Turns the business layer's errors (every `UserFacingError`) into HTTP errors with their message; anything
/// unexpected is logged and becomes a 500 (or a 503 when the database is down) without details leaking.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            throw error
        } catch let error as any UserFacingError {
            throw Self.httpError(error)
        } catch StoreError.notFound {
            throw HTTPError(.notFound, message: "Not found.")
        } catch is CancellationError {
            throw HTTPError(.serviceUnavailable, message: "The request was cancelled.")
        } catch let error where DatabaseErrors.isWriteConflict(error) {
            // Lost to a concurrent change (on Galera, one committed on another node) even after retries.
            context.logger.warning("write conflict: \(error)")
            throw HTTPError(
                .serviceUnavailable, headers: [.retryAfter: "1"], message: DatabaseErrors.conflictMessage)
        } catch {
            if let message = DatabaseErrors.unavailableMessage(error) {
                context.logger.error("database unavailable: \(error)")
                throw HTTPError(.serviceUnavailable, message: message)
            }
            context.logger.error("unexpected error: \(String(reflecting: error))")
            throw HTTPError(.internalServerError, message: "Something went wrong on the server; it has been logged.")
        }
    }

    /// The one mapping from the business layer's kinds of refusal to statuses (and `Retry-After`).
    static func httpError(_ error: any UserFacingError) -> Refusal {
        let status: HTTPResponse.Status
        var headers: HTTPFields = [:]
        switch error.kind {
        case .invalid: status = .unprocessableContent
        case .notFound: status = .notFound
        case .conflict: status = .conflict
        case .forbidden: status = .forbidden
        case .unauthorized: status = .unauthorized
        case .tooLarge: status = .contentTooLarge
        case .tooManyRequests(let seconds):
            status = .tooManyRequests
            headers[.retryAfter] = "\(seconds)"
        case .unavailable(let seconds):
            status = .serviceUnavailable
            headers[.retryAfter] = seconds.map { "\($0)" }
        }
        return Refusal(status: status, headers: headers, message: error.message, code: error.code)
    }
}

/// A refused request's answer: the body Hummingbird's `HTTPError` writes, `{"error": {"message": …}}`, with the
/// refusal's `code` beside the message when it has one. Its keys are sorted: the encoder does not keep their order,
/// and a refusal must be byte for byte the same each time (someone else's conversation answers exactly as one that
/// does not exist).
struct Refusal: HTTPResponseError {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let message: String
    let code: String?

    struct Body: Encodable {
        struct Detail: Encodable {
            let message: String
            let code: String?
        }
        let error: Detail
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try Self.encoder.encode(Body(error: .init(message: message, code: code)))
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension HTTPField.Name {
    static let secFetchSite = Self("Sec-Fetch-Site")!
    static let xFrameOptions = Self("X-Frame-Options")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
    static let xAccelBuffering = Self("X-Accel-Buffering")!
}
