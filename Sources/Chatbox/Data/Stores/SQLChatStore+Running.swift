import MariaDBKit
import SQLKit

/// Instance leases and running answers (see `RunningAnswerStore`).
extension SQLChatStore: RunningAnswerStore {
    public func startLease(instanceID: String, now: Millis, error: String) async throws -> Int {
        let failed = try await reap(instanceID: instanceID, before: .max, error: error, now: now) ?? 0
        try await db.raw(
            """
            INSERT INTO instances (id, started_at, heartbeat_at) VALUES (\(bind: instanceID), \(bind: now), \(bind: now))
            """
        ).run()
        return failed
    }

    public func renewLease(instanceID: String, now: Millis) async throws -> Bool {
        try await changedRows("UPDATE instances SET heartbeat_at = \(bind: now) WHERE id = \(bind: instanceID)") == 1
    }

    public func endLease(instanceID: String) async throws {
        try await db.raw("DELETE FROM instances WHERE id = \(bind: instanceID)").run()
    }

    public func expiredLeases(before: Millis) async throws -> [String] {
        // Also the owners of running answers who hold no lease at all (one that crashed just after losing its
        // lease): their answers would otherwise hold their conversations for ever.
        try await db.raw(
            """
            SELECT id FROM instances WHERE heartbeat_at < \(bind: before) UNION \
            SELECT DISTINCT instance_id AS id FROM running_answers \
            WHERE instance_id NOT IN (SELECT id FROM instances)
            """
        ).all().map { try $0.decode(column: "id", as: String.self) }
    }

    public func reap(instanceID: String, before: Millis, error: String, now: Millis) async throws -> Int? {
        try await conflictAsNil {
            try await transaction { conn -> Int? in
                let lock = flavor == .mysql ? " FOR UPDATE" : ""
                let heartbeat = try await conn.raw(
                    "SELECT heartbeat_at FROM instances WHERE id = \(bind: instanceID)\(unsafeRaw: lock)"
                ).first()?.decode(column: "heartbeat_at", as: Int64.self)
                if let heartbeat {
                    guard heartbeat < before else { return nil }
                    try await conn.raw("DELETE FROM instances WHERE id = \(bind: instanceID)").run()
                }
                let failed = try await changedRows(
                    """
                    UPDATE messages SET status = 'failed', error = \(bind: error), updated_at = \(bind: now) \
                    WHERE status = 'processing' AND conversation_id IN \
                    (SELECT conversation_id FROM running_answers WHERE instance_id = \(bind: instanceID))
                    """, on: conn)
                if failed > 0 {
                    try await indexMessages(
                        where: """
                            status = 'failed' AND updated_at = \(bind: now) AND conversation_id IN \
                            (SELECT conversation_id FROM running_answers WHERE instance_id = \(bind: instanceID))
                            """, on: conn)
                }
                try await conn.raw("DELETE FROM running_answers WHERE instance_id = \(bind: instanceID)").run()
                return failed
            }
        }
    }

    public func failOrphanedAnswers(error: String, now: Millis) async throws -> Int {
        try await transaction { conn in
            let failed = try await changedRows(
                """
                UPDATE messages SET status = 'failed', error = \(bind: error), updated_at = \(bind: now) \
                WHERE status = 'processing' AND conversation_id NOT IN (SELECT conversation_id FROM running_answers)
                """, on: conn)
            if failed > 0 {
                try await indexMessages(
                    where: """
                        status = 'failed' AND updated_at = \(bind: now) \
                        AND conversation_id NOT IN (SELECT conversation_id FROM running_answers)
                        """, on: conn)
            }
            return failed
        }
    }

    /// Takes a turn's reservation on `conn`, in the transaction that stores the turn: `AnswerClaimRefused` rolls
    /// the whole turn back, the reservation's row with it.
    func take(_ claim: AnswerClaim, conversationID: Int64, on conn: any SQLDatabase) async throws {
        let (userID, instanceID, now) = (claim.userID, claim.instanceID, claim.at)
        do {
            try await mapDuplicate {
                try await conn.raw(
                    """
                    INSERT INTO running_answers (conversation_id, user_id, instance_id, started_at) \
                    VALUES (\(bind: conversationID), \(bind: userID), \(bind: instanceID), \(bind: now))
                    """
                ).run()
            }
        } catch StoreError.duplicate {
            // This instance's own row, whose release has not reached the database yet: take it over.
            let taken = try await changedRows(
                """
                UPDATE running_answers SET user_id = \(bind: userID), started_at = \(bind: now), stop_reason = NULL \
                WHERE conversation_id = \(bind: conversationID) AND instance_id = \(bind: instanceID)
                """, on: conn)
            guard taken == 1 else { throw AnswerClaimRefused(reason: .busy) }
        }
        let running =
            try await conn.raw("SELECT COUNT(*) AS n FROM running_answers WHERE user_id = \(bind: userID)").first()?
            .decode(column: "n", as: Int.self) ?? 0
        guard running <= claim.limit else { throw AnswerClaimRefused(reason: .userAtLimit) }
    }

    public func releaseAnswer(conversationID: Int64, instanceID: String, reservedAt: Millis) async throws {
        try await db.raw(
            """
            DELETE FROM running_answers WHERE conversation_id = \(bind: conversationID) \
            AND instance_id = \(bind: instanceID) AND started_at = \(bind: reservedAt)
            """
        ).run()
    }

    public func runningAnswer(conversationID: Int64) async throws -> RunningAnswer? {
        try await db.raw(
            """
            SELECT conversation_id, user_id, instance_id, stop_reason FROM running_answers \
            WHERE conversation_id = \(bind: conversationID)
            """
        ).first().map(Self.runningAnswer)
    }

    public func requestStop(conversationID: Int64, reason: AnswerStopRequest) async throws -> Bool {
        let changed = try await changedRows(
            """
            UPDATE running_answers SET stop_reason = \(bind: reason.rawValue) \
            WHERE conversation_id = \(bind: conversationID) AND stop_reason IS NULL
            """)
        if changed > 0 { return true }
        return try await runningAnswer(conversationID: conversationID) != nil
    }

    public func requestStops(userID: Int64, reason: AnswerStopRequest) async throws {
        try await db.raw(
            """
            UPDATE running_answers SET stop_reason = \(bind: reason.rawValue) \
            WHERE user_id = \(bind: userID) AND stop_reason IS NULL
            """
        ).run()
    }

    public func heldAnswers(instanceID: String) async throws -> [RunningAnswer] {
        try await db.raw(
            """
            SELECT conversation_id, user_id, instance_id, stop_reason FROM running_answers \
            WHERE instance_id = \(bind: instanceID)
            """
        ).all().map(Self.runningAnswer)
    }

    public func answerInProgress(conversationID: Int64) async throws -> Message? {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Self.messageColumns) FROM messages \
            WHERE conversation_id = \(bind: conversationID) AND status = 'processing' ORDER BY id DESC LIMIT 1
            """
        ).first().map(Self.message)
    }

    public func message(id: Int64, conversationID: Int64) async throws -> Message? {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Self.messageColumns) FROM messages \
            WHERE id = \(bind: id) AND conversation_id = \(bind: conversationID)
            """
        ).first().map(Self.message)
    }

    static func runningAnswer(_ row: any SQLRow) throws -> RunningAnswer {
        RunningAnswer(
            conversationID: try row.decode(column: "conversation_id", as: Int64.self),
            userID: try row.decode(column: "user_id", as: Int64.self),
            instanceID: try row.decode(column: "instance_id", as: String.self),
            stopRequest: try row.decode(column: "stop_reason", as: String?.self).flatMap(AnswerStopRequest.init))
    }

    /// A reap that lost to another instance's reap (or lease renewal) simply did not happen.
    private func conflictAsNil<T>(_ body: () async throws -> T?) async throws -> T? {
        do { return try await body() } catch let error as MariaDBError where error.isWriteConflict {
            return nil
        } catch StoreError.conflict {
            return nil
        }
    }
}
