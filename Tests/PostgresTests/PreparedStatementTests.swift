import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Statements prepared once per session")
struct PreparedStatementTests {
    /// A statement run again on a connection is not parsed again: the session holds it prepared, once, whatever
    /// values it is run with (the server's own list of the session's prepared statements shows it).
    @Test func aStatementRunTwiceIsPreparedOnce() async throws {
        let connection = try await PostgresConnection.connect(TestDatabase.configuration)
        let sql = "SELECT $1::int + 1 AS n"
        for value in [1, 2, 3] {
            let sum = try await connection.query("SELECT \(value)::int + 1 AS n").single().decode(Int.self, column: "n")
            #expect(sum == value + 1)
        }
        let held = try await connection.query(
            "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = \(sql)"
        ).single().decode(Int.self, column: "n")
        #expect(held == 1)
        await connection.close()
    }

    /// A migration that changes what a function returns makes the server refuse the statement's old plan
    /// ("cached plan must not change result type"): the statement is prepared again and runs, outside a
    /// transaction without the caller seeing it; inside one the caller gets the error, and the next try runs.
    @Test func aStatementWhoseResultTypeChangedIsPreparedAgain() async throws {
        let connection = try await PostgresConnection.connect(TestDatabase.configuration)
        let other = try await PostgresConnection.connect(TestDatabase.configuration)
        let function = "prepared_\(UUID().uuidString.prefix(8).lowercased())"
        func replace(_ body: String) async throws {
            try await other.query(PostgresQuery(unsafeSQL: "DROP VIEW IF EXISTS public.\(function)"))
            try await other.query(PostgresQuery(unsafeSQL: "CREATE VIEW public.\(function) AS \(body)"))
        }
        let select = PostgresQuery(unsafeSQL: "SELECT * FROM public.\(function)")
        try await replace("SELECT 1 AS a")
        #expect(try await connection.query(select).single().decode(Int.self, column: "a") == 1)
        try await replace("SELECT 2 AS a, 'two' AS b")
        #expect(try await connection.query(select).single().decode(String.self, column: "b") == "two")
        try await replace("SELECT 3 AS a")
        await #expect(throws: PostgresError.self) {
            try await connection.transaction { connection in try await connection.query(select) }
        }
        #expect(try await connection.query(select).single().decode(Int.self, column: "a") == 3)
        try await other.query(PostgresQuery(unsafeSQL: "DROP VIEW public.\(function)"))
        await connection.close()
        await other.close()
    }
}
