import Foundation
import Postgres
import Queue
import TestSupport
import Testing

@Suite("Dashboard views and per-MSP row-level security", .serialized)
struct DashboardTests {
    @Test func operatorsSeeOnlyTheirMSPAndWriteNothing() async throws {
        let (configuration, name) = try await TestDatabase.makeMigratedScratchDatabase("dashboards")
        let pool = PostgresPool(configuration: configuration, maxConnections: 2)
        let queue = JobQueue(pool: pool)
        for msp in ["alpha", "beta"] {
            for index in 0..<3 {
                try await queue.enqueue(
                    EnqueueRequest(msp: msp, tenantKey: "\(msp)\(index).example.com", kind: "onboard"))
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
            "workers", "recent_failures",
        ] {
            _ = try await pool.query(PostgresQuery(unsafeSQL: "SELECT * FROM dashboard.\(view)"))
        }
        #expect(try await pool.query("SELECT msp FROM dashboard.queue_overview").count == 2)

        // An operator of alpha.
        let role = "op_alpha_\(UInt32.random(in: 0...UInt32.max))"
        try await pool.query(PostgresQuery(unsafeSQL: "CREATE ROLE \(role) LOGIN IN ROLE onboarder_operator"))
        try await pool.query("INSERT INTO onboarder.operator_msps VALUES (\(role), 'alpha')")
        var operatorConfiguration = configuration
        operatorConfiguration.connectionString = TestDatabase.urlNaming(database: name)
            .replacingOccurrences(of: "://onboarder@", with: "://\(role)@")
        if !(operatorConfiguration.connectionString ?? "").contains(role) {
            operatorConfiguration.connectionString = (operatorConfiguration.connectionString ?? "") + " user=\(role)"
        }
        let operatorPool = PostgresPool(configuration: operatorConfiguration, maxConnections: 1)
        func strings(_ sql: String) async throws -> [String] {
            try await operatorPool.query(PostgresQuery(unsafeSQL: sql)).map { try $0[0].decode(String.self) }
        }
        #expect(try await strings("SELECT current_user::text") == [role])
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
        let admin = PostgresPool(
            configuration: PostgresConfiguration(connectionString: TestDatabase.url), maxConnections: 1)
        try await admin.query(PostgresQuery(unsafeSQL: "DROP ROLE IF EXISTS \(role)"))
        await admin.close()
    }
}
