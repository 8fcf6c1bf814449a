import AsyncHTTPClient
import Synchronization

/// Several HTTPClients taken in turn, for thousands of concurrent model streams. AsyncHTTPClient's connection pool
/// copies its list of connections each time it opens one (O(n)): with 7,000 streams to one host, retains from that
/// copy alone were ~10 % of perf's samples and new answers waited ~50 s to start. Shards keep each list short.
public final class HTTPClientShards: Sendable {
    public let clients: [HTTPClient]
    private let turn = Atomic<UInt>(0)

    public init(_ clients: [HTTPClient]) {
        precondition(!clients.isEmpty, "at least one HTTP client")
        self.clients = clients
    }

    /// The next client, round robin.
    func next() -> HTTPClient {
        clients[Int(turn.wrappingAdd(1, ordering: .relaxed).oldValue % UInt(clients.count))]
    }

    public func shutdown() async throws {
        for client in clients { try await client.shutdown() }
    }
}
