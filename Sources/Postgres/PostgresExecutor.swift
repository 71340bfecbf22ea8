/// Anything a store method can run statements on: the pool (each call on a connection of its own, each
/// `transaction` a new one) or a connection (every call on it — inside a caller's transaction, when there is one).
///
/// Store methods take an executor rather than a pool so that a caller can run several of them atomically:
///
///     try await pool.transaction { connection in
///         let job = try await JobStore.enqueue(..., on: connection)
///         try await EventStore.record(..., on: connection)
///     }
public protocol PostgresExecutor: Sendable {
    /// Runs one statement and returns its rows.
    @discardableResult
    func query(_ query: PostgresQuery) async throws -> PostgresRows

    /// Runs `body` atomically: in a new transaction, or — on a connection already inside one — as part of it.
    @discardableResult
    func transaction<T>(
        isolation: isolated (any Actor)?,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T
}

extension PostgresPool: PostgresExecutor {}
extension PostgresConnection: PostgresExecutor {}
