import Foundation
import Postgres
import TestSupport
import Testing

/// Offboarding's enqueue in SQL (sql/functions/80_offboard.sql) against the enqueues it must exclude: an
/// onboarding or a rotation of a customer being offboarded would run after the offboarding and undo it.
@Suite("Offboarding's enqueue in SQL", .serialized)
struct OffboardSQLTests {
    /// A migrated database with MSP alpha, its onboarded customer contoso.example (a succeeded onboarding),
    /// an operator login and an enqueuer login of alpha.
    struct Lab {
        let name: String
        let owner: PostgresConnection
        let `operator`: PostgresConnection
        let enqueuer: PostgresConnection
        /// The two logins' backends: read before either is busy (a connection runs one query at a time).
        let operatorPID: Int32
        let enqueuerPID: Int32

        init() async throws {
            let (ownerConfiguration, name) = try await TestDatabase.makeMigratedScratchDatabase("offboard-race")
            self.name = name
            owner = try await PostgresConnection.connect(ownerConfiguration)
            try await owner.executeScript(
                unsafeSQL: """
                    INSERT INTO onboarder.msps (id, display_name) VALUES ('alpha', 'Alpha');
                    INSERT INTO onboarder.tenants (msp_id, tenant_key) VALUES ('alpha', 'contoso.example');
                    INSERT INTO onboarder.integrations (tenant_id, path, entra_tenant_id, default_domain, app_object_id,
                                                        onboarded_at)
                    SELECT id, 'teams', md5('contoso')::uuid, 'contoso.example', md5('app')::uuid, now()
                      FROM onboarder.tenants;
                    INSERT INTO onboarder.jobs (kind, msp_id, tenant_id, state, finished_at, payload)
                    SELECT 'onboard', 'alpha', id, 'succeeded', now(), '\(onboardingPayload())'::jsonb
                      FROM onboarder.tenants;
                    """)
            func login(_ role: StaffRole) async throws -> PostgresConnection {
                try await PostgresConnection.connect(
                    TestDatabase.login(role, msps: ["alpha"], database: name, owner: ownerConfiguration))
            }
            `operator` = try await login(.operator)
            enqueuer = try await login(.enqueuer)
            operatorPID = try await `operator`.query("SELECT pg_backend_pid()").single()[0].decode(Int32.self)
            enqueuerPID = try await enqueuer.query("SELECT pg_backend_pid()").single()[0].decode(Int32.self)
        }

        func offboard() async throws {
            _ = try await `operator`.query(
                "SELECT job_id FROM onboarder.enqueue_offboard('alpha', ARRAY['contoso.example'], p_actor => 'olga')")
        }

        func onboard() async throws {
            _ = try await enqueuer.query(
                """
                SELECT job_id FROM onboarder.enqueue_many(
                    ARRAY['alpha'], ARRAY['contoso.example'], ARRAY['onboard'], ARRAY[\(onboardingPayload())]::jsonb[],
                    p_actor => 'alice')
                """)
        }

        /// Until backend `pid` waits for a lock another session holds (bounded: the test fails if it never
        /// does, instead of hanging).
        func waitUntilBlocked(_ pid: Int32) async throws -> Bool {
            for _ in 0..<300 {
                let blocked = try await owner.query("SELECT cardinality(pg_blocking_pids(\(pid))) > 0").single()[0]
                    .decode(Bool.self)
                if blocked { return true }
                try await Task.sleep(for: .milliseconds(20))
            }
            return false
        }

        func active() async throws -> [String] {
            try await owner.query(
                """
                SELECT kind FROM onboarder.jobs
                 WHERE state IN ('queued', 'running', 'waiting', 'needs_attention') ORDER BY kind
                """
            ).map { try $0[0].decode(String.self) }
        }

        func close() async throws {
            for connection in [owner, `operator`, enqueuer] { await connection.close() }
            try await TestDatabase.dropScratchDatabase(name)
        }
    }

    /// The offboarding's transaction is open when the onboarding is enqueued: the onboarding waits for it, then
    /// sees the offboard job and is refused. Without the lock it would pass its check (the offboarding is not
    /// committed) and both would run.
    @Test func anOnboardingEnqueuedWhileAnOffboardingIsEnqueuedWaitsAndIsRefused() async throws {
        let lab = try await Lab()
        try await lab.operator.executeScript(unsafeSQL: "BEGIN")
        try await lab.offboard()
        let onboarding = Task { await failure { try await lab.onboard() } }
        #expect(try await lab.waitUntilBlocked(lab.enqueuerPID), "the onboarding did not wait for the offboarding")
        try await lab.operator.executeScript(unsafeSQL: "COMMIT")
        let error = await onboarding.value
        #expect(
            error?.sqlState == "55006" && error?.message.contains("is being offboarded") == true,
            "\(String(describing: error))")
        #expect(try await lab.active() == ["offboard"])
        try await lab.close()
    }

    /// The other way round: the onboarding's transaction is open; the offboarding waits for it, then sees the
    /// onboarding and is refused ("cancel job N first").
    @Test func anOffboardingEnqueuedWhileAnOnboardingIsEnqueuedWaitsAndIsRefused() async throws {
        let lab = try await Lab()
        try await lab.enqueuer.executeScript(unsafeSQL: "BEGIN")
        try await lab.onboard()
        let offboarding = Task { await failure { try await lab.offboard() } }
        #expect(try await lab.waitUntilBlocked(lab.operatorPID), "the offboarding did not wait for the onboarding")
        try await lab.enqueuer.executeScript(unsafeSQL: "COMMIT")
        let error = await offboarding.value
        #expect(
            error?.sqlState == "22023" && error?.message.contains("has an active onboard job") == true,
            "\(String(describing: error))")
        #expect(try await lab.active() == ["onboard"])
        try await lab.close()
    }
}
