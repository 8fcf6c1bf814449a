import Foundation
import Testing

/// A real HTTP proxy for tests (tinyproxy, started by `scripts/start-tinyproxy.sh`), loopback only, with its log of
/// every request it relayed.
struct TinyProxy {
    /// `http://127.0.0.1:PORT`.
    let url: String
    let port: Int
    let directory: URL

    /// Runs `body` with a proxy (asking for `credentials`, `user:password`, when given), then stops it.
    static func with(credentials: String? = nil, _ body: (TinyProxy) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chatbox-proxy-\(UUID())")
        let started = try await Shell.status(
            ["bash", Shell.script("start-tinyproxy.sh"), directory.path] + (credentials.map { [$0] } ?? []))
        let url = started.output.split(separator: "\n").last.map(String.init) ?? ""
        try #require(started.status == 0, "the proxy did not start: \(started.output)")
        let port = try #require(URLComponents(string: url)?.port, "no proxy URL in: \(started.output)")
        let proxy = TinyProxy(url: url, port: port, directory: directory)
        do { try await body(proxy) } catch {
            await proxy.stop()
            throw error
        }
        await proxy.stop()
    }

    /// The request lines the proxy relayed, e.g. `POST http://127.0.0.1:PORT/v1/chat/completions HTTP/1.1` or
    /// `CONNECT localhost:PORT HTTP/1.1`.
    func requests() -> [String] {
        let log = (try? String(contentsOf: directory.appendingPathComponent("tinyproxy.log"), encoding: .utf8)) ?? ""
        return log.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: "Request (file descriptor ") else { return nil }
            return line[range.upperBound...].split(separator: ":", maxSplits: 1).last.map {
                $0.trimmingCharacters(in: .whitespaces)
            }
        }
    }

    private func stop() async {
        let pid = directory.appendingPathComponent("tinyproxy.pid").path
        _ = try? await Shell.status(["bash", "-c", "kill \"$(cat \"$1\")\"", "-", pid])
        try? FileManager.default.removeItem(at: directory)
    }
}
