import Foundation
import Postgres
import Queue
import TestSupport
import Testing

@Suite("Dashboard views and per-MSP row-level security", .serialized)
struct DashboardTests {
    @Test func viewsAgreeWithTheTablesAndStatusJSONWithTheViews() async throws {
        let (configuration, name) = try await TestDatabase.makeMigratedScratchDatabase("dashnumbers")
        let pool = PostgresPool(configuration: configuration, maxConnections: 2)
        let queue = JobQueue(pool: pool)
        var requests: [EnqueueRequest] = []
        for index in 0..<120 {
            requests.append(
                EnqueueRequest(msp: "msp\(index % 3)", tenantKey: "t\(index).example.com", kind: "sync"))
        }
        _ = try await queue.enqueue(requests)
        // A second, later job for some tenants: tenant_status must show the latest.
        try await pool.query(
            """
            UPDATE onboarder.jobs SET state = 'failed', finished_at = now(), attention_at = now(), last_error = 'old'
             WHERE id % 10 = 0;
            """)
        _ = try await queue.enqueue(
            (0..<120).filter { $0 % 10 == 9 }.map {
                EnqueueRequest(msp: "msp\($0 % 3)", tenantKey: "t\($0 - 9).example.com", kind: "sync")
            })
        try await pool.query(
            """
            INSERT INTO onboarder.workers (id, host, pid, concurrency, version) VALUES ('w', 'h', 1, 5, 'test')
            """)
        try await pool.query(
            """
            UPDATE onboarder.jobs SET state = CASE id % 6
                    WHEN 1 THEN 'succeeded' WHEN 2 THEN 'succeeded_with_warnings' WHEN 3 THEN 'needs_attention'
                    WHEN 4 THEN 'waiting' ELSE state END,
                   attention = CASE WHEN id % 6 = 3 THEN 'do this' END,
                   attention_at = CASE WHEN id % 6 = 3 THEN now() END,
                   wait_reason = CASE WHEN id % 6 = 4 THEN 'throttled' END,
                   finished_at = CASE WHEN id % 6 IN (1, 2) THEN now() - (id % 90) * interval '1 minute' END
             WHERE state = 'queued' AND id % 6 BETWEEN 1 AND 4
            """)
        try await pool.query(
            "UPDATE onboarder.jobs SET state = 'running', worker_id = 'w' WHERE state = 'queued' AND id % 7 = 0")
        let overview = try await pool.query(
            """
            SELECT msp, queued, running, waiting, needs_attention, failed, succeeded, with_warnings, finished_last_hour
              FROM dashboard.queue_overview ORDER BY msp
            """)
        let direct = try await pool.query(
            """
            SELECT msp_id, count(*) FILTER (WHERE state = 'queued'), count(*) FILTER (WHERE state = 'running'),
                   count(*) FILTER (WHERE state = 'waiting'), count(*) FILTER (WHERE state = 'needs_attention'),
                   count(*) FILTER (WHERE state = 'failed'),
                   count(*) FILTER (WHERE state IN ('succeeded', 'succeeded_with_warnings')),
                   count(*) FILTER (WHERE state = 'succeeded_with_warnings'),
                   count(*) FILTER (WHERE finished_at > now() - interval '1 hour')
              FROM onboarder.jobs GROUP BY msp_id ORDER BY msp_id
            """)
        #expect(overview.count == 3)
        func texts(_ row: PostgresRow) throws -> [String] { try (0..<9).map { try row[$0].decode(String.self) } }
        for (view, table) in zip(overview, direct) {
            #expect(try texts(view) == texts(table))
        }
        // Every state appears in the fixture.
        let states = Set(
            try await pool.query("SELECT DISTINCT state FROM onboarder.jobs").map { try $0[0].decode(String.self) })
        #expect(states.isSuperset(of: ["queued", "running", "waiting", "needs_attention", "failed", "succeeded"]))
        let attention = try await pool.query("SELECT count(*)::int FROM dashboard.needs_attention").single()[0]
            .decode(Int.self)
        #expect(
            attention
                == (try await pool.query(
                    "SELECT count(*)::int FROM onboarder.jobs WHERE state = 'needs_attention'"
                ).single()[0].decode(Int.self)))
        // recent_failures: every job that entered needs_attention or failed in the last day (attention_at).
        #expect(
            try await pool.query("SELECT count(*)::int FROM dashboard.recent_failures").single()[0].decode(Int.self)
                == (try await pool.query(
                    "SELECT count(*)::int FROM onboarder.jobs WHERE state IN ('needs_attention', 'failed')"
                ).single()[0].decode(Int.self)))
        // tenant_status: one row per tenant, its latest job.
        let mismatched = try await pool.query(
            """
            SELECT count(*)::int FROM dashboard.tenant_status s
             WHERE s.job_id <> (SELECT max(j.id) FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
                                 WHERE t.tenant_key = s.tenant AND t.msp_id = s.msp)
            """
        ).single()[0].decode(Int.self)
        #expect(mismatched == 0)
        #expect(
            try await pool.query("SELECT count(*)::int FROM dashboard.tenant_status").single()[0].decode(Int.self)
                == 120)
        #expect(
            try await pool.query("SELECT running::int FROM dashboard.workers WHERE worker = 'w'").single()[0].decode(
                Int.self)
                == (try await pool.query("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'running'").single()[0]
                    .decode(Int.self)))

        // `onboarder status --format json` is the view, row for row, for an operator of the three MSPs.
        let operatorLogin = try await TestDatabase.login(
            .operator, msps: ["msp0", "msp1", "msp2"], database: name, owner: configuration)
        let result = try await runCommand(
            [builtProductsDirectory.appendingPathComponent("onboarder").path, "status", "--format", "json"],
            environment: ["ONBOARDER_DATABASE_URL": operatorLogin.connectionString!, "ONBOARDER_LOG_FORMAT": "json"])
        #expect(result.status == 0)
        let lines = result.output.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(lines.count == 3)
        for (line, row) in zip(lines, overview) {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
            let names = [
                "msp", "queued", "running", "waiting", "needs_attention", "failed", "succeeded", "with_warnings",
                "finished_last_hour",
            ]
            #expect(names.map { object[$0] ?? "missing" } == (try texts(row)))
        }
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// Every query of the example Grafana dashboard runs against the views.
    @Test func theGrafanaDashboardsQueriesRun() async throws {
        let (configuration, name) = try await TestDatabase.makeMigratedScratchDatabase("grafana")
        let pool = PostgresPool(configuration: configuration, maxConnections: 1)
        _ = try await JobQueue(pool: pool).enqueue(
            EnqueueRequest(msp: "msp0", tenantKey: "a.example.com", kind: "sync"))
        let file = TestDatabase.repositoryRoot.appendingPathComponent("ops/grafana-dashboard.json")
        let dashboard = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        var queries: [String] = []
        for panel in dashboard["panels"] as? [[String: Any]] ?? [] {
            for target in panel["targets"] as? [[String: Any]] ?? [] {
                if let sql = target["rawSql"] as? String { queries.append(sql) }
            }
        }
        if let variables = (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] {
            queries += variables.compactMap { $0["type"] as? String == "query" ? $0["query"] as? String : nil }
        }
        #expect(queries.count >= 12)
        for query in queries {
            let sql = query.replacingOccurrences(of: "${msp:sqlstring}", with: "'msp0'")
            #expect(!sql.contains("${"), "an unknown Grafana variable in: \(sql)")
            _ = try await pool.query(PostgresQuery(unsafeSQL: sql))
        }
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    @Test func operatorsSeeOnlyTheirMSPAndWriteNothing() async throws {
        let (configuration, name) = try await TestDatabase.makeMigratedScratchDatabase("dashboards")
        let pool = PostgresPool(configuration: configuration, maxConnections: 2)
        let queue = JobQueue(pool: pool)
        for msp in ["alpha", "beta"] {
            for index in 0..<3 {
                try await queue.enqueue(
                    EnqueueRequest(msp: msp, tenantKey: "\(msp)\(index).example.com", kind: "sync"))
            }
        }
        try await pool.query(
            """
            INSERT INTO onboarder.credentials (tenant_id, kind, source, state, key_id, display_name, sealed, expires_at)
            SELECT id, 'password', 'addPassword', 'active', gen_random_uuid(), 'PBX Secret · onboarder job 1',
                   'og1.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', now() + interval '20 days'
              FROM onboarder.tenants
            """)
        // Every view runs, for the owner (who sees everything).
        for view in [
            "queue_overview", "tenant_status", "needs_attention", "step_latency", "throttling", "credentials_expiry",
            "workers", "recent_failures", "handover_waiting", "consent_waiting",
        ] {
            _ = try await pool.query(PostgresQuery(unsafeSQL: "SELECT * FROM dashboard.\(view)"))
        }
        #expect(try await pool.query("SELECT msp FROM dashboard.queue_overview").count == 2)

        // An operator of alpha.
        let operatorConfiguration = try await TestDatabase.login(
            .operator, msps: ["alpha"], database: name, owner: configuration)
        let operatorPool = PostgresPool(configuration: operatorConfiguration, maxConnections: 1)
        func strings(_ sql: String) async throws -> [String] {
            try await operatorPool.query(PostgresQuery(unsafeSQL: sql)).map { try $0[0].decode(String.self) }
        }
        #expect(
            try await strings(
                "SELECT (pg_has_role('onboarder_operator', 'MEMBER') AND NOT rolsuper)::text FROM pg_roles WHERE rolname = current_user"
            ) == ["true"])
        #expect(try await strings("SELECT msp FROM dashboard.queue_overview") == ["alpha"])
        #expect(Set(try await strings("SELECT DISTINCT msp FROM dashboard.tenant_status")) == ["alpha"])
        #expect(try await strings("SELECT tenant FROM dashboard.tenant_status").count == 3)
        #expect(Set(try await strings("SELECT DISTINCT msp_id FROM onboarder.jobs")) == ["alpha"])
        #expect(Set(try await strings("SELECT DISTINCT msp FROM dashboard.credentials_expiry")) == ["alpha"])
        #expect(try await strings("SELECT count(*)::text FROM onboarder.events") == ["3"])
        // Never the sealed secrets, never a write.
        for statement in [
            "SELECT sealed FROM onboarder.credentials", "SELECT * FROM onboarder.credentials",
            "UPDATE onboarder.jobs SET priority = 1", "DELETE FROM onboarder.events",
            "INSERT INTO onboarder.msps (id, display_name) VALUES ('gamma', 'gamma')",
            "SELECT * FROM onboarder.enqueue('alpha', 'x.example.com', 'onboard')",
        ] {
            await #expect(throws: PostgresError.self, "\(statement)") {
                try await operatorPool.query(PostgresQuery(unsafeSQL: statement))
            }
        }
        await operatorPool.close()
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}
