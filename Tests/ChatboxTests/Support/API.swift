import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The API as a client sees it: one helper per endpoint, returning the status and the decoded body.
struct API: Sendable {
    let client: any TestClientProtocol
    var port: Int? { client.port }

    struct Reply: Sendable {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let body: ByteBuffer
        var json: [String: any Sendable] {
            ((try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: any Sendable]) ?? [:]
        }
        var errorMessage: String? { (json["error"] as? [String: Any])?["message"] as? String }
        /// The refusal's machine name (`error.code`), when the server gives one.
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            return try decoder.decode(T.self, from: Data(buffer: body))
        }
        var text: String { String(buffer: body) }
    }

    func call(
        _ method: HTTPRequest.Method, _ path: String, json: String? = nil, token: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil && headers[.contentType] == nil { headers[.contentType] = "application/json" }
        let body = json.map { ByteBuffer(string: $0) }
        return try await client.execute(uri: path, method: method, headers: headers, body: body) { response in
            Reply(status: response.status, headers: response.headers, body: response.body)
        }
    }

    // MARK: one helper per endpoint

    func register(_ username: String, _ password: String = "correct horse") async throws -> Reply {
        try await call(.post, "/api/auth/register", json: Self.encode(["username": username, "password": password]))
    }

    func login(_ username: String, _ password: String = "correct horse", headers: HTTPFields = [:]) async throws
        -> Reply
    {
        try await call(
            .post, "/api/auth/login", json: Self.encode(["username": username, "password": password]), headers: headers)
    }

    func logout(token: String) async throws -> Reply { try await call(.post, "/api/auth/logout", token: token) }

    func me(token: String?) async throws -> Reply { try await call(.get, "/api/auth/me", token: token) }

    func listConversations(token: String, query: String = "") async throws -> Reply {
        try await call(.get, "/api/conversations" + (query.isEmpty ? "" : "?" + query), token: token)
    }

    func createConversation(token: String, title: String? = nil) async throws -> Reply {
        try await call(
            .post, "/api/conversations", json: title.map { Self.encode(["title": $0]) } ?? "{}", token: token)
    }

    func getConversation(_ id: Int64, token: String) async throws -> Reply {
        try await call(.get, "/api/conversations/\(id)", token: token)
    }

    func renameConversation(_ id: Int64, title: String, token: String) async throws -> Reply {
        try await call(.patch, "/api/conversations/\(id)", json: Self.encode(["title": title]), token: token)
    }

    func deleteConversation(_ id: Int64, token: String) async throws -> Reply {
        try await call(.delete, "/api/conversations/\(id)", token: token)
    }

    func health() async throws -> Reply { try await call(.get, "/healthz") }

    // MARK: conveniences

    /// Registers a user and returns their token.
    func signUp(_ username: String, _ password: String = "correct horse") async throws -> String {
        let reply = try await register(username, password)
        #expect(reply.status == .created, "register \(username): \(reply.text)")
        return try #require(reply.json["token"] as? String)
    }

    /// Creates a conversation and returns its id.
    func newConversation(token: String, title: String? = nil) async throws -> Int64 {
        let reply = try await createConversation(token: token, title: title)
        #expect(reply.status == .created)
        let conversation = try #require(reply.json["conversation"] as? [String: Any])
        return try #require((conversation["id"] as? NSNumber)?.int64Value)
    }

    static func encode(_ object: [String: String]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }
}
