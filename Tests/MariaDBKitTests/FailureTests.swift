import Foundation
@testable import MariaDBKit
import SQLKit
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A TCP port on 127.0.0.1 that accepts connections (the kernel completes the handshake) but never says a
/// word: what a hung server looks like.
final class SilentListener {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && listen(fd, 16) == 0 }
        }
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        guard bound, port > 0 else {
            close(fd)
            throw CancellationError()
        }
        self.fd = fd
        self.port = port
    }

    deinit { close(fd) }
}

/// A port on 127.0.0.1 where nothing listens.
func closedPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
    }
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))  // bound, never listening: connections are refused
}

@Suite("Connection failures fail fast with clear errors (no server needed)")
struct FailureTests {
    @Test("a port where nothing listens fails at once with 'is unreachable', within the connect timeout")
    func unreachablePort() async throws {
        let port = closedPort()
        let configuration = MariaDBConfiguration(
            host: "127.0.0.1", port: port, user: "root", password: "Secret-123", database: "x",
            poolSize: 2, connectTimeoutSeconds: 2)
        let db = MariaDBDatabase(configuration: configuration)
        let (error, seconds) = await Support.elapsedError { try await db.raw("SELECT 1").run() }
        await db.shutdown()
        let e = try #require(error as? MariaDBError)
        #expect(e.isConnectionError)
        #expect(e.description.hasPrefix("MySQL at 127.0.0.1:\(port) is unreachable (Can't connect"))
        #expect(!e.description.contains("Secret-123"))
        #expect(seconds < Double(configuration.connectTimeoutSeconds) + Support.slack, "took \(seconds) s")
        print("unreachable port: failed after \(String(format: "%.3f", seconds)) s: \(e)")
    }

    @Test("a server that accepts but never answers fails after the connect timeout, not never")
    func silentServer() async throws {
        let listener = try SilentListener()
        let configuration = MariaDBConfiguration(
            host: "127.0.0.1", port: listener.port, user: "root", password: "pw", database: "x",
            poolSize: 1, connectTimeoutSeconds: 2, readWriteTimeoutSeconds: 2)
        let db = MariaDBDatabase(configuration: configuration)
        let (error, seconds) = await Support.elapsedError { try await db.raw("SELECT 1").run() }
        await db.shutdown()
        let e = try #require(error as? MariaDBError)
        #expect(e.isConnectionError)
        #expect(!e.description.contains("\n"))
        #expect(seconds < Double(configuration.connectTimeoutSeconds) + Support.slack, "took \(seconds) s")
        print("silent server: failed after \(String(format: "%.3f", seconds)) s: \(e)")
        withExtendedLifetime(listener) {}
    }

    @Test("after shutdown, queries fail with isShutdown instead of hanging")
    func afterShutdown() async throws {
        let db = MariaDBDatabase(
            configuration: MariaDBConfiguration(
                host: "127.0.0.1", port: closedPort(), user: "u", password: "p", database: "d", poolSize: 1))
        await db.shutdown()
        let (error, _) = await Support.elapsedError { try await db.raw("SELECT 1").run() }
        #expect((error as? MariaDBError)?.isShutdown == true)
    }
}
