/// What monitoring and the page ask about the server itself: whether the database answers, whether sign-up
/// is open.
public struct SystemService: Sendable {
    let store: any MaintenanceStore
    let settings: RuntimeSettings

    /// Returns when the database answers; throws its error otherwise.
    public func checkHealth() async throws {
        try await store.ping()
    }

    /// The full-text index message search uses, for `/healthz`.
    public var searchIndex: String { store.searchIndexName }

    /// Whether anyone may create an account.
    public func registrationOpen() async throws -> Bool {
        try await settings.registrationOpen()
    }
}
