import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Postgres errors, safety, transactions and the pool")
struct ConnectionTests {
    @Test func uniqueViolationIsTypedWithSQLStateAndConstraint() async throws {
        let connection = try await PostgresConnection.connect(TestDatabase.configuration)
        try await connection.query("CREATE TEMP TABLE people (email text CONSTRAINT people_email_key UNIQUE)")
        try await connection.query("INSERT INTO people VALUES (\("a@example.com"))")
        let error = await #expect(throws: PostgresError.self) {
            try await connection.query("INSERT INTO people VALUES (\("a@example.com"))")
        }
        #expect(error?.code == .server)
        #expect(error?.sqlState == "23505")
        #expect(error?.isUniqueViolation == true)
        #expect(error?.constraintName == "people_email_key")
        #expect(error?.tableName == "people")
        // The row's values stay out of the log-safe description, but detail has them for debugging.
        #expect(error?.description.contains("a@example.com") == false)
        #expect(error?.detail?.contains("a@example.com") == true)
        // The connection is still usable after a server error.
        #expect(try await connection.query("SELECT 1 AS one").single().decode(Int.self, column: "one") == 1)
        await connection.close()
    }

    @Test func syntaxErrorNamesThePosition() async throws {
        let connection = try await PostgresConnection.connect(TestDatabase.configuration)
        let sql = "SELECT 1 FROM pg_class WHER relname = 'x'"
        let error = await #expect(throws: PostgresError.self) {
            try await connection.query(PostgresQuery(unsafeSQL: sql))
        }
        #expect(error?.sqlState == SQLState.syntaxError)
        let expected = sql.distance(from: sql.startIndex, to: sql.range(of: "relname")!.lowerBound) + 1
        #expect(error?.position == expected)
        #expect(error?.description.contains("at character \(expected)") == true)
        await connection.close()
    }

    /// A fragment's values become parameters numbered where it lands, after the statement's own, nested or
    /// not; an empty fragment adds nothing; a hostile value stays a value.
    @Test func fragmentsNumberTheirValuesWhereTheyLand() async throws {
        let hostile = "x'); DROP TABLE notes; --"
        let inner: PostgresFragment = "SELECT \(2)::int AS b, \(hostile)::text AS c"
        let outer: PostgresFragment = "x AS (\(inner)),"
        let empty: PostgresFragment = ""
        let query: PostgresQuery =
            "WITH \(empty)\(outer) y AS (SELECT \(1)::int AS a) SELECT a, b, c, \(4)::int AS d FROM x, y"
        #expect(
            query.sql
                == "WITH x AS (SELECT $1::int AS b, $2::text AS c), y AS (SELECT $3::int AS a) SELECT a, b, c, $4::int AS d FROM x, y"
        )
        let connection = try await PostgresConnection.connect(TestDatabase.configuration)
        let row = try await connection.query(query).single()
        #expect(try row.decode((Int, Int, String, Int).self) == (1, 2, hostile, 4))
        await connection.close()
    }

    @Test func interpolatedValuesAreParametersNotSQL() async throws {
        let hostile = "x'); DROP TABLE notes; --"
        let query: PostgresQuery = "INSERT INTO notes (body) VALUES (\(hostile))"
        #expect(query.sql == "INSERT INTO notes (body) VALUES ($1)")
        #expect(query.binds.count == 1)

        let connection = try await PostgresConnection.connect(TestDatabase.configuration)
        try await connection.query("CREATE TEMP TABLE notes (body text)")
        try await connection.query(query)
        let stored = try await connection.query("SELECT body FROM notes").single().decode(String.self, column: "body")
        #expect(stored == hostile)
        let tableStillThere = try await connection.query("SELECT to_regclass('pg_temp.notes') IS NOT NULL AS present")
            .single().decode(Bool.self, column: "present")
        #expect(tableStillThere)
        // Identifiers are quoted, not bound.
        let odd = "we\"ird table"
        try await connection.query("CREATE TEMP TABLE \(identifier: odd) (v int)")
        try await connection.query("INSERT INTO \(identifier: odd) VALUES (\(7))")
        #expect(
            try await connection.query("SELECT v FROM \(identifier: odd)").single().decode(Int.self, column: "v") == 7)
        await connection.close()
    }

    @Test func transactionRollsBackWhenTheClosureThrows() async throws {
        struct Abort: Error {}
        let pool = PostgresPool(configuration: TestDatabase.configuration, maxConnections: 2)
        let table = "tx_\(UUID().uuidString.prefix(8).lowercased())"
        try await pool.query("CREATE TABLE \(identifier: table) (v int)")
        await #expect(throws: Abort.self) {
            try await pool.transaction { connection in
                try await connection.query("INSERT INTO \(identifier: table) VALUES (1)")
                throw Abort()
            }
        }
        try await pool.transaction { connection in
            try await connection.query("INSERT INTO \(identifier: table) VALUES (2)")
        }
        let values = try await pool.query("SELECT v FROM \(identifier: table)").map {
            try $0.decode(Int.self, column: "v")
        }
        #expect(values == [2])
        try await pool.query("DROP TABLE \(identifier: table)")
        await pool.close()
    }

    /// A store method that opens its own transaction, called on a connection inside the caller's, joins it:
    /// the caller's rollback takes the store's write with it (a nested BEGIN … COMMIT would have committed it).
    @Test func aTransactionOnAConnectionInsideOneJoinsIt() async throws {
        struct Abort: Error {}
        func store(_ value: Int, on executor: some PostgresExecutor) async throws {
            try await executor.transaction(isolation: nil) { connection in
                try await connection.query("INSERT INTO joined VALUES (\(value))")
            }
        }
        let connection = try await PostgresConnection.connect(TestDatabase.configuration)
        try await connection.query("CREATE TEMP TABLE joined (v int)")
        #expect(try await connection.isInTransaction() == false)
        await #expect(throws: Abort.self) {
            try await connection.transaction { connection in
                #expect(try await connection.isInTransaction())
                try await store(1, on: connection)
                throw Abort()
            }
        }
        #expect(try await connection.isInTransaction() == false)
        try await store(2, on: connection)  // on its own: a transaction of its own, committed
        #expect(try await connection.isInTransaction() == false)
        let values = try await connection.query("SELECT v FROM joined").map { try $0.decode(Int.self, column: "v") }
        #expect(values == [2])
        await connection.close()
    }

    @Test func aTransactionWithACaughtFailureDoesNotReportACommit() async throws {
        let connection = try await PostgresConnection.connect(TestDatabase.configuration)
        try await connection.query("CREATE TEMP TABLE kept (v int)")
        let error = await #expect(throws: PostgresError.self) {
            try await connection.transaction { connection in
                try await connection.query("INSERT INTO kept VALUES (1)")
                _ = try? await connection.query("SELECT 1/0")  // fails; the body swallows it
            }
        }
        #expect(error?.sqlState == "25P02")
        #expect(
            try await connection.query("SELECT count(*)::int AS n FROM kept").single().decode(Int.self, column: "n")
                == 0)
        await connection.close()
    }

    @Test func poolBoundsConnectionsAndCleansUpLeftoverTransactions() async throws {
        let pool = PostgresPool(configuration: TestDatabase.configuration, maxConnections: 3)
        let backends = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await pool.query("SELECT pg_backend_pid() AS pid, pg_sleep(0.01)").single().decode(
                        Int.self, column: "pid")
                }
            }
            return try await group.reduce(into: Set<Int>()) { $0.insert($1) }
        }
        #expect(backends.count <= 3)
        #expect(pool.statistics.open <= 3)

        // A user that leaves a transaction open does not leak it to the next user.
        try await pool.withConnection { connection in
            try await connection.query("BEGIN")
            try await connection.query("SELECT 1")
        }
        for _ in 0..<3 {
            // SAVEPOINT is an error outside a transaction block: proof the next user starts clean.
            let error = await #expect(throws: PostgresError.self) { try await pool.query("SAVEPOINT probe") }
            #expect(error?.sqlState == "25P01")
        }
        await pool.close()
        await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
    }

    @Test func badCredentialsFailWithAConnectionError() async throws {
        let configuration = PostgresConfiguration(
            connectionString: TestDatabase.urlNaming(database: "no_such_database_here"))
        let error = await #expect(throws: PostgresError.self) { try await PostgresConnection.connect(configuration) }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("no_such_database_here") == true)
    }
}
