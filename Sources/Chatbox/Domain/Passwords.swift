import Crypto
import Foundation
import HummingbirdBcrypt
import NIOPosix

/// bcrypt on a thread pool, so hashing never blocks the server's event loops or the task executor.
public struct PasswordHasher: Sendable {
    public let cost: Int
    private let threadPool: NIOThreadPool

    public init(cost: Int, threadPool: NIOThreadPool = .singleton) {
        self.cost = cost
        self.threadPool = threadPool
    }

    public func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await threadPool.runIfActive { Bcrypt.hash(password, cost: UInt8(cost)) }
    }

    /// A well-formed hash of this cost that no password matches (made up, not computed): the stand-in when
    /// computing a real decoy hash failed.
    public func decoyHash() -> String {
        let alphabet = Array("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        let body = String((0..<53).map { _ in alphabet.randomElement()! })
        return "$2b$" + (cost < 10 ? "0" : "") + "\(cost)$" + body
    }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        try await threadPool.runIfActive { Bcrypt.verify(password, hash: hash) }
    }
}

/// Session tokens: 256 random bits, handed to the client once; only their SHA-256 is stored.
public enum SessionToken {
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).lowercaseHex
    }
}
