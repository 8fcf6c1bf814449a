/// Keeps trying a write that must happen (an answer's final save, freeing its conversation) while the database is
/// away: `atOnce` tries while the caller waits, short pauses between them, then in the background every 2 s for up
/// to an hour. `attempt` gets the try's number and says whether it succeeded (it logs its own failures).
func persistently(atOnce: Int, _ attempt: @escaping @Sendable (Int) async -> Bool) async {
    for number in 1...atOnce {
        if await attempt(number) { return }
        if number < atOnce { try? await Task.sleep(for: .milliseconds(250 << number)) }
    }
    Task {
        for number in (atOnce + 1)...(atOnce + 1800) {
            try? await Task.sleep(for: .seconds(2))
            if await attempt(number) { return }
        }
    }
}
