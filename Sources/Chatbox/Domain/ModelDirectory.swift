/// The models users can pick, by id: what a turn answers with and what writes titles. `ModelCatalog` implements it
/// over the admin's connections and the start-up one.
public protocol ModelDirectory: Sendable {
    /// The model for `id`, or for nil the default; throws `ChatError.modelUnavailable` when `id` is not (or no
    /// longer) offered, or `ChatError.noModel` when there is no model at all.
    func chatModel(id: String?) async throws -> ResolvedModel
    /// Whether users may pick `id` now.
    func isAvailable(_ id: String) async -> Bool
    /// The admin's title model, if one is set and available (else titles come from the conversation's model).
    func titleModel() async -> (any ChatModel)?
    /// The model a conversation gets when nobody chose one.
    func defaultModelID() async -> String?
}

/// A model id and the model behind it.
public struct ResolvedModel: Sendable {
    public let id: String
    public let model: any ChatModel
    public init(id: String, model: any ChatModel) {
        self.id = id
        self.model = model
    }
}
