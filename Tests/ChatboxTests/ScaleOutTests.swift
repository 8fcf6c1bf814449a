import Chatbox
import FakeUpstream
import Foundation
import Logging
import Testing

/// Several instances on one database, each a live server in this process: answers, stops and re-attaches cross
/// instances through the database; a dead instance's answers are failed by the others; an instance that lost its
/// lease writes nothing more. (The balancer, `kill -9` and Galera runs are reliability/test_scale_out.py.)
@Suite struct ScaleOutTests {
    /// One live instance as a client sees it.
    struct Instance: Sendable {
        let api: API
        let events: EventStreamClient
        let id: String
    }

    /// The instances, the user's token, a store on their database and how to configure one more instance.
    struct Cluster: Sendable {
        let instances: [Instance]
        let token: String
        let store: SQLChatStore
        let config: @Sendable (_ instanceID: String) -> AppConfig
    }

    /// `count` instances ("a", "b", …) on one fresh database and one fake model, a user signed up on the first.
    /// The lease is long unless a test is about reaping: the whole suite in parallel can hold up an instance's
    /// lease renewal for seconds, and a reaped instance's answers would fail.
    func withInstances(
        _ backend: Backend, count: Int = 2, lease: Duration = .seconds(30), runningPerUser: Int = 3,
        _ body: @escaping @Sendable (Cluster) async throws -> Void
    ) async throws {
        let fake = try await FakeUpstream.start(
            behaviour: FakeUpstream.makeDirectiveBehaviour(defaultDelay: .milliseconds(5)))
        let location = backend.freshLocation()
        let baseURL = fake.baseURL
        let configure: @Sendable (String) -> AppConfig = { id in
            TestConfig.make(database: location, modelBaseURL: baseURL) { config in
                config.instanceID = id
                config.instanceLease = lease
                config.maxRunningPerUser = runningPerUser
                config.model.firstTokenTimeout = .seconds(30)
                config.model.stallTimeout = .seconds(30)
            }
        }
        let configs = (0..<count).map { configure(String(UnicodeScalar(UInt8(97 + $0)))) }
        let logger = Logger(label: "scale-out-test")
        let database = try await OpenDatabase.open(location, mysqlPoolSize: 2, logger: logger)
        let store = SQLChatStore(db: database.sql, flavor: database.flavor, logger: logger)
        @Sendable func nest(_ index: Int, _ started: [Instance]) async throws {
            guard index < configs.count else {
                let token = try await started[0].api.signUp("teamuser")
                let signedIn = started.map {
                    Instance(api: $0.api, events: EventStreamClient(port: $0.api.port!, token: token), id: $0.id)
                }
                try await body(Cluster(instances: signedIn, token: token, store: store, config: configure))
                return
            }
            try await withLiveApp(configs[index]) { api in
                let instance = Instance(
                    api: api, events: EventStreamClient(port: api.port!, token: ""), id: configs[index].instance)
                try await nest(index + 1, started + [instance])
            }
        }
        do { try await nest(0, []) } catch {
            await database.close()
            await fake.stop()
            throw error
        }
        await database.close()
        await fake.stop()
    }

    /// Waits for the first `delta` of an open stream and returns the stream's remaining events with it.
    func firstDelta(_ opened: EventStreamClient.Opened) async throws
        -> AsyncThrowingStream<ReceivedEvent, any Error>
        .AsyncIterator
    {
        var events = opened.events.makeAsyncIterator()
        while let event = try await events.next() {
            if event.name == "delta" { return events }
        }
        Issue.record("the stream ended before its first delta")
        return events
    }

    func messages(_ api: API, _ id: Int64, token: String) async throws -> [[String: Any]] {
        try await api.getConversation(id, token: token).json["messages"] as? [[String: Any]] ?? []
    }

    /// A release that could not reach the database (it was away) is retried later; meanwhile a new turn on the
    /// same instance takes the row over, other instances still find the conversation busy, and the late release
    /// leaves the new reservation alone.
    @Test(arguments: Backend.all)
    func aLateReleaseNeitherBlocksTheNextTurnHereNorFreesIt(backend: Backend) async throws {
        try await backend.withStore { store in
            let user = try await store.createUser(username: "u", usernameKey: "u", passwordHash: "h", role: .user)
            let id = try await store.createConversation(userID: user.id, title: "").id
            func reserve(_ instance: String, at now: Millis) async throws -> AnswerReservation {
                do {
                    _ = try await store.beginTurn(
                        conversationID: id, userContent: "q", place: .afterCurrentLeaf, model: nil, now: now,
                        claim: AnswerClaim(userID: user.id, instanceID: instance, limit: 3, at: now))
                    return .reserved
                } catch let refused as AnswerClaimRefused {
                    return refused.reason
                }
            }
            #expect(try await reserve("a", at: 1_000) == .reserved)
            // The answer ended, but its release has not reached the database: the next turn on "a" comes.
            #expect(try await reserve("a", at: 2_000) == .reserved, "this instance's own stale row is taken over")
            #expect(try await reserve("b", at: 2_500) == .busy, "another instance still finds it running")
            try await store.releaseAnswer(conversationID: id, instanceID: "a", reservedAt: 1_000)  // the late one
            #expect(try await store.runningAnswer(conversationID: id)?.instanceID == "a", "the new turn keeps it")
            try await store.releaseAnswer(conversationID: id, instanceID: "a", reservedAt: 2_000)
            #expect(try await store.runningAnswer(conversationID: id) == nil)
            #expect(try await reserve("b", at: 3_000) == .reserved)
        }
    }

    /// A turn takes its conversation's reservation in the transaction that stores it: refused, nothing of the turn
    /// is stored (no question, no answer, no reservation, no change of model).
    @Test(arguments: Backend.all)
    func aTurnIsStoredWithItsReservationOrNotAtAll(backend: Backend) async throws {
        try await backend.withStore { store in
            let user = try await store.createUser(username: "u", usernameKey: "u", passwordHash: "h", role: .user)
            let first = try await store.createConversation(userID: user.id, title: "").id
            let second = try await store.createConversation(userID: user.id, title: "").id
            func claim(_ instance: String, at now: Millis) -> AnswerClaim {
                AnswerClaim(userID: user.id, instanceID: instance, limit: 1, at: now)
            }
            func ask(_ id: Int64, _ claim: AnswerClaim) async throws -> (user: Message, assistant: Message) {
                try await store.beginTurn(
                    conversationID: id, userContent: "q", place: .afterCurrentLeaf, model: "m", now: claim.at,
                    claim: claim)
            }
            let turn = try await ask(first, claim("a", at: 1_000))
            #expect(try await store.runningAnswer(conversationID: first)?.instanceID == "a")
            #expect(try await store.messages(conversationID: first).map(\.id) == [turn.user.id, turn.assistant.id])

            await #expect(throws: AnswerClaimRefused(reason: .busy), "an answer runs there on instance a") {
                try await ask(first, claim("b", at: 2_000))
            }
            await #expect(throws: AnswerClaimRefused(reason: .userAtLimit), "the user's one answer runs") {
                try await ask(second, claim("b", at: 2_000))
            }
            await #expect(throws: AnswerClaimRefused(reason: .busy)) {
                try await store.beginRegeneration(
                    conversationID: first, messageID: nil, model: "other", adoptingModel: true, now: 2_000,
                    claim: claim("b", at: 2_000))
            }
            #expect(try await store.messages(conversationID: first).count == 2, "nothing more stored")
            #expect(try await store.messages(conversationID: second).isEmpty)
            #expect(try await store.runningAnswer(conversationID: second) == nil, "no reservation left behind")
            #expect(try await store.conversation(id: first, userID: user.id)?.model != "other", "model unchanged")

            // Once the answer is released, the regeneration is stored with its reservation and its model.
            try await store.releaseAnswer(conversationID: first, instanceID: "a", reservedAt: 1_000)
            let again = try await store.beginRegeneration(
                conversationID: first, messageID: nil, model: "other", adoptingModel: true, now: 3_000,
                claim: claim("b", at: 3_000))
            #expect(again?.user.id == turn.user.id)
            #expect(try await store.runningAnswer(conversationID: first)?.instanceID == "b")
            #expect(try await store.conversation(id: first, userID: user.id)?.model == "other")
        }
    }

    @Test(arguments: Backend.all)
    func eachInstanceNamesItselfInHealthz(backend: Backend) async throws {
        try await withInstances(backend) { cluster in
            let instances = cluster.instances
            for instance in instances {
                let health = try await instance.api.health()
                #expect(health.status == .ok)
                #expect(health.json["instance"] as? String == instance.id)
            }
        }
    }

    @Test(arguments: Backend.all)
    func anAnswerReattachedThroughAnotherInstanceEndsAsStoredWithItsTitle(backend: Backend) async throws {
        try await withInstances(backend) { cluster in
            let (instances, token) = (cluster.instances, cluster.token)
            let (a, b) = (instances[0], instances[1])
            let id = try await a.api.newConversation(token: token)
            let owner = try await a.events.send(id, "[[fake tokens=80 delay_ms=25]]")
            #expect(owner.status == 200)
            var ownerEvents = try await firstDelta(owner)
            let follower = try await b.events.get("/api/conversations/\(id)/stream")
            #expect(follower.status == 200, "another instance re-attaches: \(follower.bodyText)")
            let followed = try await follower.all()
            while try await ownerEvents.next() != nil {}

            #expect(followed.names.first == "start")
            #expect(followed.names.contains("delta"), "the text grew while it was followed")
            #expect(followed.names.suffix(2) == ["done", "title"], "\(followed.names.suffix(3))")
            let started = followed.first("start")?.object("assistant_message")["content"] as? String ?? "?"
            let stored = try await messages(a.api, id, token: token).last
            #expect(stored?["status"] as? String == "completed")
            #expect(started + followed.streamedText == stored?["content"] as? String)
            #expect(followed.first("done")?.object("message")["content"] as? String == stored?["content"] as? String)
            let title = try await a.api.getConversation(id, token: token).json["conversation"] as? [String: Any]
            #expect(followed.first("title")?.json["title"] as? String == title?["title"] as? String)
        }
    }

    @Test(arguments: Backend.all)
    func aStopThroughAnotherInstanceStopsTheAnswer(backend: Backend) async throws {
        try await withInstances(backend) { cluster in
            let (instances, token) = (cluster.instances, cluster.token)
            let (a, b) = (instances[0], instances[1])
            let id = try await a.api.newConversation(token: token)
            let owner = try await a.events.send(id, "[[fake tokens=3000 delay_ms=20]]")
            var events = try await firstDelta(owner)
            let stop = try await b.api.call(.post, "/api/conversations/\(id)/stop", token: token)
            #expect(stop.status == .noContent)
            var done: ReceivedEvent?
            while done == nil, let event = try await events.next() {
                if event.name == "done" { done = event }
            }
            #expect(done?.object("message")["status"] as? String == "stopped")
            let stored = try await messages(b.api, id, token: token).last
            #expect(stored?["status"] as? String == "stopped")
            #expect((stored?["content"] as? String ?? "").hasPrefix("word1 word2"), "the partial text is kept")
        }
    }

    @Test(arguments: Backend.all)
    func theSameTurnRacedOnTwoInstancesGivesOneStreamAndOneConflict(backend: Backend) async throws {
        try await withInstances(backend) { cluster in
            let (instances, token) = (cluster.instances, cluster.token)
            // Each answer lasts about 2 s, so the two requests overlap even on a busy machine.
            for _ in 0..<5 {
                let id = try await instances[0].api.newConversation(token: token)
                async let first = instances[0].events.send(id, "[[fake tokens=20 delay_ms=100]] race")
                async let second = instances[1].events.send(id, "[[fake tokens=20 delay_ms=100]] race")
                let opened = try await [first, second]
                #expect(opened.map(\.status).sorted() == [200, 409], "\(opened.map(\.bodyText))")
                for stream in opened where stream.status == 200 { _ = try await stream.all() }
                let answers = try await messages(instances[1].api, id, token: token).filter {
                    $0["role"] as? String == "assistant"
                }
                #expect(answers.count == 1, "one answer")
                #expect(
                    answers.first?["status"] as? String == "completed",
                    "\(answers.first?["status"] ?? "-"): \(answers.first?["error"] ?? "-")")
            }
        }
    }

    @Test(arguments: Backend.all)
    func aDeadInstancesAnswerFailsWithItsTextAndItsConversationIsFreed(backend: Backend) async throws {
        // A lease short enough to wait for a reap, long enough that a busy suite never holds up "a" or "b"'s own
        // renewals past it.
        try await withInstances(backend, lease: .seconds(10)) { cluster in
            let (instances, token, store) = (cluster.instances, cluster.token, cluster.store)
            let b = instances[1]
            let id = try await b.api.newConversation(token: token)
            let me = try await b.api.me(token: token)
            let userID = try #require((me.json["user"] as? [String: Any])?["id"] as? NSNumber)
            // An instance that starts an answer and then never renews its lease. Its heartbeat is set an hour ahead
            // so that no reaper can take the answer before the follower is attached, however slow the setup is;
            // the test then sets it an hour back (below), which is the lease running out.
            let hour: Millis = 3_600_000
            _ = try await store.startLease(instanceID: "ghost", now: .now() + hour, error: "-")
            let now = Millis.now()
            let turn = try await store.beginTurn(
                conversationID: id, userContent: "question", place: .afterCurrentLeaf, model: nil, now: now,
                claim: AnswerClaim(userID: userID.int64Value, instanceID: "ghost", limit: 3, at: now))
            try await store.saveProgress([AnswerProgress(messageID: turn.assistant.id, content: "half an answer")])

            let follower = try await b.events.get("/api/conversations/\(id)/stream")
            #expect(follower.status == 200, "the ghost's answer can be followed until it is reaped")
            #expect(try await store.renewLease(instanceID: "ghost", now: .now() - hour))
            let followed = try await follower.all()
            #expect(followed.names.first == "start" && followed.names.last == "done", "no title after a reaped answer")
            let done = followed.first("done")?.object("message")
            #expect(done?["status"] as? String == "failed")
            #expect(done?["content"] as? String == "half an answer")
            let error = done?["error"] as? String ?? ""
            #expect(error.contains("stopped responding"), "\(error)")
            let next = try await b.events.send(id, "[[fake tokens=3]] again")
            #expect(next.status == 200, "the conversation is free again: \(next.bodyText)")
            _ = try await next.all()
        }
    }

    @Test(arguments: Backend.all)
    func anInstanceThatLostItsLeaseStopsItsAnswerWithoutWriting(backend: Backend) async throws {
        try await withInstances(backend) { cluster in
            let (instances, token, store) = (cluster.instances, cluster.token, cluster.store)
            let (a, b) = (instances[0], instances[1])
            let id = try await a.api.newConversation(token: token)
            let owner = try await a.events.send(id, "[[fake tokens=3000 delay_ms=20]]")
            var events = try await firstDelta(owner)
            // Another instance presumed "a" dead and failed its answer.
            let failed = try await store.reap(instanceID: a.id, before: .max, error: "reaped", now: .now())
            #expect(failed == 1)
            let atReap = try await messages(b.api, id, token: token).last
            var done: ReceivedEvent?
            while done == nil, let event = try await events.next() {
                if event.name == "done" { done = event }
            }
            #expect(done?.object("message")["status"] as? String == "failed", "the owner stopped its answer")
            let after = try await messages(b.api, id, token: token).last
            #expect(after?["status"] as? String == "failed" && after?["error"] as? String == "reaped")
            #expect(after?["content"] as? String == atReap?["content"] as? String, "the fenced owner wrote nothing")
            let next = try await b.events.send(id, "[[fake tokens=3]] after")
            #expect(next.status == 200)
            _ = try await next.all()
            #expect(
                try await eventually { try await !store.expiredLeases(before: .now() - 60_000).contains(a.id) },
                "the fenced instance holds a new lease")
        }
    }

    @Test(arguments: Backend.all)
    func aUsersRunningAnswersAreCountedOverEveryInstance(backend: Backend) async throws {
        try await withInstances(backend, runningPerUser: 1) { cluster in
            let (a, b, token) = (cluster.instances[0], cluster.instances[1], cluster.token)
            let first = try await a.api.newConversation(token: token)
            let second = try await a.api.newConversation(token: token)
            let running = try await a.events.send(first, "[[fake tokens=3000 delay_ms=20]]")
            var events = try await firstDelta(running)
            let refused = try await b.events.send(second, "[[fake tokens=3]] one too many")
            #expect(refused.status == 429, "\(refused.bodyText)")
            #expect(try await messages(b.api, second, token: token).isEmpty, "nothing stored")
            _ = try await b.api.call(.post, "/api/conversations/\(first)/stop", token: token)
            while try await events.next() != nil {}
            let next = try await b.events.send(second, "[[fake tokens=3]] now")
            #expect(next.status == 200, "the slot is free again on every instance")
            _ = try await next.all()
        }
    }

    @Test(arguments: Backend.all)
    func startingAnotherInstanceLeavesRunningAnswersAlone(backend: Backend) async throws {
        try await withInstances(backend) { cluster in
            let (instances, token) = (cluster.instances, cluster.token)
            let a = instances[0]
            let id = try await a.api.newConversation(token: token)
            let owner = try await a.events.send(id, "[[fake tokens=100 delay_ms=20]]")
            var events = try await firstDelta(owner)
            // A third instance starts (and stops) while the answer runs.
            try await withLiveApp(cluster.config("c")) { c in
                let health = try await c.health()
                #expect(health.json["instance"] as? String == "c")
            }
            while try await events.next() != nil {}
            #expect(try await messages(a.api, id, token: token).last?["status"] as? String == "completed")
        }
    }
}
