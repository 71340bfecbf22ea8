import Foundation
import Postgres
import Store
import TestSupport
import Testing

@Suite("Rotation schedule and credential records")
struct RotationScheduleTests {
    /// acme has a.example (onboarded) and b.example (never onboarded); beta has c.example (onboarded).
    /// Secrets expire in 5 days (a), 40 days (b), 10 days (c, and a superseded one in 1 day); a's
    /// certificate in 20 days.
    static func fixture(_ label: String) async throws -> (PostgresPool, name: String) {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase(label)
        let pool = PostgresPool(configuration: owner, maxConnections: 2)
        _ = try await Jobs.enqueueAll(
            [onboard("acme", "a.example"), onboard("beta", "c.example")], actor: nil, on: pool)
        try await pool.query("INSERT INTO onboarder.tenants (msp_id, tenant_key) VALUES ('acme', 'b.example')")
        try await pool.query(
            """
            INSERT INTO onboarder.credentials (tenant_id, kind, source, state, key_id, thumbprint, certificate_pem,
                                               display_name, sealed, expires_at)
            SELECT t.id, c.kind, c.source, c.state, c.key_id::uuid, c.thumbprint, c.pem, 'x', c.sealed,
                   now() + c.days * interval '1 day'
              FROM (VALUES ('a.example', 'password', 'addPassword', 'active', gen_random_uuid()::text, NULL, NULL,
                            'og1.old.AAAA', 5),
                           ('b.example', 'password', 'addPassword', 'active', gen_random_uuid()::text, NULL, NULL,
                            'og1.old.BBBB', 40),
                           ('c.example', 'password', 'addPassword', 'active', gen_random_uuid()::text, NULL, NULL,
                            'og1.new.CCCC', 10),
                           ('c.example', 'password', 'addPassword', 'superseded', gen_random_uuid()::text, NULL, NULL,
                            'og1.old.DDDD', 1),
                           ('a.example', 'certificate', 'pbx', 'active', NULL, repeat('AB', 20), 'PEM', NULL, 20))
                   AS c(tenant, kind, source, state, key_id, thumbprint, pem, sealed, days)
              JOIN onboarder.tenants t ON t.tenant_key = c.tenant
            """)
        return (pool, name)
    }

    static func keys(_ due: [DueCredential]) -> [String] { due.map { "\($0.tenantKey)/\($0.kind)" } }

    @Test func dueIsActiveCredentialsInTheWindowScopeAndCustomers() async throws {
        let (pool, name) = try await Self.fixture("rotationdue")
        func due(
            _ scope: RotationSchedule.Scope = .all, days: Int = 30, force: Bool = false, msp: String? = nil,
            tenant: Int64? = nil
        ) async throws -> [String] {
            Self.keys(
                try await RotationSchedule.due(
                    scope: scope, within: .seconds(days * 86_400), force: force, msp: msp, tenant: tenant, on: pool))
        }
        // Soonest first; the superseded secret is never due.
        #expect(try await due() == ["a.example/password", "c.example/password", "a.example/certificate"])
        #expect(try await due(days: 7) == ["a.example/password"])
        #expect(try await due(.secrets) == ["a.example/password", "c.example/password"])
        #expect(try await due(.certificates) == ["a.example/certificate"])
        #expect(try await due(msp: "acme") == ["a.example/password", "a.example/certificate"])
        // --force: every selected one, however far its expiry.
        let b = try #require(try await Tenants.matching("b.example", on: pool).first)
        #expect(try await due(force: true, tenant: b.id) == ["b.example/password"])
        #expect(try await due(tenant: b.id) == [])

        // Never onboarded: nothing to take the PBX's details from, so no rotation request.
        let never = try await RotationSchedule.due(
            scope: .all, within: .seconds(0), force: true, msp: nil, tenant: b.id, on: pool)
        #expect(never.count == 1 && never[0].rotationRequest == nil)
        let onboarded = try await RotationSchedule.due(
            scope: .secrets, within: .seconds(7 * 86_400), force: false, msp: nil, tenant: nil, on: pool)
        #expect(onboarded.first?.rotationRequest?.kind == "rotate-secret")
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    @Test func resealBatchRollsBackWithTheCallersTransaction() async throws {
        let (pool, name) = try await Self.fixture("reseal")
        #expect(try await CredentialRecords.countNotUnder(keyID: "new", on: pool) == 3)
        await #expect(throws: RollBack.self) {
            try await pool.transaction { connection in
                let moved = try await CredentialRecords.resealBatch(notUnder: "new", limit: 10, on: connection) {
                    "og1.new." + $0.sealed.split(separator: ".").last!
                }
                #expect(moved == 3)
                #expect(try await CredentialRecords.countNotUnder(keyID: "new", on: connection) == 0)
                throw RollBack()
            }
        }
        #expect(try await CredentialRecords.countNotUnder(keyID: "new", on: pool) == 3)
        // On the pool: its own transaction per batch; fewer than the limit means done.
        #expect(
            try await CredentialRecords.resealBatch(notUnder: "new", limit: 2, on: pool) { _ in "og1.new.XXXX" } == 2)
        #expect(
            try await CredentialRecords.resealBatch(notUnder: "new", limit: 2, on: pool) { _ in "og1.new.YYYY" } == 1)
        #expect(try await CredentialRecords.countNotUnder(keyID: "new", on: pool) == 0)
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}
