import Foundation
import Postgres
import TestSupport
import Testing

/// `dashboard.handover_waiting` and `onboarder.handover_done` (sql/functions/60_handover.sql), on jobs the
/// owner puts into each state directly.
@Suite("The technician's hand-over in SQL", .serialized)
struct HandoverSQLTests {
    /// Customers of alpha (and one of beta), one job each, written by the owner. Times are hours before now.
    static let fixture = """
        INSERT INTO onboarder.msps (id, display_name) VALUES ('alpha', 'Alpha'), ('beta', 'Beta');
        INSERT INTO onboarder.tenants (msp_id, tenant_key) VALUES
            ('alpha', 'verify.example'), ('alpha', 'cert.example'), ('alpha', 'rotsecret.example'),
            ('alpha', 'rotcert.example'), ('alpha', 'retrying.example'), ('alpha', 'dns.example'),
            ('alpha', 'running.example'), ('beta', 'beta.example'),
            ('alpha', '0f0e0d0c-0b0a-4908-8706-050403020100');
        INSERT INTO onboarder.integrations (tenant_id, path, entra_tenant_id, app_id, pbx_url)
        SELECT id, 'm365', md5(tenant_key)::uuid, md5('app' || tenant_key)::uuid, 'https://pbx.example/' || tenant_key
          FROM onboarder.tenants WHERE tenant_key LIKE '%.example';
        INSERT INTO onboarder.workers (id, host, pid, concurrency, version) VALUES ('w', 'h', 1, 1, 'test');
        INSERT INTO onboarder.jobs (kind, msp_id, tenant_id, state, wait_reason, current_step, last_error, worker_id,
                                    created_at, payload)
        SELECT s.kind, t.msp_id, t.id, s.state, s.reason, s.step, s.step || ': ' || t.tenant_key || ' waits',
               CASE WHEN s.state = 'running' THEN 'w' END, now() - interval '10 hours',
               jsonb_build_object('pbx_url', 'https://payload.example/' || t.tenant_key)
          FROM onboarder.tenants t JOIN (VALUES
            ('verify.example', 'onboard', 'waiting', 'input', 'verify'),
            ('cert.example', 'onboard', 'waiting', 'input', 'certificate'),
            ('rotsecret.example', 'rotate-secret', 'waiting', 'input', 'rotate-handover'),
            ('rotcert.example', 'rotate-certificate', 'waiting', 'input', 'rotate-cert-new'),
            ('retrying.example', 'onboard', 'waiting', 'retry', 'verify'),
            ('dns.example', 'onboard', 'waiting', 'input', 'teams-domain'),
            ('running.example', 'onboard', 'running', NULL, 'verify'),
            ('beta.example', 'onboard', 'waiting', 'input', 'verify'),
            ('0f0e0d0c-0b0a-4908-8706-050403020100', 'onboard', 'waiting', 'input', 'certificate')
          ) AS s(key, kind, state, reason, step) ON s.key = t.tenant_key
         ORDER BY t.id;
        INSERT INTO onboarder.job_steps (job_id, step, state, started_at)
        SELECT j.id, j.current_step, 'running', now() - CASE t.tenant_key WHEN 'cert.example' THEN interval '5 hours'
                                                        ELSE interval '9 hours' END
          FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
         WHERE t.tenant_key <> '0f0e0d0c-0b0a-4908-8706-050403020100';
        -- The waits as finish() records them; verify.example was retried by an operator in between, so its
        -- wait starts again at its first wait after the retry (1 h), not at 3 h.
        INSERT INTO onboarder.events (job_id, kind, step, detail, at)
        SELECT j.id, e.kind, coalesce(e.step, j.current_step),
               CASE WHEN e.kind = 'rescheduled' THEN jsonb_build_object('wait_reason', e.reason) END,
               now() - e.hours * interval '1 hour'
          FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id JOIN (VALUES
            ('verify.example', 'rescheduled', 'input', NULL, 3.0), ('verify.example', 'retried', NULL, NULL, 2.5),
            ('verify.example', 'rescheduled', 'retry', NULL, 1.5), ('verify.example', 'rescheduled', 'input', NULL, 1.0),
            ('verify.example', 'rescheduled', 'input', NULL, 0.5),
            ('rotsecret.example', 'rescheduled', 'input', 'rotate-prove', 8.0),
            ('rotsecret.example', 'rescheduled', 'input', NULL, 2.0),
            ('rotcert.example', 'rescheduled', 'input', NULL, 4.0),
            ('beta.example', 'rescheduled', 'input', NULL, 6.0)
          ) AS e(key, kind, reason, step, hours) ON e.key = t.tenant_key;
        -- Certificates: verify.example's PBX certificate is on the app; rotcert.example's is the old one (from
        -- before its rotation); cert.example has only a generated one (not the PBX's).
        INSERT INTO onboarder.credentials (tenant_id, kind, source, state, thumbprint, display_name, certificate_pem,
                                           created_at)
        SELECT t.id, 'certificate', c.source, 'active', upper(md5(t.tenant_key) || '00000000'), 'PBX certificate',
               '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n', now() - interval '20 hours'
          FROM onboarder.tenants t JOIN (VALUES ('verify.example', 'pbx'), ('rotcert.example', 'pbx'),
                                                ('cert.example', 'generated')) AS c(key, source) ON c.key = t.tenant_key;
        """

    static func waitingRows(_ connection: PostgresConnection) async throws -> [String] {
        try await connection.query(
            """
            SELECT concat_ws(' | ', msp, customer, coalesce(tenant_id, '-'), kind, step,
                             round(extract(epoch FROM now() - waiting_since) / 3600)::int,
                             message, coalesce(pbx_url, '-'), coalesce(application_id, '-'), certificate_needed::text,
                             (customer_id = (SELECT t.id FROM onboarder.tenants t WHERE t.tenant_key = customer))::text,
                             (job_id = (SELECT j.id FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
                                         WHERE t.tenant_key = customer))::text)
              FROM dashboard.handover_waiting
            """
        ).map { try $0[0].decode(String.self) }
    }

    @Test func theViewListsTheCustomersWaitingForTheirTechnicianOldestFirst() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("handoverview")
        let connection = try await PostgresConnection.connect(owner)
        try await connection.executeScript(unsafeSQL: Self.fixture)
        let expected = try await connection.query(
            """
            SELECT md5('verify.example')::uuid::text, md5('appverify.example')::uuid::text,
                   md5('cert.example')::uuid::text, md5('appcert.example')::uuid::text,
                   md5('rotsecret.example')::uuid::text, md5('approtsecret.example')::uuid::text,
                   md5('rotcert.example')::uuid::text, md5('approtcert.example')::uuid::text,
                   md5('beta.example')::uuid::text, md5('appbeta.example')::uuid::text
            """
        ).single().decode((String, String, String, String, String, String, String, String, String, String).self)
        let rows = try await Self.waitingRows(connection)
        // Oldest wait first: the first input wait at the current step, after the operator's last retry; the
        // step's start when no wait was recorded; the job's creation when it has no step either (the GUID).
        #expect(
            rows == [
                "alpha | 0f0e0d0c-0b0a-4908-8706-050403020100 | 0f0e0d0c-0b0a-4908-8706-050403020100 | onboard | certificate | 10 | certificate: 0f0e0d0c-0b0a-4908-8706-050403020100 waits | https://payload.example/0f0e0d0c-0b0a-4908-8706-050403020100 | - | true | true | true",
                "beta | beta.example | \(expected.8) | onboard | verify | 6 | verify: beta.example waits | https://pbx.example/beta.example | \(expected.9) | true | true | true",
                "alpha | cert.example | \(expected.2) | onboard | certificate | 5 | certificate: cert.example waits | https://pbx.example/cert.example | \(expected.3) | true | true | true",
                "alpha | rotcert.example | \(expected.6) | rotate-certificate | rotate-cert-new | 4 | rotate-cert-new: rotcert.example waits | https://pbx.example/rotcert.example | \(expected.7) | true | true | true",
                "alpha | rotsecret.example | \(expected.4) | rotate-secret | rotate-handover | 2 | rotate-handover: rotsecret.example waits | https://pbx.example/rotsecret.example | \(expected.5) | true | true | true",
                "alpha | verify.example | \(expected.0) | onboard | verify | 1 | verify: verify.example waits | https://pbx.example/verify.example | \(expected.1) | false | true | true",
            ], "\(rows.joined(separator: "\n"))")

        // A PBX certificate supplied (not uploaded yet) is enough for an onboarding and for a rotation; an
        // active one from before the rotation is not enough for the rotation.
        try await connection.executeScript(
            unsafeSQL: """
                INSERT INTO onboarder.credentials (tenant_id, kind, source, state, thumbprint, display_name,
                                                   certificate_pem)
                SELECT id, 'certificate', 'pbx', 'supplied', upper(md5(tenant_key || 'new') || '00000000'), 'PBX',
                       '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n'
                  FROM onboarder.tenants WHERE tenant_key IN ('cert.example', 'rotcert.example');
                """)
        let needed = try await connection.query(
            "SELECT customer || ' ' || certificate_needed::text FROM dashboard.handover_waiting WHERE msp = 'alpha'"
        ).map { try $0[0].decode(String.self) }
        #expect(
            needed == [
                "0f0e0d0c-0b0a-4908-8706-050403020100 true", "cert.example false", "rotcert.example false",
                "rotsecret.example true", "verify.example false",
            ])
        await connection.close()

        // An operator of alpha sees alpha's customers only, in the same order.
        let alphaOperator = try await TestDatabase.login(.operator, msps: ["alpha"], database: name, owner: owner)
        let operatorConnection = try await PostgresConnection.connect(alphaOperator)
        let seen = try await operatorConnection.query("SELECT customer FROM dashboard.handover_waiting").map {
            try $0[0].decode(String.self)
        }
        #expect(
            seen == [
                "0f0e0d0c-0b0a-4908-8706-050403020100", "cert.example", "rotcert.example", "rotsecret.example",
                "verify.example",
            ])
        await operatorConnection.close()
        // An enqueuer reads no dashboard.
        let enqueuer = try await TestDatabase.login(.enqueuer, msps: ["alpha"], database: name, owner: owner)
        let enqueuerConnection = try await PostgresConnection.connect(enqueuer)
        let refused = await failure {
            _ = try await enqueuerConnection.query("SELECT * FROM dashboard.handover_waiting")
        }
        #expect(refused?.sqlState == "42501")
        await enqueuerConnection.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// A certificate recorded from an earlier onboarding does not settle it: when the job's latest look found
    /// the PBX's certificate missing from the app (the PBX re-keyed or reinstalled), the certificate is needed
    /// until the technician supplies one after that look.
    @Test func theLatestLookFindingTheCertificateMissingMakesItNeeded() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("handovercertneeded")
        let connection = try await PostgresConnection.connect(owner)
        try await connection.executeScript(unsafeSQL: Self.fixture)
        func needed() async throws -> Bool {
            try await connection.query(
                "SELECT certificate_needed FROM dashboard.handover_waiting WHERE customer = 'verify.example'"
            ).single()[0].decode(Bool.self)
        }
        #expect(try await needed() == false, "its PBX certificate is recorded active")
        func look(certificateNeeded: Bool, minutesAgo: Int) async throws {
            try await connection.query(
                """
                INSERT INTO onboarder.events (job_id, kind, step, detail, at)
                SELECT j.id, 'handover_check', 'verify',
                       jsonb_build_object('certificate_needed', \(String(certificateNeeded))),
                       now() - \(minutesAgo) * interval '1 minute'
                  FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
                 WHERE t.tenant_key = 'verify.example' AND j.kind = 'onboard'
                """)
        }
        try await look(certificateNeeded: true, minutesAgo: 30)
        #expect(try await needed() == true, "the latest look found the certificate missing")
        // Supplied after that look: the technician did it.
        try await connection.query(
            """
            INSERT INTO onboarder.credentials (tenant_id, kind, source, state, thumbprint, display_name,
                                               certificate_pem, created_at)
            SELECT id, 'certificate', 'pbx', 'supplied', repeat('C', 40), 'PBX certificate',
                   '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n', now() - interval '10 minutes'
              FROM onboarder.tenants WHERE tenant_key = 'verify.example'
            """)
        #expect(try await needed() == false, "supplied after the look")
        // A later look that finds it missing again (the supplied one is not the key the PBX signs with).
        try await look(certificateNeeded: true, minutesAgo: 1)
        #expect(try await needed() == true)
        try await look(certificateNeeded: false, minutesAgo: 0)
        #expect(try await needed() == false, "the latest look no longer names the certificate")
        await connection.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// A sheet's showings in one call (`record_secret_exports`): each secret's export recorded with its key id,
    /// each customer's waiting jobs woken once however many of its secrets were shown; a credential that is
    /// not a client secret (or does not exist) refuses the whole call, naming it, and records nothing.
    @Test func theSecretsShownAreRecordedInOneCallAllOrNothing() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("secretexports")
        let connection = try await PostgresConnection.connect(owner)
        try await connection.executeScript(
            unsafeSQL: Self.fixture + """
                UPDATE onboarder.jobs SET run_at = now() + interval '1 hour' WHERE state = 'waiting';
                -- rotsecret.example: the old secret and the rotation's new one; beta.example: its secret.
                INSERT INTO onboarder.credentials (tenant_id, kind, source, state, key_id, display_name, sealed, job_id)
                SELECT t.id, 'password', 'addPassword', p.state, md5(t.tenant_key || p.state)::uuid, 'PBX Secret',
                       'og1.k1.c2VhbGVk', j.id
                  FROM onboarder.tenants t JOIN onboarder.jobs j ON j.tenant_id = t.id
                  JOIN (VALUES ('rotsecret.example', 'active'), ('rotsecret.example', 'pending'),
                               ('beta.example', 'active')) AS p(key, state) ON p.key = t.tenant_key;
                """)
        let worker = try await PostgresConnection.connect(
            try await TestDatabase.login(.worker, database: name, owner: owner))
        func ids(_ sql: PostgresQuery) async throws -> [Int64] {
            try await connection.query(sql).map { try $0[0].decode(Int64.self) }
        }
        let secrets = try await ids("SELECT id FROM onboarder.credentials WHERE kind = 'password' ORDER BY id")
        let certificate = try await ids("SELECT min(id) FROM onboarder.credentials WHERE kind = 'certificate'")[0]
        func recorded() async throws -> [String] {
            try await connection.query(
                """
                SELECT l.line FROM (
                    SELECT e.kind || ' ' || t.tenant_key || ' ' || coalesce(e.detail->>'key_id', e.detail->>'why')
                      FROM onboarder.events e JOIN onboarder.jobs j ON j.id = e.job_id
                      JOIN onboarder.tenants t ON t.id = j.tenant_id
                     WHERE e.kind IN ('secret_exported', 'woken')) AS l(line)
                 ORDER BY l.line COLLATE "C"
                """
            ).map { try $0[0].decode(String.self) }
        }
        for refused in [certificate, secrets.last! + 1000] {
            let error = await failure {
                _ = try await worker.query(
                    "SELECT * FROM onboarder.record_secret_exports(\(secrets + [refused]), 'tech.tom')")
            }
            #expect(error?.sqlState == "P0002" && error?.message == "no client secret \(refused)", "\(refused)")
        }
        #expect(try await recorded().isEmpty, "a refused call recorded something")
        let jobs = try await worker.query(
            "SELECT credential, job FROM onboarder.record_secret_exports(\(secrets), 'tech.tom')"
        ).map { try $0.decode((Int64, Int64).self).0 }
        #expect(jobs == secrets)
        let key = { (customer: String, state: String) in
            try await connection.query("SELECT md5(\(customer + state))::uuid::text").single()[0].decode(String.self)
        }
        let exported = [
            "secret_exported rotsecret.example \(try await key("rotsecret.example", "active"))",
            "secret_exported rotsecret.example \(try await key("rotsecret.example", "pending"))",
            "secret_exported beta.example \(try await key("beta.example", "active"))",
        ]
        // Once per customer: rotsecret.example's rotation is woken once for its two secrets.
        let events = try await recorded()
        let woken = ["woken beta.example secret exported", "woken rotsecret.example secret exported"]
        #expect(events == (exported + woken).sorted(), "\(events)")
        #expect(
            try await ids("SELECT id FROM onboarder.credentials WHERE exported_at IS NOT NULL ORDER BY id") == secrets)
        await worker.close()
        await connection.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// The technician's word finds the waiting jobs by the view's conditions, not through the view, which works
    /// out each waiting job's columns from its events: the call reads no event (the table's statistics), and
    /// wakes the jobs the view lists.
    @Test func theTechniciansWordReadsNoJobsEvents() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("handoverreads")
        let connection = try await PostgresConnection.connect(owner)
        try await connection.executeScript(unsafeSQL: Self.fixture)
        func eventReads() async throws -> Int {
            try await connection.query("SELECT pg_stat_force_next_flush()")
            try await connection.query("SELECT pg_stat_clear_snapshot()")
            return try await connection.query(
                """
                SELECT (seq_scan + coalesce(idx_scan, 0))::int FROM pg_stat_user_tables
                 WHERE relid = 'onboarder.events'::regclass
                """
            ).single()[0].decode(Int.self)
        }
        let listed = try await connection.query(
            "SELECT DISTINCT customer_id FROM dashboard.handover_waiting ORDER BY 1"
        ).map { try $0[0].decode(Int64.self) }
        let everyone = try await connection.query("SELECT id FROM onboarder.tenants ORDER BY id").map {
            try $0[0].decode(Int64.self)
        }
        let before = try await eventReads()
        let woken = try await connection.query(
            "SELECT tenant FROM onboarder.handover_done_many(\(everyone), 'tech.tom') WHERE woken > 0 ORDER BY 1"
        ).map { try $0[0].decode(Int64.self) }
        #expect(try await eventReads() == before, "handover_done_many read the jobs' events")
        #expect(woken == listed && !woken.isEmpty)
        await connection.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// The sheet reads of each waiting job only the events that say when its wait began and what its last look
    /// found (the partial index events_job_waits), not every event the job has: a job at the hand-over has
    /// about 30, and the sheet lists every waiting job on each round. Here 400 more per job, which the view's
    /// reads (the table's statistics: rows fetched through its indexes) must not grow with.
    @Test func theSheetReadsOnlyEachWaitingJobsWaitEvents() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("handoversheetreads")
        let connection = try await PostgresConnection.connect(owner)
        try await connection.executeScript(unsafeSQL: Self.fixture)
        /// Rows of the events table read, and entries of every recent wait's index walked.
        func eventRowsFetched() async throws -> (rows: Int, recentWaits: Int) {
            try await connection.query("SELECT pg_stat_force_next_flush()")
            try await connection.query("SELECT pg_stat_clear_snapshot()")
            return try await connection.query(
                """
                SELECT (seq_tup_read + coalesce(idx_tup_fetch, 0))::int,
                       (SELECT idx_tup_read::int FROM pg_stat_user_indexes WHERE indexrelname = 'events_recent_waits')
                  FROM pg_stat_user_tables WHERE relid = 'onboarder.events'::regclass
                """
            ).single().decode((Int, Int).self)
        }
        let rows = try await Self.waitingRows(connection)
        try await connection.executeScript(
            unsafeSQL: """
                INSERT INTO onboarder.events (job_id, kind, step, at)
                SELECT j.id, 'step_done', 'step' || k, now() - interval '12 hours'
                  FROM onboarder.jobs j, generate_series(1, 400) AS k;
                ANALYZE onboarder.events;
                """)
        let before = try await eventRowsFetched()
        #expect(try await Self.waitingRows(connection) == rows, "the other events changed what the sheet says")
        let after = try await eventRowsFetched()
        let fetched = after.rows - before.rows
        // The fixture's wait events are 9 in all; each waiting job's are read at most twice (its wait, its look).
        #expect(fetched <= 2 * 9 + 6, "the sheet read \(fetched) event rows for \(rows.count) waiting jobs")
        #expect(after.recentWaits == before.recentWaits, "the sheet walked the index of every recent wait")
        await connection.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// Many customers' certificates in one call (`cert add --dir`), each row on its own: a customer of another
    /// MSP and one that does not exist refused alike, a value out of bounds refused, the others recorded; a
    /// customer's waiting jobs woken on its first row only. The one-certificate form raises the row's refusal.
    @Test func certificatesAreSuppliedManyAtOnceEachOnItsOwn() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("supplymany")
        let connection = try await PostgresConnection.connect(owner)
        try await connection.executeScript(unsafeSQL: Self.fixture)
        func tenant(_ key: String) async throws -> Int64 {
            try await connection.query("SELECT id FROM onboarder.tenants WHERE tenant_key = \(key)").single()[0]
                .decode(Int64.self)
        }
        let (cert, beta, verify) = (
            try await tenant("cert.example"), try await tenant("beta.example"), try await tenant("verify.example")
        )
        let missing = try await connection.query("SELECT max(id) + 1 FROM onboarder.tenants").single()[0]
            .decode(Int64.self)
        let alphaOperator = try await TestDatabase.login(.operator, msps: ["alpha"], database: name, owner: owner)
        let operatorConnection = try await PostgresConnection.connect(alphaOperator)
        let pem = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"
        let rows: [(Int64, String)] = [
            (cert, String(repeating: "A1", count: 20)), (beta, String(repeating: "B2", count: 20)),
            (missing, String(repeating: "C3", count: 20)), (verify, "not a thumbprint"),
            (cert, String(repeating: "d4", count: 20)),
        ]
        let answers = try await operatorConnection.query(
            """
            SELECT ordinal || ' ' || coalesce(recorded::text, '-') || ' ' || coalesce(woken::text, '-') || ' '
                   || coalesce(code, '-') || ' ' || coalesce(refusal, '-')
              FROM onboarder.supply_certificates(\(rows.map(\.0)), \(rows.map(\.1)), \(rows.map { _ in pem }),
                                                 \(rows.map { _ in "PBX certificate" }),
                                                 \(rows.map { _ in Date().addingTimeInterval(86_400) })::timestamptz[],
                                                 'tech.tom')
             ORDER BY ordinal
            """
        ).map { try $0[0].decode(String.self) }
        #expect(
            answers == [
                "1 true 1 - -", "2 - - P0002 no customer \(beta)", "3 - - P0002 no customer \(missing)",
                "4 - - 22023 thumbprint: a SHA-1 thumbprint is 40 hexadecimal digits", "5 true 0 - -",
            ], "\(answers)")
        let recorded = try await connection.query(
            """
            SELECT t.tenant_key || ' ' || c.thumbprint || ' ' || c.state FROM onboarder.credentials c
              JOIN onboarder.tenants t ON t.id = c.tenant_id WHERE c.source = 'pbx' AND c.state = 'supplied'
             ORDER BY c.id
            """
        ).map { try $0[0].decode(String.self) }
        #expect(
            recorded == [
                "cert.example \(String(repeating: "A1", count: 20)) supplied",
                "cert.example \(String(repeating: "D4", count: 20)) supplied",
            ], "\(recorded)")
        // The one-certificate form: the refusal raised with its code.
        let refused = await failure {
            _ = try await operatorConnection.query(
                """
                SELECT * FROM onboarder.supply_certificate(\(beta), \(String(repeating: "B2", count: 20)), \(pem),
                                                           'PBX certificate', now() + interval '1 day', 'tech.tom')
                """)
        }
        #expect(refused?.sqlState == "P0002", "\(String(describing: refused))")
        #expect(refused?.message.contains("no customer \(beta)") == true, "\(String(describing: refused))")
        await operatorConnection.close()
        await connection.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// One customer at a time (`handover_done`, for SQL users) or all in one call (`handover_done_many`, what
    /// `onboarder handover done` calls): the same jobs woken, the same events.
    @Test(arguments: [false, true])
    func handoverDoneWakesTheCustomersWaitingJobsAndRecordsWhoSaidSo(inOneCall: Bool) async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("handoverdone")
        let connection = try await PostgresConnection.connect(owner)
        try await connection.executeScript(
            unsafeSQL: Self.fixture + """
                -- verify.example also has a rotation waiting for its technician: one hand-over wakes both.
                INSERT INTO onboarder.jobs (kind, msp_id, tenant_id, state, wait_reason, current_step, run_at)
                SELECT 'rotate-secret', msp_id, id, 'waiting', 'input', 'rotate-test-pbx', now() + interval '1 hour'
                  FROM onboarder.tenants WHERE tenant_key = 'verify.example';
                UPDATE onboarder.jobs SET run_at = now() + interval '1 hour' WHERE state = 'waiting';
                """)
        func tenant(_ key: String) async throws -> Int64 {
            try await connection.query("SELECT id FROM onboarder.tenants WHERE tenant_key = \(key)").single()[0]
                .decode(Int64.self)
        }
        let (verify, retrying, dns, beta) = (
            try await tenant("verify.example"), try await tenant("retrying.example"), try await tenant("dns.example"),
            try await tenant("beta.example")
        )
        let missing = try await connection.query("SELECT max(id) + 1 FROM onboarder.tenants").single()[0]
            .decode(Int64.self)
        let alphaOperator = try await TestDatabase.login(.operator, msps: ["alpha"], database: name, owner: owner)
        let operatorConnection = try await PostgresConnection.connect(alphaOperator)
        if inOneCall {
            // Each customer once, whatever the repeats; another MSP's customer and one that does not exist alike.
            let answers = try await operatorConnection.query(
                """
                SELECT tenant || ' ' || coalesce(woken::text, 'null') FROM onboarder.handover_done_many(
                    \([verify, retrying, dns, beta, verify, missing]), 'tech.tom')
                """
            ).map { try $0[0].decode(String.self) }
            let expected: [(Int64, String)] = [
                (verify, "2"), (retrying, "0"), (dns, "0"), (beta, "null"), (missing, "null"),
            ]
            #expect(answers == expected.sorted { $0.0 < $1.0 }.map { "\($0.0) \($0.1)" })
        } else {
            func done(_ tenant: Int64) async throws -> Int {
                try await operatorConnection.query("SELECT onboarder.handover_done(\(tenant), 'tech.tom')").single()[0]
                    .decode(Int.self)
            }
            #expect(try await done(verify) == 2)
            // Waiting for a retry's backoff is not waiting for the technician.
            #expect(try await done(retrying) == 0)
            // Nor is waiting for a DNS record published by hand: the technician's word says nothing of it.
            #expect(try await done(dns) == 0)
            for unknown in [beta, missing] {
                let other = await failure { _ = try await done(unknown) }
                #expect(other?.sqlState == "P0002" && other?.message == "no customer \(unknown)")
            }
        }
        await operatorConnection.close()

        let due = try await connection.query(
            """
            SELECT t.tenant_key || ' ' || j.kind || ' ' || (j.run_at <= now())::text
              FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
             WHERE j.state = 'waiting'
               AND t.tenant_key IN ('verify.example', 'retrying.example', 'beta.example', 'dns.example')
             ORDER BY j.id
            """
        ).map { try $0[0].decode(String.self) }
        #expect(
            due == [
                "verify.example onboard true", "retrying.example onboard false", "dns.example onboard false",
                "beta.example onboard false", "verify.example rotate-secret true",
            ])
        let login = alphaOperator.connectionString!.userName
        let events = try await connection.query(
            """
            SELECT j.kind || ' ' || e.kind || ' ' || coalesce(e.step, '-') || ' ' || e.actor || ' '
                   || (e.db_user = \(login))::text || ' ' || coalesce(e.detail->>'why', e.detail->>'tenant_id')
              FROM onboarder.events e JOIN onboarder.jobs j ON j.id = e.job_id
             WHERE e.kind IN ('handover_done', 'woken') ORDER BY e.kind, j.id
            """
        ).map { try $0[0].decode(String.self) }
        #expect(
            events == [
                "onboard handover_done verify tech.tom true \(verify)",
                "rotate-secret handover_done rotate-test-pbx tech.tom true \(verify)",
                "onboard woken - tech.tom true handover done",
                "rotate-secret woken - tech.tom true handover done",
            ], "\(events)")
        await connection.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}
