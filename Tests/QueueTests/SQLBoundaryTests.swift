import Foundation
import Postgres
import TestSupport
import Testing

/// Two MSPs, alpha and beta, with three customers each and some of everything (jobs in several states,
/// steps, events, credentials, integrations, scripts), written by the owner. The tests log in as staff
/// of alpha and try, as an attacker would, to read or change beta's rows.
struct TwoMSPs {
    let name: String
    let owner: PostgresConfiguration

    static func make(_ label: String) async throws -> TwoMSPs {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase(label)
        let fixture = TwoMSPs(name: name, owner: owner)
        try await fixture.asOwner { connection in
            try await connection.executeScript(
                unsafeSQL: """
                    INSERT INTO onboarder.msps (id, display_name) VALUES ('alpha', 'Alpha'), ('beta', 'Beta');
                    INSERT INTO onboarder.tenants (msp_id, tenant_key)
                    SELECT m, m || n || '.example.com' FROM unnest(ARRAY['alpha', 'beta']) AS m, generate_series(1, 3) AS n;
                    -- Customer 1 needs attention, 2 waits for input, 3 is queued; 1 also failed once before.
                    INSERT INTO onboarder.jobs (kind, msp_id, tenant_id, state, wait_reason, attention, finished_at,
                                                updated_at, attention_at)
                    SELECT 'onboard', t.msp_id, t.id, s.state, s.wait_reason, s.attention, s.finished_at, now(),
                           CASE WHEN s.state IN ('failed', 'needs_attention') THEN now() END
                      FROM onboarder.tenants t
                      JOIN (VALUES (1, 'failed', NULL, NULL, now()), (1, 'needs_attention', NULL, 'fix it', NULL),
                                   (2, 'waiting', 'input', NULL, NULL), (3, 'queued', NULL, NULL, NULL))
                           AS s(n, state, wait_reason, attention, finished_at)
                        ON t.tenant_key = t.msp_id || s.n || '.example.com'
                     ORDER BY t.id, s.state = 'failed' DESC;
                    -- The waiting customers wait for their technician (dashboard.handover_waiting).
                    UPDATE onboarder.jobs SET current_step = 'verify' WHERE state = 'waiting';
                    INSERT INTO onboarder.job_steps (job_id, step, state, started_at, finished_at)
                    SELECT id, 'resolve-tenant', 'done', now() - interval '1 minute', now() FROM onboarder.jobs;
                    INSERT INTO onboarder.events (job_id, kind) SELECT id, 'enqueued' FROM onboarder.jobs;
                    INSERT INTO onboarder.events (job_id, kind, detail)
                    SELECT id, 'rescheduled', '{"wait_reason": "throttled"}' FROM onboarder.jobs;
                    INSERT INTO onboarder.credentials (tenant_id, kind, source, state, key_id, display_name, sealed,
                                                       expires_at)
                    SELECT id, 'password', 'addPassword', 'active', gen_random_uuid(), 'PBX Secret',
                           'og1.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', now() + interval '20 days'
                      FROM onboarder.tenants;
                    INSERT INTO onboarder.integrations (tenant_id, path) SELECT id, 'teams' FROM onboarder.tenants;
                    INSERT INTO onboarder.scripts (tenant_id, name, body) SELECT id, 'dial-plan', 'x' FROM onboarder.tenants;
                    """)
        }
        return fixture
    }

    func asOwner<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await Self.session(owner, body)
    }

    /// One session (temp objects and settings live as long as it).
    static func session<T>(_ configuration: PostgresConfiguration, _ body: (PostgresConnection) async throws -> T)
        async throws -> T
    {
        let connection = try await PostgresConnection.connect(configuration)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    func login(_ group: StaffRole, _ msps: [String]) async throws -> PostgresConfiguration {
        try await TestDatabase.login(group, msps: msps, database: name, owner: owner)
    }

    func strings(_ connection: PostgresConnection, _ sql: String) async throws -> [String] {
        try await connection.query(PostgresQuery(unsafeSQL: sql)).map { try $0[0].decode(String.self) }
    }

    func ids(_ sql: String) async throws -> Set<Int64> {
        try await asOwner { connection in
            Set(try await connection.query(PostgresQuery(unsafeSQL: sql)).map { try $0[0].decode(Int64.self) })
        }
    }

    /// Everything of beta's that an action might change, as text, to compare before and after.
    func betaRows() async throws -> [String] {
        try await asOwner { connection in
            try await strings(
                connection,
                """
                SELECT format('%s', j) FROM onboarder.jobs j WHERE msp_id = 'beta'
                UNION ALL SELECT format('%s', s) FROM onboarder.job_steps s JOIN onboarder.jobs j ON j.id = s.job_id
                 WHERE j.msp_id = 'beta'
                UNION ALL SELECT format('%s', c) FROM onboarder.credentials c JOIN onboarder.tenants t ON t.id = c.tenant_id
                 WHERE t.msp_id = 'beta'
                UNION ALL SELECT format('%s', e) FROM onboarder.events e
                 WHERE e.job_id IN (SELECT id FROM onboarder.jobs WHERE msp_id = 'beta')
                    OR e.detail->>'tenant_id' IN (SELECT id::text FROM onboarder.tenants WHERE msp_id = 'beta')
                ORDER BY 1
                """)
        }
    }

    func drop() async throws { try await TestDatabase.dropScratchDatabase(name) }
}

/// The error a statement raised (nil when it did not fail).
func failure(_ body: () async throws -> Void) async -> PostgresError? {
    do {
        try await body()
        return nil
    } catch let error as PostgresError {
        return error
    } catch {
        return PostgresError(code: .unexpectedResponse, message: "\(error)")
    }
}

/// A valid onboarding payload, with `changes` applied (a nil value removes the key).
func onboardingPayload(_ changes: [String: Any?] = [:]) -> String {
    var object: [String: Any] = [
        "path": "teams", "display_name": "Contoso", "pbx_url": "https://pbx.alpha.example",
        "pbx_client_id": "onboarder", "pbx_secret": "env:PBX_SECRET_CONTOSO",
    ]
    for (key, value) in changes { object[key] = value ?? nil }
    return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}

@Suite("SQL trust boundaries: what a staff login can reach")
struct SQLBoundaryTests {
    /// The attack on 0004's helpers: a temp view pg_roles that lists the operator as a worker, first in
    /// its search_path. Row-level security must still hold the operator to its MSP everywhere.
    @Test func anOperatorShadowingTheCatalogStillSeesOnlyItsMSP() async throws {
        let db = try await TwoMSPs.make("shadow")
        let alphaTenants = try await db.ids("SELECT id FROM onboarder.tenants WHERE msp_id = 'alpha'")
        let alphaJobs = try await db.ids("SELECT id FROM onboarder.jobs WHERE msp_id = 'alpha'")
        let alphaEvents = try await db.ids(
            "SELECT e.id FROM onboarder.events e JOIN onboarder.jobs j ON j.id = e.job_id WHERE j.msp_id = 'alpha'")
        let alphaSteps = try await db.ids(
            "SELECT count(*) FROM onboarder.job_steps s JOIN onboarder.jobs j ON j.id = s.job_id WHERE j.msp_id = 'alpha'"
        )
        let operatorLogin = try await db.login(.operator, ["alpha"])

        try await TwoMSPs.session(operatorLogin) { connection in
            try await connection.executeScript(
                unsafeSQL: """
                    CREATE TEMP VIEW pg_roles AS
                    SELECT 'onboarder_worker'::name AS rolname, r.oid FROM pg_catalog.pg_roles r
                     WHERE r.rolname = current_user;
                    CREATE TEMP VIEW operator_msps AS
                    SELECT current_user::name AS role_name, m.id AS msp_id FROM (VALUES ('alpha'), ('beta')) AS m(id);
                    SET search_path = pg_temp, pg_catalog, onboarder;
                    """)
            // The shadow is in place: unqualified, pg_roles is the attacker's view.
            #expect(try await db.strings(connection, "SELECT rolname::text FROM pg_roles") == ["onboarder_worker"])
            func int64s(_ sql: String) async throws -> Set<Int64> {
                Set(try await connection.query(PostgresQuery(unsafeSQL: sql)).map { try $0[0].decode(Int64.self) })
            }
            #expect(try await db.strings(connection, "SELECT DISTINCT id FROM onboarder.msps") == ["alpha"])
            #expect(try await int64s("SELECT id FROM onboarder.tenants") == alphaTenants)
            #expect(try await int64s("SELECT id FROM onboarder.jobs") == alphaJobs)
            #expect(try await int64s("SELECT id FROM onboarder.events") == alphaEvents)
            #expect(try await int64s("SELECT count(*) FROM onboarder.job_steps") == alphaSteps)
            #expect(try await int64s("SELECT tenant_id FROM onboarder.credentials") == alphaTenants)
            #expect(try await int64s("SELECT tenant_id FROM onboarder.integrations") == alphaTenants)
            #expect(try await int64s("SELECT tenant_id FROM onboarder.scripts") == alphaTenants)
            #expect(
                try await db.strings(connection, "SELECT DISTINCT msp_id FROM onboarder.operator_msps") == ["alpha"])
            for view in [
                "queue_overview", "tenant_status", "needs_attention", "throttling", "credentials_expiry",
                "recent_failures", "handover_waiting",
            ] {
                let msps = try await db.strings(connection, "SELECT DISTINCT msp FROM dashboard.\(view) ORDER BY 1")
                #expect(msps == ["alpha"], "dashboard.\(view)")
            }
            #expect(
                try await int64s("SELECT done FROM dashboard.step_latency") == alphaSteps, "dashboard.step_latency")
            // And the helpers themselves answer for the login, not for the shadow.
            #expect(try await db.strings(connection, "SELECT onboarder.sees_all_msps()::text") == ["false"])
            #expect(try await db.strings(connection, "SELECT onboarder.my_msps()") == ["alpha"])
        }
        try await db.drop()
    }

    /// Every function an operator may call, with another MSP's ids and with ids that do not exist: the
    /// same "no job" / "no customer" (so ids tell nothing), and nothing of the other MSP changes.
    @Test func anOperatorActsOnItsMSPsJobsOnly() async throws {
        let db = try await TwoMSPs.make("opactions")
        let operatorLogin = try await db.login(.operator, ["alpha"])
        let betaJobs = try await db.ids("SELECT id FROM onboarder.jobs WHERE msp_id = 'beta'").sorted()
        let betaTenants = try await db.ids("SELECT id FROM onboarder.tenants WHERE msp_id = 'beta'").sorted()
        let missing = try await db.ids("SELECT max(id) + 1000 FROM onboarder.jobs").first!
        let missingTenant = try await db.ids("SELECT max(id) + 1000 FROM onboarder.tenants").first!
        let pem = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUSecret\n-----END CERTIFICATE-----\n"
        let before = try await db.betaRows()

        try await TwoMSPs.session(operatorLogin) { connection in
            for job in betaJobs + [missing] {
                for function in ["retry_job", "resume_job", "cancel_job"] {
                    let error = await failure {
                        _ = try await connection.query("SELECT onboarder.\(unsafeSQL: function)(\(job), 'mallory')")
                    }
                    #expect(error?.sqlState == "P0002", "\(function)(\(job))")
                    #expect(error?.message == "no job \(job)", "\(function)(\(job))")
                }
            }
            for tenant in betaTenants + [missingTenant] {
                let woken = await failure {
                    _ = try await connection.query("SELECT onboarder.wake_tenant(\(tenant), 'because', 'mallory')")
                }
                #expect(woken?.sqlState == "P0002" && woken?.message == "no customer \(tenant)", "wake \(tenant)")
                let supplied = await failure {
                    _ = try await connection.query(
                        """
                        SELECT * FROM onboarder.supply_certificate(\(tenant), \(String(repeating: "AB", count: 20)),
                            \(pem), 'PBX certificate', now() + interval '1 year', 'mallory')
                        """)
                }
                #expect(supplied?.sqlState == "P0002" && supplied?.message == "no customer \(tenant)", "\(tenant)")
                let handedOver = await failure {
                    _ = try await connection.query("SELECT onboarder.handover_done(\(tenant), 'mallory')")
                }
                #expect(
                    handedOver?.sqlState == "P0002" && handedOver?.message == "no customer \(tenant)",
                    "handover_done \(tenant)")
            }
        }
        #expect(try await db.betaRows() == before, "an operator of alpha changed beta's rows")

        // Alpha's own jobs: every action works, and records who acted.
        let alpha = try await db.asOwner { connection in
            try await connection.query(
                """
                SELECT t.tenant_key, t.id AS tenant, j.id AS job, j.state FROM onboarder.jobs j
                  JOIN onboarder.tenants t ON t.id = j.tenant_id WHERE j.msp_id = 'alpha' AND j.state <> 'failed'
                """
            ).reduce(into: [String: (tenant: Int64, job: Int64)]()) { result, row in
                result[try row.decode(String.self, column: "state")] = (
                    try row.decode(Int64.self, column: "tenant"), try row.decode(Int64.self, column: "job")
                )
            }
        }
        let attention = try #require(alpha["needs_attention"])
        let waiting = try #require(alpha["waiting"])
        let queued = try #require(alpha["queued"])
        try await TwoMSPs.session(operatorLogin) { connection in
            func state(_ sql: PostgresQuery) async throws -> String? {
                try await connection.query(sql).single()[0].decode(String?.self)
            }
            #expect(
                try await connection.query("SELECT onboarder.wake_tenant(\(waiting.tenant), 'dns published', 'alice')")
                    .single()[0].decode(Int.self) == 1)
            let supplied = try await connection.query(
                """
                SELECT recorded, woken FROM onboarder.supply_certificate(\(waiting.tenant),
                    \(String(repeating: "AB", count: 20)), \(pem), 'PBX certificate', now() + interval '1 year', 'alice')
                """
            ).single().decode((Bool, Int).self)
            #expect(supplied == (true, 1))
            let again = try await connection.query(
                """
                SELECT recorded FROM onboarder.supply_certificate(\(waiting.tenant),
                    \(String(repeating: "ab", count: 20)), \(pem), 'PBX certificate', now() + interval '1 year', 'alice')
                """
            ).single().decode(Bool.self, column: "recorded")
            #expect(!again, "the same certificate twice")
            #expect(
                try await connection.query("SELECT onboarder.handover_done(\(waiting.tenant), 'alice')")
                    .single()[0].decode(Int.self) == 1)
            // Nothing of a queued customer waits: nothing woken, nothing recorded.
            #expect(
                try await connection.query("SELECT onboarder.handover_done(\(queued.tenant), 'alice')")
                    .single()[0].decode(Int.self) == 0)
            #expect(try await state("SELECT onboarder.resume_job(\(waiting.job), 'alice')") == "queued")
            #expect(try await state("SELECT onboarder.retry_job(\(attention.job), 'alice')") == "queued")
            #expect(try await state("SELECT onboarder.cancel_job(\(queued.job), 'alice')") == "cancelled")
            // A state the action does not apply to: NULL, not an error.
            #expect(try await state("SELECT onboarder.cancel_job(\(queued.job), 'alice')") == nil)
            #expect(try await state("SELECT onboarder.resume_job(\(queued.job))") == nil)
        }
        let recorded = try await db.asOwner { connection in
            try await db.strings(
                connection,
                """
                SELECT e.kind || ' ' || e.actor || ' ' || (e.db_user = '\(operatorLogin.connectionString!.userName)')::text
                  FROM onboarder.events e
                 WHERE e.kind IN ('woken', 'certificate_supplied', 'handover_done', 'resumed', 'retried', 'cancelled')
                 ORDER BY e.id
                """)
        }
        #expect(
            recorded == [
                "woken alice true", "certificate_supplied alice true", "woken alice true",
                "certificate_supplied alice true", "woken alice true", "handover_done alice true", "woken alice true",
                "resumed alice true", "retried alice true",
                "cancelled alice true",
            ])
        try await db.drop()
    }

    /// An enqueuer of alpha enqueues onboardings for alpha, and nothing else: not for beta, not for an MSP
    /// that does not exist, no other kind, no payload that would send a secret elsewhere or read one of
    /// the deployment's. A refused call writes nothing, not even its valid rows.
    @Test func anEnqueuerEnqueuesValidOnboardingsForItsMSPOnly() async throws {
        let db = try await TwoMSPs.make("enqueuer")
        let enqueuer = try await db.login(.enqueuer, ["alpha"])
        let alpha1 = try #require(
            try await db.ids(
                """
                SELECT j.id FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
                 WHERE t.tenant_key = 'alpha1.example.com' AND j.state = 'needs_attention'
                """
            ).first)

        try await TwoMSPs.session(enqueuer) { connection in
            // Alpha, a new customer and one with an active onboarding (reported, not enqueued twice).
            let rows = try await connection.query(
                """
                SELECT ordinal, job_id, created, state FROM onboarder.enqueue_many(
                    ARRAY['alpha', 'alpha'], ARRAY['new.example.com', 'alpha1.example.com'],
                    ARRAY['onboard', 'onboard'], ARRAY[\(onboardingPayload()), \(onboardingPayload())]::jsonb[],
                    p_actor => 'alice')
                """)
            #expect(rows.count == 2)
            #expect(try rows[0].decode(Bool.self, column: "created"))
            #expect(try rows[1].decode((Int, Int64, Bool, String).self) == (2, alpha1, false, "needs_attention"))
            let job = try rows[0].decode(Int64.self, column: "job_id")
            let single = try await connection.query(
                "SELECT created FROM onboarder.enqueue('alpha', 'other.example.com', 'onboard', \(onboardingPayload())::jsonb)"
            ).single().decode(Bool.self, column: "created")
            #expect(single)
            let event = try await db.asOwner { owner in
                try await db.strings(
                    owner,
                    "SELECT actor || ' ' || db_user FROM onboarder.events WHERE job_id = \(job) AND kind = 'enqueued'")
            }
            #expect(event == ["alice \(enqueuer.connectionString!.userName)"])
        }

        try await db.asOwner { owner in
            _ = try await owner.query(
                "UPDATE onboarder.msps SET allowed_pbx_hosts = '{*.alpha.example}' WHERE id = 'alpha'")
        }
        let counts = """
            SELECT (SELECT count(*) FROM onboarder.jobs) || ' jobs, ' || (SELECT count(*) FROM onboarder.tenants)
                   || ' tenants, ' || (SELECT string_agg(id, ' ' ORDER BY id) FROM onboarder.msps) || ', '
                   || (SELECT count(*) FROM onboarder.events) || ' events'
            """
        let before = try await db.asOwner { try await db.strings($0, counts) }
        try await TwoMSPs.session(enqueuer) { connection in
            /// Enqueues a valid row for alpha, then the row given; returns the error.
            func second(
                msp: String = "alpha", kind: String = "onboard", payload: String = onboardingPayload(),
                tenant: String = "second.example.com"
            ) async -> PostgresError? {
                await failure {
                    _ = try await connection.query(
                        """
                        SELECT * FROM onboarder.enqueue_many(
                            ARRAY['alpha', \(msp)], ARRAY['ok.example.com', \(tenant)],
                            ARRAY['onboard', \(kind)], ARRAY[\(onboardingPayload()), \(payload)]::jsonb[])
                        """)
                }
            }
            for msp in ["beta", "gamma"] {
                let error = await second(msp: msp)
                #expect(error?.sqlState == "42501", "\(msp)")
                #expect(error?.message == "row 2: msp: \(msp) is not an MSP this login may enqueue for", "\(msp)")
            }
            let kind = await second(kind: "rotate-secret")
            #expect(kind?.sqlState == "42501")
            #expect(kind?.message.hasPrefix("row 2: kind:") == true, "\(kind?.message ?? "")")

            let refused: [(changes: [String: Any?], field: String)] = [
                (["pbx_secret": "env:ONBOARDER_PARTNER_CLIENT_SECRET"], "pbx_secret"),
                (["pbx_secret": "env:AZURE_CLIENT_SECRET"], "pbx_secret"),
                (["pbx_secret": "file:../../etc/passwd"], "pbx_secret"),
                (["pbx_secret": "env:"], "pbx_secret"),
                (["pbx_secret": "file:"], "pbx_secret"),
                (["pbx_secret": "the-secret-itself"], "pbx_secret"),
                (["pbx_url": "https://user:pw@pbx.alpha.example"], "pbx_url"),
                (["pbx_url": "http://pbx.alpha.example"], "pbx_url"),
                (["pbx_url": "https://pbx.elsewhere.example"], "pbx_url"),  // outside alpha's allowed hosts
                (["pbx_url": "https://pbx.alpha.example/?next=https://evil.example"], "pbx_url"),
                (["colour": "blue"], "colour"),
                (["display_name": "Contoso\u{07}"], "display_name"),
                (["users": ["alice@contoso.example", "bob\n@contoso.example"]], "users"),
                (["pbx_client_id": 7], "pbx_client_id"),
                (["pbx_secret": nil], "pbx_secret"),
            ]
            for (changes, field) in refused {
                let error = await second(payload: onboardingPayload(changes))
                #expect(error?.sqlState == "22023", "\(changes)")
                #expect(
                    error?.message.hasPrefix("row 2: \(field): ") == true, "\(changes): \(error?.message ?? "no error")"
                )
            }
            // The customer goes into Entra's token URL and every view: a tenant id or a domain, nothing else.
            for tenant in [
                "Second.Example.com", "00000000-0000-0000-0000-000000000000", "x/../../evil.example", "contoso",
                "a b.example.com", "", String(repeating: "a", count: 64) + ".example.com",
            ] {
                let error = await second(tenant: tenant)
                #expect(error?.sqlState == "22023", "\(tenant)")
                #expect(error?.message.hasPrefix("row 2: tenant: ") == true, "\(tenant): \(error?.message ?? "")")
            }
            // Another MSP's idempotency key: refused without naming its job.
            _ = try await db.asOwner { owner in
                try await owner.query(
                    "UPDATE onboarder.jobs SET idempotency_key = 'import-7' WHERE msp_id = 'beta' AND state = 'queued'")
            }
            let key = await failure {
                _ = try await connection.query(
                    """
                    SELECT * FROM onboarder.enqueue_many(ARRAY['alpha'], ARRAY['keyed.example.com'], ARRAY['onboard'],
                        ARRAY[\(onboardingPayload())]::jsonb[], p_idempotency_keys => ARRAY['import-7'])
                    """)
            }
            #expect(key?.sqlState == "23505" && key?.message == "row 1: idempotency_key: already used")
            // What an enqueuer may not do at all.
            for statement in [
                "SELECT * FROM onboarder.jobs", "INSERT INTO onboarder.msps (id, display_name) VALUES ('gamma', 'g')",
                "SELECT onboarder.retry_job(1)",
            ] {
                #expect(await failure { _ = try await connection.query(PostgresQuery(unsafeSQL: statement)) } != nil)
            }
        }
        #expect(try await db.asOwner { try await db.strings($0, counts) } == before, "a refused enqueue wrote")
        // Within the allowed hosts it works.
        try await TwoMSPs.session(enqueuer) { connection in
            let created = try await connection.query(
                """
                SELECT created FROM onboarder.enqueue('alpha', 'allowed.example.com', 'onboard',
                    \(onboardingPayload(["pbx_url": "https://pbx7.alpha.example:5001"]))::jsonb)
                """
            ).single().decode(Bool.self, column: "created")
            #expect(created)
        }
        try await db.drop()
    }

    /// enqueue_many runs with the owner's rights; 0002–0006's wrote a temp table, which the caller can
    /// create first in its own session, with a trigger that then runs as the owner. Whatever the caller
    /// puts in pg_temp, the function never touches it.
    @Test func enqueueNeverTouchesTheCallersTempObjects() async throws {
        let db = try await TwoMSPs.make("temptrap")
        let enqueuer = try await db.login(.enqueuer, ["alpha"])
        try await TwoMSPs.session(enqueuer) { connection in
            try await connection.executeScript(
                unsafeSQL: """
                    CREATE TEMP TABLE caught (who text, op text);
                    CREATE FUNCTION pg_temp.trap() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN
                        INSERT INTO pg_temp.caught VALUES (current_user, TG_OP);
                        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
                    END $$;
                    CREATE TEMP TABLE enqueue_input (
                        ordinal integer, msp_id text, tenant_key text, kind text, payload jsonb, priority integer,
                        run_at timestamptz, idempotency_key text, subject text, tenant_id bigint);
                    CREATE TRIGGER trap BEFORE INSERT OR UPDATE OR DELETE ON pg_temp.enqueue_input
                        FOR EACH ROW EXECUTE FUNCTION pg_temp.trap();
                    CREATE TRIGGER trap_truncate BEFORE TRUNCATE ON pg_temp.enqueue_input
                        FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.trap();
                    -- So that the owner, running the function, may use them (and the trigger runs as it).
                    GRANT ALL ON pg_temp.enqueue_input, pg_temp.caught TO PUBLIC;
                    SET search_path = pg_temp, pg_catalog, onboarder;
                    """)
            let rows = try await connection.query(
                """
                SELECT created FROM onboarder.enqueue_many(ARRAY['alpha'], ARRAY['trap.example.com'], ARRAY['onboard'],
                    ARRAY[\(onboardingPayload())]::jsonb[])
                """)
            #expect(try rows.single().decode(Bool.self, column: "created"))
            let caught = try await db.strings(connection, "SELECT who || ' ' || op FROM pg_temp.caught")
            #expect(caught == [], "the caller's trigger ran inside enqueue_many")
        }
        try await db.drop()
    }

    /// History cannot be rewritten: a worker login appends events and reads them, and cannot update,
    /// delete or truncate them, nor write who or when; the owner deletes (retention) and updates nothing.
    @Test func eventsAreAppendOnlyForEveryoneButTheOwnersRetention() async throws {
        let db = try await TwoMSPs.make("appendonly")
        let worker = try await db.login(.worker, [])
        try await TwoMSPs.session(worker) { connection in
            let job = try await connection.query("SELECT max(id) FROM onboarder.jobs").single()[0].decode(Int64.self)
            try await connection.query("INSERT INTO onboarder.events (job_id, kind) VALUES (\(job), 'step_done')")
            let login = try await db.strings(
                connection, "SELECT db_user FROM onboarder.events WHERE job_id = \(job) AND kind = 'step_done'")
            #expect(login == [worker.connectionString!.userName])
            for statement in [
                "UPDATE onboarder.events SET kind = 'forged'", "DELETE FROM onboarder.events",
                "DELETE FROM onboarder.events WHERE kind = 'enqueued'", "TRUNCATE onboarder.events",
                "INSERT INTO onboarder.events (job_id, kind, db_user) VALUES (1, 'x', 'someone_else')",
                "INSERT INTO onboarder.events (job_id, kind, at) VALUES (1, 'x', now() - interval '1 year')",
            ] {
                let error = await failure { _ = try await connection.query(PostgresQuery(unsafeSQL: statement)) }
                #expect(error?.sqlState == "42501", "\(statement): \(error?.message ?? "no error")")
            }
        }
        let count = "SELECT count(*)::text FROM onboarder.events"
        let before = try await db.asOwner { try await db.strings($0, count) }
        #expect(before != ["0"])
        try await db.asOwner { owner in
            let update = await failure { _ = try await owner.query("UPDATE onboarder.events SET kind = 'forged'") }
            #expect(update?.sqlState == "42501")
            let deleted = try await owner.query("DELETE FROM onboarder.events WHERE kind = 'rescheduled'")
            #expect(deleted.affectedRows == 8)
        }
        try await db.drop()
    }
}

extension SQLBoundaryTests {
    /// A worker login without the key file (a leaked database password) must not widen who acts for which
    /// MSP, where an MSP's PBX secrets may go, or the limits: those are the owner's.
    @Test func aWorkerLoginCannotRemapStaffOrWidenAnMSPsPBXHosts() async throws {
        let db = try await TwoMSPs.make("workerwrites")
        let worker = try await db.login(.worker, [])
        let spy = try await db.login(.operator, ["alpha"])
        try await TwoMSPs.session(worker) { connection in
            for statement in [
                "INSERT INTO onboarder.operator_msps (role_name, msp_id) VALUES ('\(spy.connectionString!.userName)', 'beta')",
                "UPDATE onboarder.operator_msps SET msp_id = 'beta'",
                "DELETE FROM onboarder.operator_msps",
                "UPDATE onboarder.msps SET allowed_pbx_hosts = NULL",
                "INSERT INTO onboarder.msps (id, display_name) VALUES ('gamma', 'gamma')",
                "UPDATE onboarder.queue_limits SET max_running = NULL",
                "UPDATE onboarder.queue_limits SET max_running = 1000000",
                "DELETE FROM onboarder.schema_migrations",
                "DELETE FROM onboarder.schema_functions",
                "UPDATE onboarder.schema_functions SET checksum = ''",
            ] {
                let error = await failure { _ = try await connection.query(PostgresQuery(unsafeSQL: statement)) }
                #expect(error?.sqlState == "42501", "\(statement): \(error?.message ?? "no error")")
            }
        }
        try await TwoMSPs.session(spy) { connection in
            let msps = try await db.strings(connection, "SELECT DISTINCT msp_id FROM onboarder.jobs ORDER BY 1")
            #expect(msps == ["alpha"])
        }
        try await db.drop()
    }

    /// An MSP's partner app credential opens every one of its customers' tenants: only workers read it, and
    /// no login but the owner points an MSP at another partner app or cloud.
    @Test func onlyWorkersReadAnMSPsPartnerCredentialAndOnlyTheOwnerChangesIt() async throws {
        let db = try await TwoMSPs.make("mspsecrets")
        _ = try await db.asOwner { connection in
            try await connection.query(
                """
                INSERT INTO onboarder.msp_secrets (msp_id, partner_secret_sealed)
                VALUES ('alpha', 'og1.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')
                """)
        }
        let worker = try await db.login(.worker, [])
        try await TwoMSPs.session(worker) { connection in
            let sealed = try await db.strings(connection, "SELECT partner_secret_sealed FROM onboarder.msp_secrets")
            #expect(sealed == ["og1.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"])
            for statement in [
                "UPDATE onboarder.msps SET partner_client_id = gen_random_uuid(), partner_tenant_id = gen_random_uuid()",
                "UPDATE onboarder.msps SET cloud = 'china'",
                "UPDATE onboarder.msp_secrets SET partner_secret_sealed = NULL",
                "INSERT INTO onboarder.msp_secrets (msp_id) VALUES ('beta')",
                "DELETE FROM onboarder.msp_secrets",
            ] {
                let error = await failure { _ = try await connection.query(PostgresQuery(unsafeSQL: statement)) }
                #expect(error?.sqlState == "42501", "\(statement): \(error?.message ?? "no error")")
            }
        }
        for group in [StaffRole.operator, .enqueuer] {
            let staff = try await db.login(group, ["alpha"])
            try await TwoMSPs.session(staff) { connection in
                let error = await failure {
                    _ = try await connection.query("SELECT partner_secret_sealed FROM onboarder.msp_secrets")
                }
                #expect(error?.sqlState == "42501", "\(group): \(error?.message ?? "no error")")
            }
        }
        try await db.drop()
    }
}

extension String {
    /// The user of a `postgresql://user@…` URL or a `user=` keyword string.
    var userName: String {
        if let components = URLComponents(string: self), let user = components.user { return user }
        return split(separator: " ").last { $0.hasPrefix("user=") }.map { String($0.dropFirst(5)) } ?? ""
    }
}
