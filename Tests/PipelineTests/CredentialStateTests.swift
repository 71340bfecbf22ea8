import Postgres
import Store
import TestSupport
import Testing

@Suite("Credential states: the enum and the SQL agree")
struct CredentialStateTests {
    /// `onboarder.credentials.state`'s CHECK constraint lists exactly the enum's raw values, so a state
    /// added on one side only fails here rather than in a worker decoding a row.
    @Test func theEnumListsTheStatesTheTableAllows() async throws {
        let (configuration, name) = try await TestDatabase.makeMigratedScratchDatabase("credential-states")
        let pool = PostgresPool(configuration: configuration, maxConnections: 1)
        let definition = try await pool.query(
            """
            SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
             WHERE c.conrelid = 'onboarder.credentials'::regclass AND c.contype = 'c'
               AND pg_get_constraintdef(c.oid) ~ '^CHECK \\(\\(state = ANY'
            """
        ).single()[0].decode(String.self)
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
        let allowed = Set(definition.matches(of: /'([a-z_]+)'::text/).map { String($0.output.1) })
        #expect(allowed == Set(CredentialState.allCases.map(\.rawValue)), "\(definition)")
    }
}
