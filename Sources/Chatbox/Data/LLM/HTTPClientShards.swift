import AsyncHTTPClient
import Synchronization

/// Several HTTPClients, for thousands of concurrent model streams. AsyncHTTPClient's connection pool
/// copies its list of connections each time it opens one (O(n)), so thousands of streams to one host make opening
/// connections quadratic (profiled in bench/README.md, "What was profiled"). Shards keep each list short.
///
/// A request goes to the shard with the fewest requests in flight, the first such shard on a tie: a few answers at a
/// time all use the first shard and reuse its keep-alive connections; thousands spread over all of them.
public final class HTTPClientShards: Sendable {
    public let clients: [HTTPClient]
    private let inFlight: Mutex<[Int]>
    /// Endpoints that refused a request with `stream_options` and accepted it without (see
    /// `OpenAICompatibleModel`). Bounded: a few connections' endpoints, each added once.
    private let refusingStreamOptions = Mutex<Set<String>>([])

    public init(_ clients: [HTTPClient]) {
        precondition(!clients.isEmpty, "at least one HTTP client")
        self.clients = clients
        inFlight = Mutex(Array(repeating: 0, count: clients.count))
    }

    /// Whether requests to `endpoint` must leave out `stream_options` (it refused them before).
    func refusesStreamOptions(_ endpoint: String) -> Bool {
        refusingStreamOptions.withLock { $0.contains(endpoint) }
    }

    func rememberRefusesStreamOptions(_ endpoint: String) {
        refusingStreamOptions.withLock { set in
            if set.count < 10_000 { set.insert(endpoint) }
        }
    }

    /// The least busy client and its index, to give back with `release` when the request has ended.
    func acquire() -> (client: HTTPClient, shard: Int) {
        let shard = inFlight.withLock { counts in
            let shard = counts.indices.min { counts[$0] < counts[$1] } ?? 0
            counts[shard] += 1
            return shard
        }
        return (clients[shard], shard)
    }

    func release(_ shard: Int) {
        inFlight.withLock { $0[shard] -= 1 }
    }

    public func shutdown() async throws {
        for client in clients { try await client.shutdown() }
    }
}
