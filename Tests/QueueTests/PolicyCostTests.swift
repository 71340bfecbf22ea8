import Foundation
import Postgres
import TestSupport
import Testing

/// Row-level security is on every statement the worker and the operators run, so what a policy calls runs
/// in every one of them. A SQL-language function with a SET clause is never inlined, and PostgreSQL parses
/// and plans its statement again at each call: the policies called one (sees_all_msps), and it was most of the
/// worker's statements' time (migration 0019, BENCHMARKS.md). The policies may call
/// PL/pgSQL functions (plans kept for the session) and built-ins, not SQL functions.
enum PolicyCalls {
    /// "table.policy: function" for each SQL-language function of ours a policy's expression calls.
    static func sqlFunctionsCalled(_ connection: PostgresConnection) async throws -> [String] {
        try await connection.query(
            """
            SELECT format('%s.%s: %s', c.relname, p.polname, f.oid::regprocedure) AS call
              FROM pg_catalog.pg_policy p
              JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
              JOIN pg_catalog.pg_depend d
                ON d.classid = 'pg_catalog.pg_policy'::regclass AND d.objid = p.oid
               AND d.refclassid = 'pg_catalog.pg_proc'::regclass
              JOIN pg_catalog.pg_proc f ON f.oid = d.refobjid
              JOIN pg_catalog.pg_language l ON l.oid = f.prolang
             WHERE l.lanname = 'sql' AND f.pronamespace = 'onboarder'::regnamespace
             ORDER BY 1
            """
        ).map { try $0.decode(String.self, column: "call") }
    }
}

@Suite("What row-level security calls in every statement")
struct PolicyCostTests {
    @Test func noPolicyCallsASQLFunction() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("polcost")
        let connection = try await PostgresConnection.connect(owner)
        let calls = try await PolicyCalls.sqlFunctionsCalled(connection)
        #expect(calls == [], "\(calls.joined(separator: "\n"))")
        // The check sees what a policy calls: one pointed at a SQL function again is named.
        try await connection.executeScript(
            unsafeSQL: """
                ALTER POLICY msp_rows ON onboarder.events
                    USING ((SELECT onboarder.sees_all_msps()) OR EXISTS (SELECT 1 FROM onboarder.jobs j WHERE j.id = job_id));
                """)
        #expect(try await PolicyCalls.sqlFunctionsCalled(connection) == ["events.msp_rows: onboarder.sees_all_msps()"])
        await connection.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}
