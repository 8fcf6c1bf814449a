extension StringProtocol {
    /// The text cut after `limit` characters with "…" added, or all of it when it is no longer than that.
    func truncated(to limit: Int) -> String {
        count > limit ? prefix(limit) + "…" : String(self)
    }
}
