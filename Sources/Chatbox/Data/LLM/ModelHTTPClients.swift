import AsyncHTTPClient
import NIOPosix
import NIOSSL
import Synchronization

/// The HTTP clients of OpenAI-compatible models, shared by every model of the server: a `ModelConnectionPool`
/// for the streamed answers (plain SwiftNIO, keep-alive connections per host, no limit on concurrent streams) and
/// one AsyncHTTPClient for the occasional `GET {base}/models` listing (`ModelListing`).
///
/// The streams used to go through AsyncHTTPClient too, spread over 16 clients because its pool copies its whole
/// connection list each time it opens one (profiled in bench/README.md, "What was profiled"); the NIO pool has no
/// such cost, and no future per body part.
public final class ModelHTTPClients: Sendable {
    /// For listings only.
    public let listing: HTTPClient
    /// For streamed answers.
    let streams: ModelConnectionPool
    /// Endpoints that refused a request with `stream_options` and accepted it without (see
    /// `OpenAICompatibleModel`). Bounded: a few connections' endpoints, each added once.
    private let refusingStreamOptions = Mutex<Set<String>>([])

    /// `connectTimeout` bounds the listing client's connections; a model's streams have their own (see
    /// `OpenAICompatibleModel`). Shut them down with `shutdown()`.
    public convenience init(connectTimeout: Duration = .seconds(10)) {
        self.init(connectTimeout: connectTimeout, tlsConfiguration: .makeClientConfiguration())
    }

    /// `tlsConfiguration`: how stream connections to `https` endpoints are secured (tests trust their own
    /// certificate with it); `idleTimeout`: how long an idle stream connection is kept.
    init(connectTimeout: Duration, tlsConfiguration: TLSConfiguration, idleTimeout: Duration = .seconds(60)) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .nanoseconds(connectTimeout.wholeNanoseconds))
        configuration.connectionPool = .init(idleTimeout: .seconds(60))
        // A refused connection fails at once instead of being retried until the connect timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.decompression = .disabled
        listing = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
        streams = ModelConnectionPool(tlsConfiguration: tlsConfiguration, idleTimeout: idleTimeout)
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

    /// Closes the idle stream connections and the listing client.
    public func shutdown() async throws {
        await streams.shutdown()
        try await listing.shutdown()
    }
}
