import NIOCore
import SQLKit

/// A `SQLDatabase` written with async/await: SQLKit's future-based `execute` is answered by the async one, so
/// each database writes only that. Conform and implement `execute(sql:_:) async throws`.
public protocol AsyncSQLDatabase: SQLDatabase {}

extension AsyncSQLDatabase {
    public func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void)
        -> EventLoopFuture<Void>
    {
        let promise = eventLoop.makePromise(of: Void.self)
        promise.completeWithTask { try await self.execute(sql: query, onRow) }
        return promise.futureResult
    }
}
