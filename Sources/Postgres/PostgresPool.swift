import Synchronization

/// A small pool of connections, shared by every task of a process.
///
/// Connections open lazily up to `maxConnections`; callers beyond that wait in FIFO order. Each checkout
/// first makes sure the connection survived (a server restart or failover closes it; the pool reconnects
/// then, so callers see at most the one statement that was in flight fail). A connection comes back with
/// any transaction its user left open rolled back.
public final class PostgresPool: Sendable {
    public let configuration: PostgresConfiguration
    public let maxConnections: Int

    private enum Grant {
        case connection(PostgresConnection)
        case openNew
    }

    private struct State {
        var idle: [PostgresConnection] = []
        var open = 0
        var waiters: [CheckedContinuation<Grant, any Error>] = []
        var closed = false
    }

    private let state = Mutex(State())

    public init(configuration: PostgresConfiguration, maxConnections: Int = 8) {
        precondition(maxConnections > 0, "a pool needs at least one connection")
        self.configuration = configuration
        self.maxConnections = maxConnections
    }

    /// Lends a connection to `body` and takes it back afterwards, even when `body` throws.
    public func withConnection<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await checkOut()
        do {
            let value = try await body(connection)
            await checkIn(connection)
            return value
        } catch {
            await checkIn(connection)
            throw error
        }
    }

    /// Runs one statement on a pooled connection.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await withConnection { try await $0.query(query) }
    }

    /// Runs `body` in a transaction on one pooled connection; rolls back and rethrows if `body` throws.
    @discardableResult
    public func transaction<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection { connection in try await connection.transaction(body) }
    }

    /// Closes idle connections and refuses new checkouts; connections in use close when returned.
    public func close() async {
        let (idle, waiters) = state.withLock { state in
            state.closed = true
            defer {
                state.open -= state.idle.count
                state.idle = []
                state.waiters = []
            }
            return (state.idle, state.waiters)
        }
        for waiter in waiters { waiter.resume(throwing: PostgresError(code: .shutdown, message: "the pool is closed")) }
        for connection in idle { await connection.close() }
    }

    /// How many connections are open and idle (for tests and metrics).
    public var statistics: (open: Int, idle: Int) {
        state.withLock { ($0.open, $0.idle.count) }
    }

    // MARK: Checkout

    private func checkOut() async throws -> PostgresConnection {
        let immediate: Grant? = try state.withLock { state in
            if state.closed { throw PostgresError(code: .shutdown, message: "the pool is closed") }
            if let connection = state.idle.popLast() { return .connection(connection) }
            if state.open < maxConnections {
                state.open += 1
                return .openNew
            }
            return nil
        }
        let grant: Grant
        if let immediate {
            grant = immediate
        } else {
            grant = try await withCheckedThrowingContinuation { continuation in
                let resumeNow: Grant? = state.withLock { state in
                    // Re-check: a connection may have come back between the two locks.
                    if let connection = state.idle.popLast() { return .connection(connection) }
                    if state.open < maxConnections {
                        state.open += 1
                        return .openNew
                    }
                    state.waiters.append(continuation)
                    return nil
                }
                if let resumeNow { continuation.resume(returning: resumeNow) }
            }
        }
        do {
            switch grant {
            case .connection(let connection):
                try await connection.prepareForUse()
                return connection
            case .openNew:
                return try await PostgresConnection.connect(configuration)
            }
        } catch {
            // The slot is free again; a waiter may try its luck with a new connection.
            releaseSlot()
            throw error
        }
    }

    private func checkIn(_ connection: PostgresConnection) async {
        guard await connection.cleanUpAfterUse() else {
            await connection.close()
            releaseSlot()
            return
        }
        enum Next { case handOff(CheckedContinuation<Grant, any Error>), keep, close }
        let next: Next = state.withLock { state in
            if state.closed {
                state.open -= 1
                return .close
            }
            if !state.waiters.isEmpty { return .handOff(state.waiters.removeFirst()) }
            state.idle.append(connection)
            return .keep
        }
        switch next {
        case .handOff(let waiter): waiter.resume(returning: .connection(connection))
        case .keep: break
        case .close: await connection.close()
        }
    }

    /// Gives up a connection slot: the first waiter, if any, may open a new connection in its place.
    private func releaseSlot() {
        let waiter: CheckedContinuation<Grant, any Error>? = state.withLock { state in
            if !state.closed, !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.open -= 1
            return nil
        }
        waiter?.resume(returning: .openNew)
    }
}
