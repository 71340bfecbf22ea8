import Foundation
import Postgres
import Store
import TestSupport
import Testing

@Suite("An app's credentials, whichever customer row recorded them")
struct CredentialLookupTests {
    /// Onboarding's custody of a new secret and the drift audit ask for the credentials of a customer row or of
    /// its app (the same Entra tenant enqueued under another key is another row). Among 3,000 customers each
    /// finds both rows' passwords, and the table's statistics show credentials read a handful, not all (without
    /// the app's index each call read every password: quadratic over a run).
    ///
    /// `plannedBeforeTheTableFilled`: the session plans both lookups (the generic plans a prepared statement
    /// keeps) while the credentials table is empty and was never analyzed, as a new installation's worker does
    /// for its first customers, and the table is not analyzed after it fills. The plan of `tenant_id = … OR
    /// app_object_id = …` made then walked every password by its kind (3,000 rows a lookup).
    @Test(arguments: [false, true])
    func anAppsCredentialsAreFoundByIndex(plannedBeforeTheTableFilled: Bool) async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("credapp")
        if plannedBeforeTheTableFilled {
            // Autovacuum's ANALYZE of the filled table would make the session plan again, and hide the old plan.
            let admin = try await PostgresConnection.connect(owner)
            try await admin.executeScript(
                unsafeSQL: """
                    ALTER DATABASE \(name) SET plan_cache_mode = force_generic_plan;
                    ALTER TABLE onboarder.credentials SET (autovacuum_enabled = off);
                    """)
            await admin.close()
        }
        let pool = PostgresPool(configuration: owner, maxConnections: 1)
        _ = try await Jobs.enqueueAll((0..<3_000).map { onboard("alpha", "c\($0).example") }, actor: nil, on: pool)
        if plannedBeforeTheTableFilled {
            let first = try await pool.query("SELECT min(id) FROM onboarder.tenants").single()[0].decode(Int64.self)
            _ = try await OnboardingStore.passwordCustody(
                tenant: first, appObjectID: "5e1f0000-0000-4000-8000-000000000001", jobs: [], on: pool)
            _ = try await DriftFindings.record(tenant: first, on: pool)
        }
        try await pool.query(
            """
            INSERT INTO onboarder.integrations (tenant_id, path, entra_tenant_id, default_domain, app_object_id)
            SELECT id, 'teams', gen_random_uuid(), replace(tenant_key, '.example', '.onmicrosoft.com'), gen_random_uuid()
              FROM onboarder.tenants
            """)
        try await pool.query(
            """
            INSERT INTO onboarder.credentials (tenant_id, kind, source, state, app_object_id, key_id, display_name, sealed)
            SELECT tenant_id, 'password', 'addPassword', 'active', app_object_id, gen_random_uuid(), 'Onboarder', 'og1.k.AAAA'
              FROM onboarder.integrations
            """)
        let row = try await pool.query(
            """
            SELECT t.id, i.app_object_id::text AS app FROM onboarder.tenants t
              JOIN onboarder.integrations i ON i.tenant_id = t.id WHERE t.tenant_key = 'c42.example'
            """
        ).single()
        let (tenant, app) = try row.decode((Int64, String).self)
        // c43's row holds a password of c42's app too (the same Entra tenant, enqueued again under another key).
        let shared = "5e1f0000-0000-4000-8000-000000000043"
        try await pool.query(
            """
            INSERT INTO onboarder.credentials (tenant_id, kind, source, state, app_object_id, key_id, display_name, sealed)
            SELECT id, 'password', 'addPassword', 'active', \(app)::uuid, \(shared)::uuid, 'Onboarder', 'og1.k.AAAA'
              FROM onboarder.tenants WHERE tenant_key = 'c43.example'
            """)
        if !plannedBeforeTheTableFilled {
            try await pool.query("ANALYZE onboarder.credentials")
        }
        func read() async throws -> Int {
            try await pool.query("SELECT pg_stat_force_next_flush()")
            try await pool.query("SELECT pg_stat_clear_snapshot()")
            return try await pool.query(
                """
                SELECT (seq_tup_read + coalesce(idx_tup_fetch, 0))::int AS n FROM pg_stat_user_tables
                 WHERE relid = 'onboarder.credentials'::regclass
                """
            ).single().decode(Int.self, column: "n")
        }
        let before = try await read()
        let recorded = try await OnboardingStore.passwordCustody(tenant: tenant, appObjectID: app, jobs: [], on: pool)
            .recorded
        #expect(recorded.count == 2 && recorded.contains(shared))
        let audit = try await DriftFindings.record(tenant: tenant, on: pool)
        #expect(audit.credentials.count == 2 && audit.credentials.contains { $0.id == shared })
        let reads = try await read() - before
        #expect(reads < 20, "the credentials table was read \(reads) rows for two lookups of two rows each")
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// The sweep's one statement names, among the jobs the app's passwords are named after, only this customer
    /// row's jobs as its own (`ours`), and those still at work as `busy`: another row's job, or a job that does
    /// not exist, is neither.
    @Test func theSweepCountsOnlyThisRowsJobsAsItsOwn() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("credjobs")
        let pool = PostgresPool(configuration: owner, maxConnections: 1)
        let jobs = try await Jobs.enqueueAll(
            [onboard("alpha", "mine.example"), onboard("alpha", "other.example")], actor: nil, on: pool
        ).map { try #require($0).jobID }
        let (mine, other) = (jobs[0], jobs[1])
        let tenant = try await pool.query("SELECT tenant_id FROM onboarder.jobs WHERE id = \(mine)").single()[0]
            .decode(Int64.self)
        // A finished job of this row: its own, no longer at work.
        let finished = try await pool.query(
            """
            INSERT INTO onboarder.jobs (kind, msp_id, tenant_id, state, finished_at)
            VALUES ('rotate-secret', 'alpha', \(tenant), 'succeeded', now()) RETURNING id
            """
        ).single()[0].decode(Int64.self)
        let records = try await OnboardingStore.passwordCustody(
            tenant: tenant, appObjectID: nil, jobs: [mine, other, finished, mine, other + 1000], on: pool)
        #expect(records.recorded.isEmpty && records.ours == [mine, finished] && records.busy == [mine], "\(records)")
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}
