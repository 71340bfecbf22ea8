import Foundation
import Postgres
import TestSupport
import Testing

/// The drift audit's SQL (sql/functions/82_audit.sql): which customers `enqueue_audits` covers and for whom,
/// what `repair_drift` enqueues and for whom, and `dashboard.drift`'s row-level security — on rows the owner
/// writes directly.
@Suite("The drift audit in SQL", .serialized)
struct DriftSQLTests {
    /// alpha's customers: onboarded, offboarded 40 days ago, never onboarded to the end, one onboarded without
    /// findings, and one offboarded yesterday (with residue); beta's: one onboarded. Findings for alpha's first
    /// and last, and beta's.
    static let fixture = """
        INSERT INTO onboarder.msps (id, display_name) VALUES ('alpha', 'Alpha'), ('beta', 'Beta')
        ON CONFLICT (id) DO NOTHING;
        INSERT INTO onboarder.tenants (msp_id, tenant_key, display_name) VALUES
            ('alpha', 'drifted.example', 'Drifted'), ('alpha', 'gone.example', NULL), ('alpha', 'halfway.example', NULL),
            ('alpha', 'clean.example', NULL), ('alpha', 'left.example', NULL), ('beta', 'beta.example', 'Beta customer');
        INSERT INTO onboarder.integrations (tenant_id, path, entra_tenant_id, default_domain, onboarded_at, offboarded_at)
        SELECT id, 'm365', md5(tenant_key)::uuid, tenant_key,
               CASE WHEN tenant_key <> 'halfway.example' THEN now() - interval '2 days' END,
               CASE tenant_key WHEN 'gone.example' THEN now() - interval '40 days'
                               WHEN 'left.example' THEN now() - interval '1 day' END
          FROM onboarder.tenants;
        INSERT INTO onboarder.jobs (kind, msp_id, tenant_id, state, finished_at, payload)
        SELECT 'onboard', msp_id, id, 'succeeded', now() - interval '2 days',
               jsonb_build_object('path', 'm365', 'pbx_url', 'https://pbx.example/' || tenant_key,
                                  'pbx_client_id', 'onboarder', 'pbx_secret', 'env:PBX_SECRET_X')
          FROM onboarder.tenants;
        INSERT INTO onboarder.drift_findings (tenant_id, msp_id, finding, subject, detail, since)
        SELECT t.id, t.msp_id, f.finding, f.subject, f.detail, now() - interval '3 hours'
          FROM onboarder.tenants t JOIN (VALUES
            ('drifted.example', 'role-assignment-missing', 'User.Read.All', 'consent removed'),
            ('drifted.example', 'credential-unknown', 'k1', 'a secret added by hand'),
            ('left.example', 'offboard-residue', 'application a1', 'an app with the unique name'),
            ('beta.example', 'pbx-test-failed', '', 'the PBX cannot sign in')
          ) AS f(key, finding, subject, detail) ON f.key = t.tenant_key;
        """

    struct Lab {
        let owner: PostgresConnection
        let alpha: PostgresConnection
        let beta: PostgresConnection
        let worker: PostgresConnection
        let enqueuer: PostgresConnection
        let name: String

        init() async throws {
            let (ownerConfiguration, name) = try await TestDatabase.makeMigratedScratchDatabase("drift")
            self.name = name
            owner = try await PostgresConnection.connect(ownerConfiguration)
            func login(_ role: StaffRole, _ msps: [String]) async throws -> PostgresConnection {
                try await PostgresConnection.connect(
                    try await TestDatabase.login(role, msps: msps, database: name, owner: ownerConfiguration))
            }
            alpha = try await login(.operator, ["alpha"])
            beta = try await login(.operator, ["beta"])
            worker = try await login(.worker, [])
            enqueuer = try await login(.enqueuer, ["alpha"])
            try await owner.executeScript(unsafeSQL: DriftSQLTests.fixture)
        }

        func close() async throws {
            for connection in [owner, alpha, beta, worker, enqueuer] { await connection.close() }
            try await TestDatabase.dropScratchDatabase(name)
        }

        func tenant(_ key: String) async throws -> Int64 {
            try await owner.query("SELECT id FROM onboarder.tenants WHERE tenant_key = \(key)").single()[0]
                .decode(Int64.self)
        }
    }

    static func audits(_ connection: PostgresConnection, msp: String? = nil, customer: String? = nil) async throws
        -> [String]
    {
        try await connection.query(
            "SELECT msp || ' ' || tenant_key || ' ' || created::text FROM onboarder.enqueue_audits(\(msp), \(customer), 'nightly')"
        ).map { try $0[0].decode(String.self) }
    }

    @Test func anOperatorAuditsItsOwnOnboardedCustomersOnce() async throws {
        let lab = try await Lab()
        // The onboarded customers and the one offboarded yesterday (its audit looks for residue); neither the one
        // offboarded 40 days ago, nor the one never onboarded to the end, nor beta's.
        #expect(
            try await Self.audits(lab.alpha) == [
                "alpha clean.example true", "alpha drifted.example true", "alpha left.example true",
            ])
        // One active audit per customer: the second run reports the jobs of the first.
        #expect(
            try await Self.audits(lab.alpha) == [
                "alpha clean.example false", "alpha drifted.example false", "alpha left.example false",
            ])
        let events = try await lab.owner.query(
            """
            SELECT count(*)::int FROM onboarder.events e JOIN onboarder.jobs j ON j.id = e.job_id
             WHERE j.kind = 'audit' AND e.kind = 'enqueued' AND e.actor = 'nightly'
            """
        ).single()[0].decode(Int.self)
        #expect(events == 3)
        // Narrowed to a customer, by its key or its tenant id; another MSP's customer is not found.
        #expect(try await Self.audits(lab.alpha, customer: "drifted.example") == ["alpha drifted.example false"])
        let entra = try await lab.owner.query(
            "SELECT md5('clean.example')::uuid::text"
        ).single()[0].decode(String.self)
        #expect(try await Self.audits(lab.alpha, customer: entra) == ["alpha clean.example false"])
        #expect(try await Self.audits(lab.alpha, customer: "beta.example") == [])
        // Offboarded long ago: audited when named.
        #expect(try await Self.audits(lab.alpha, customer: "gone.example") == ["alpha gone.example true"])
        // Offboarded and being onboarded again: left out (its new app would look like residue).
        try await lab.owner.query(
            """
            INSERT INTO onboarder.jobs (kind, msp_id, tenant_id, payload)
            SELECT 'onboard', msp_id, id, '{}'::jsonb FROM onboarder.tenants WHERE tenant_key = 'left.example'
            """)
        #expect(try await Self.audits(lab.alpha, customer: "left.example") == [])
        // Onboarded and being offboarded: left out too (its objects are being removed, not drifting).
        try await lab.owner.query(
            """
            INSERT INTO onboarder.jobs (kind, msp_id, tenant_id, payload)
            SELECT 'offboard', msp_id, id, '{}'::jsonb FROM onboarder.tenants WHERE tenant_key = 'clean.example'
            """)
        #expect(try await Self.audits(lab.alpha, customer: "clean.example") == [])
        // Another MSP named outright: the same answer as an MSP that does not exist.
        for msp in ["beta", "nobody"] {
            await #expect(throws: PostgresError.self) { try await Self.audits(lab.alpha, msp: msp) }
        }
        #expect(try await Self.audits(lab.beta) == ["beta beta.example true"])
        // The enqueuer login may not run audits at all.
        await #expect(throws: PostgresError.self) { try await Self.audits(lab.enqueuer) }
        let jobs = try await lab.owner.query(
            "SELECT count(*)::int FROM onboarder.jobs WHERE kind = 'audit'"
        ).single()[0].decode(Int.self)
        #expect(jobs == 5)
        try await lab.close()
    }

    @Test func repairEnqueuesTheLastOnboardingOfADriftedCustomerOfItsOwnMSP() async throws {
        let lab = try await Lab()
        let drifted = try await lab.tenant("drifted.example")
        let clean = try await lab.tenant("clean.example")
        let beta = try await lab.tenant("beta.example")
        func repair(_ connection: PostgresConnection, _ tenants: [Int64]) async throws -> [String] {
            try await connection.query(
                """
                SELECT tenant_key || ' ' || created::text || ' ' || array_to_string(findings, ',')
                  FROM onboarder.repair_drift(\(tenants), 'alice')
                """
            ).map { try $0[0].decode(String.self) }
        }
        // An operator of another MSP learns nothing and enqueues nothing.
        await #expect(throws: PostgresError.self) { try await repair(lab.beta, [drifted]) }
        await #expect(throws: PostgresError.self) { try await repair(lab.alpha, [drifted, beta]) }
        await #expect(throws: PostgresError.self) { try await repair(lab.enqueuer, [drifted]) }
        // A customer without findings has nothing to repair; an offboarded one's residue is not an
        // onboarding's to repair (offboarding again removes it).
        let left = try await lab.tenant("left.example")
        #expect(
            try await repair(lab.alpha, [drifted, clean, left]) == [
                "drifted.example true role-assignment-missing"
            ])
        #expect(
            try await repair(lab.alpha, [drifted]) == [
                "drifted.example false role-assignment-missing"
            ])
        let row = try await lab.owner.query(
            """
            SELECT j.payload->>'pbx_url', e.actor, e.detail->>'repair'
              FROM onboarder.jobs j JOIN onboarder.events e ON e.job_id = j.id AND e.kind = 'enqueued'
             WHERE j.tenant_id = \(drifted) AND j.kind = 'onboard' AND j.state = 'queued'
            """
        ).single()
        let (url, actor, repaired) = try row.decode((String, String, String).self)
        #expect(url == "https://pbx.example/drifted.example" && actor == "alice" && repaired == "true")
        let onboardings = try await lab.owner.query(
            "SELECT count(*)::int FROM onboarder.jobs WHERE kind = 'onboard' AND state = 'queued'"
        ).single()[0].decode(Int.self)
        #expect(onboardings == 1)

        // A drifted customer being offboarded gets no onboarding: it would run after the offboarding and
        // undo it.
        try await lab.owner.query(
            """
            INSERT INTO onboarder.drift_findings (tenant_id, msp_id, finding, subject, detail)
            VALUES (\(clean), 'alpha', 'pbx-test-failed', '', 'the PBX cannot sign in')
            """)
        try await lab.owner.query(
            "INSERT INTO onboarder.jobs (kind, msp_id, tenant_id, payload) VALUES ('offboard', 'alpha', \(clean), '{}')"
        )
        #expect(try await repair(lab.alpha, [clean]) == [])
        try await lab.close()
    }

    /// The payload of the last onboarding that succeeded (not of a later one that failed); a customer with only
    /// findings an onboarding cannot fix gets none; more repairs than `approval_threshold` wait in a held batch.
    @Test func repairTakesTheLastSucceededOnboardingAndHoldsALargeRun() async throws {
        let lab = try await Lab()
        let drifted = try await lab.tenant("drifted.example")
        let clean = try await lab.tenant("clean.example")
        let halfway = try await lab.tenant("halfway.example")
        try await lab.owner.executeScript(
            unsafeSQL: """
                INSERT INTO onboarder.jobs (kind, msp_id, tenant_id, state, finished_at, attention_at, payload)
                SELECT 'onboard', msp_id, id, 'failed', now() - interval '1 day', now() - interval '1 day',
                       '{"path": "m365", "pbx_url": "https://mistyped.example", "pbx_client_id": "onboarder"}'::jsonb
                  FROM onboarder.tenants WHERE tenant_key = 'drifted.example';
                UPDATE onboarder.integrations SET onboarded_at = now() - interval '2 days'
                 WHERE tenant_id = (SELECT id FROM onboarder.tenants WHERE tenant_key = 'halfway.example');
                INSERT INTO onboarder.drift_findings (tenant_id, msp_id, finding, subject, detail)
                SELECT id, msp_id, f.finding, f.subject, 'x' FROM onboarder.tenants
                  JOIN (VALUES ('clean.example', 'credential-unknown', 'k9'), ('clean.example', 'user-missing', 'u@x'),
                               ('halfway.example', 'app-missing', 'a1')) AS f(key, finding, subject)
                    ON f.key = tenant_key;
                UPDATE onboarder.queue_limits SET approval_threshold = 1;
                """)
        let repairs = try await lab.alpha.query(
            """
            SELECT tenant_key, created, array_to_string(findings, ','), batch_id
              FROM onboarder.repair_drift(\([drifted, clean, halfway]), 'alice')
            """
        ).map { try $0.decode((String, Bool, String, Int64?).self) }
        // clean.example: a credential nobody recorded and a deleted user are not an onboarding's to fix.
        // drifted.example's credential-unknown is left out of what its onboarding is for.
        #expect(
            repairs.map { "\($0.0) \($0.1) \($0.2)" } == [
                "drifted.example true role-assignment-missing", "halfway.example true app-missing",
            ])
        // Two onboardings, over the threshold of 1: one held batch, its jobs waiting for approval.
        let batch = try #require(repairs.first?.3)
        #expect(repairs.allSatisfy { $0.3 == batch })
        let held = try await lab.owner.query(
            """
            SELECT b.reason, b.jobs, b.plan->'customers'->0->>'tenant',
                   (SELECT count(*)::int FROM onboarder.jobs j
                     WHERE j.batch_id = b.id AND j.state = 'waiting' AND j.wait_reason = 'approval'),
                   (SELECT count(*)::int FROM onboarder.events e JOIN onboarder.jobs j ON j.id = e.job_id
                     WHERE j.batch_id = b.id AND e.kind = 'held')
              FROM onboarder.batches b WHERE b.id = \(batch)
            """
        ).single().decode((String, Int, String, Int, Int).self)
        #expect(held.0 == "repair" && held.1 == 2 && held.2 == "drifted.example" && held.3 == 2 && held.4 == 2)
        let url = try await lab.owner.query(
            "SELECT payload->>'pbx_url' FROM onboarder.jobs WHERE tenant_id = \(drifted) AND batch_id = \(batch)"
        ).single()[0].decode(String.self)
        #expect(url == "https://pbx.example/drifted.example")
        try await lab.close()
    }

    @Test func theDriftViewShowsEachLoginItsOwnMSPsFindings() async throws {
        let lab = try await Lab()
        func rows(_ connection: PostgresConnection) async throws -> [String] {
            try await connection.query(
                """
                SELECT concat_ws(' | ', msp, customer, display_name, path, finding, subject,
                                 round(extract(epoch FROM now() - since) / 3600)::int)
                  FROM dashboard.drift ORDER BY msp, customer, finding
                """
            ).map { try $0[0].decode(String.self) }
        }
        let alphaRows = [
            "alpha | drifted.example | Drifted | m365 | credential-unknown | k1 | 3",
            "alpha | drifted.example | Drifted | m365 | role-assignment-missing | User.Read.All | 3",
            "alpha | left.example | left.example | m365 | offboard-residue | application a1 | 3",
        ]
        #expect(try await rows(lab.alpha) == alphaRows)
        #expect(try await rows(lab.beta) == ["beta | beta.example | Beta customer | m365 | pbx-test-failed |  | 3"])
        #expect(
            try await rows(lab.worker) == alphaRows + [
                "beta | beta.example | Beta customer | m365 | pbx-test-failed |  | 3"
            ])
        // Not the enqueuer's to read, and not through the table either.
        await #expect(throws: PostgresError.self) { try await rows(lab.enqueuer) }
        let direct = try await lab.beta.query("SELECT count(*)::int FROM onboarder.drift_findings").single()[0]
            .decode(Int.self)
        #expect(direct == 1)
        try await lab.close()
    }
}
