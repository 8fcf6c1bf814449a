/// Settings an admin changes while the server runs, kept in the database; the configuration gives defaults.
public struct RuntimeSettings: Sendable {
    let store: any SettingsStore
    let registrationDefault: Bool

    public init(store: any SettingsStore, registrationDefault: Bool) {
        self.store = store
        self.registrationDefault = registrationDefault
    }

    /// Whether anyone may create an account.
    public func registrationOpen() async throws -> Bool {
        try await store.setting("registration_open").map { $0 == "true" } ?? registrationDefault
    }

    public func setRegistrationOpen(_ open: Bool) async throws {
        try await store.setSetting("registration_open", value: open ? "true" : "false")
    }
}
