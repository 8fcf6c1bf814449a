import Foundation
import Hummingbird
import NIOCore

/// JSON in snake_case, both ways, for every route.
enum APICoding {
    /// Requests: Swift names read from snake_case keys.
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()
    /// Responses (`responseEncoder` of every context): each response type names its snake_case keys in its
    /// `CodingKeys`, so no key is converted: converting them was a large part of the cost of a long response
    /// (measured in bench/README.md, "What was profiled").
    static let responseEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()
    /// Swift names written as snake_case keys: the export file (`Transfer.Export`, read back with
    /// `.convertFromSnakeCase`) and the SSE event payloads. Keys already in snake_case come out unchanged.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()
}

/// The context of every request: the client's address and, once `SessionMiddleware` ran, who is signed in.
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// The event loop of the client's connection (an answer's stream runs its writes there).
    public let eventLoop: any EventLoop
    /// Set by `SessionMiddleware` when the request carries a live session.
    public var auth: Authenticated?
    /// The raw session token the request carried (for logout).
    public var token: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        eventLoop = source.channel.eventLoop
    }

    public var requestDecoder: JSONDecoder { APICoding.decoder }
    public var responseEncoder: JSONEncoder { APICoding.responseEncoder }
}

/// The context of routes that need a signed-in user: `user` is never missing here.
public struct AuthenticatedContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let user: User
    public let session: Session
    public let token: String
    /// The event loop of the client's connection.
    public let eventLoop: any EventLoop

    public init(context: AppRequestContext) throws {
        guard let auth = context.auth, let token = context.token else {
            throw HTTPError(.unauthorized, message: "Please log in.")
        }
        coreContext = context.coreContext
        user = auth.user
        session = auth.session
        self.token = token
        eventLoop = context.eventLoop
    }

    public var requestDecoder: JSONDecoder { APICoding.decoder }
    public var responseEncoder: JSONEncoder { APICoding.responseEncoder }
}
