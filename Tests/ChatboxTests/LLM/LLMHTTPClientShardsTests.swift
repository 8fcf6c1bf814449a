@testable import Chatbox
import Testing

@Suite("LLM: HTTP client shards")
struct LLMHTTPClientShardsTests {
    @Test func fewRequestsStayOnTheFirstShardAndManySpreadToTheLeastBusy() async throws {
        let shards = OpenAICompatibleModel.makeHTTPClients(shards: 3, connectionsPerShard: 4)
        // One answer at a time: always the first shard, so its keep-alive connections are reused.
        for _ in 0..<3 {
            let one = shards.acquire()
            #expect(one.shard == 0)
            shards.release(one.shard)
        }
        // Several at once: each goes to the least busy shard.
        let held = (0..<4).map { _ in shards.acquire().shard }
        #expect(held == [0, 1, 2, 0])
        shards.release(1)
        #expect(shards.acquire().shard == 1)
        try await shards.shutdown()
    }
}
