import Foundation
import TestSupport
import Testing

@testable import Postgres

/// Each job handed to a connection's thread wakes that thread and then the awaiting task: the pool's checks
/// between two users read libpq's local state and hop only to talk to the server.
@Suite("The pool's hops to a connection's thread")
struct PoolHopTests {
    @Test func aPooledStatementIsOneHopAndATransactionOneMoreEachForBeginAndCommit() async throws {
        let pool = PostgresPool(configuration: TestDatabase.configuration, maxConnections: 1)
        let connection = try await pool.withConnection { $0 }
        var hops = connection.hopsToItsThread

        try await pool.query("SELECT 1")
        #expect(connection.hopsToItsThread - hops == 1)
        hops = connection.hopsToItsThread

        try await pool.transaction { try await $0.query("SELECT 1") }
        #expect(connection.hopsToItsThread - hops == 3, "BEGIN, the statement, COMMIT")
        hops = connection.hopsToItsThread

        // A user that leaves a transaction open: the pool's ROLLBACK is one more, and the next user starts clean.
        try await pool.withConnection { _ = try await $0.query("BEGIN") }
        #expect(connection.hopsToItsThread - hops == 2, "BEGIN, the pool's ROLLBACK")
        let error = await #expect(throws: PostgresError.self) { try await pool.query("SAVEPOINT probe") }
        #expect(error?.sqlState == "25P01")
        await pool.close()
    }

    @Test func aConnectionTheServerClosedIsOpenedAgainAtCheckout() async throws {
        let pool = PostgresPool(configuration: TestDatabase.configuration, maxConnections: 1)
        let first = try await pool.query("SELECT pg_backend_pid() AS pid").single().decode(Int.self, column: "pid")
        let admin = try await PostgresConnection.connect(TestDatabase.configuration)
        try await admin.query("SELECT pg_terminate_backend(CAST(\(first) AS integer))")
        // The server's goodbye reaches the pooled connection's socket once the backend has gone.
        for _ in 0..<200 {
            let alive = try await admin.query("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = \(first)")
            if try alive.single().decode(Int.self, column: "n") == 0 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        let second = try await pool.query("SELECT pg_backend_pid() AS pid").single().decode(Int.self, column: "pid")
        #expect(second != first)
        await admin.close()
        await pool.close()
    }
}
