import Foundation
import Logging
import Migrations
import Postgres
import TestSupport
import Testing

/// One customer, one Entra tenant, as enqueue_many keeps it (sql/functions/20_enqueue.sql, migration 0011),
/// logged in as MSP staff of alpha or beta, as `onboarder enqueue` is.
@Suite("One customer, one Entra tenant: enqueue_many under the enqueuer's login", .serialized)
struct CustomerIdentitySQLTests {
    static let contoso = "7a1f4e2b-1111-4c3d-9e8f-0123456789ab"

    struct Lab {
        let name: String
        let owner: PostgresConfiguration
        let alpha: PostgresConfiguration
        let beta: PostgresConfiguration

        static func make(_ label: String) async throws -> Lab {
            let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase(label)
            try await TwoMSPs.session(owner) { connection in
                try await connection.executeScript(
                    unsafeSQL:
                        "INSERT INTO onboarder.msps (id, display_name) VALUES ('alpha', 'Alpha'), ('beta', 'Beta')")
            }
            return Lab(
                name: name, owner: owner,
                alpha: try await TestDatabase.login(.enqueuer, msps: ["alpha"], database: name, owner: owner),
                beta: try await TestDatabase.login(.enqueuer, msps: ["beta"], database: name, owner: owner))
        }

        /// (ordinal, job, created, state, existing_key) of one enqueue_many call of onboard rows.
        static func enqueue(
            _ connection: PostgresConnection, msps: [String], keys: [String], ids: [String?]
        ) async throws -> [(Int, Int64, Bool, String, String?)] {
            let payloads = Array(repeating: onboardingPayload(), count: keys.count)
            return try await connection.query(
                """
                SELECT ordinal, job_id, created, state, existing_key FROM onboarder.enqueue_many(
                    \(msps), \(keys), \(Array(repeating: "onboard", count: keys.count)), \(payloads)::jsonb[],
                    p_entra_tenant_ids => \(ids)::uuid[])
                """
            ).map { try $0.decode((Int, Int64, Bool, String, String?).self) }
        }

        func counts() async throws -> (tenants: Int, jobs: Int) {
            try await TwoMSPs.session(owner) { connection in
                try await connection.query(
                    "SELECT (SELECT count(*)::int FROM onboarder.tenants), (SELECT count(*)::int FROM onboarder.jobs)"
                ).single().decode((Int, Int).self)
            }
        }

        func drop() async throws { try await TestDatabase.dropScratchDatabase(name) }
    }

    /// Domain (resolved) first, then the tenant id, then another of its domains: one customer row, one job,
    /// each later enqueue reporting it (created = false) with the key it was first enqueued under.
    @Test func aDomainThenItsTenantIDThenAnotherDomainIsOneCustomer() async throws {
        let lab = try await Lab.make("identity-keys")
        try await TwoMSPs.session(lab.alpha) { connection in
            let first = try await Lab.enqueue(
                connection, msps: ["alpha"], keys: ["contoso.example"], ids: [Self.contoso])
            #expect(first.count == 1 && first[0].2 && first[0].4 == nil)
            let byID = try await Lab.enqueue(connection, msps: ["alpha"], keys: [Self.contoso], ids: [nil])
            #expect(byID.count == 1)
            #expect(byID[0].1 == first[0].1 && !byID[0].2 && byID[0].4 == "contoso.example", "\(byID)")
            let other = try await Lab.enqueue(
                connection, msps: ["alpha"], keys: ["contoso-sales.example"], ids: [Self.contoso])
            #expect(other[0].1 == first[0].1 && !other[0].2 && other[0].4 == "contoso.example")
            // Both keys in one call: the first row creates, the second reports the same job.
            let both = try await Lab.enqueue(
                connection, msps: ["alpha", "alpha"],
                keys: ["fabrikam.example", "0a0b0c0d-2222-4c3d-9e8f-0123456789ab"],
                ids: ["0a0b0c0d-2222-4c3d-9e8f-0123456789ab", nil])
            #expect(both.map(\.2) == [true, false] && both[0].1 == both[1].1, "\(both)")
        }
        #expect(try await lab.counts() == (2, 2))
        // The customer rows carry their tenant ids.
        let ids = try await TwoMSPs.session(lab.owner) { connection in
            try await connection.query(
                "SELECT tenant_key || ' ' || entra_tenant_id::text FROM onboarder.tenants ORDER BY id"
            ).map { try $0[0].decode(String.self) }
        }
        #expect(ids == ["contoso.example \(Self.contoso)", "fabrikam.example 0a0b0c0d-2222-4c3d-9e8f-0123456789ab"])
        try await lab.drop()
    }

    /// A customer row enqueued by domain without its id (before 0011, or through SQL) takes the id when the
    /// domain is enqueued again resolved; from then on its tenant id finds it.
    @Test func anUnresolvedRowTakesItsIDWhenEnqueuedAgainResolved() async throws {
        let lab = try await Lab.make("identity-claim")
        try await TwoMSPs.session(lab.alpha) { connection in
            let unresolved = try await Lab.enqueue(connection, msps: ["alpha"], keys: ["contoso.example"], ids: [nil])
            let resolved = try await Lab.enqueue(
                connection, msps: ["alpha"], keys: ["contoso.example"], ids: [Self.contoso])
            #expect(resolved[0].1 == unresolved[0].1 && !resolved[0].2)
            let byID = try await Lab.enqueue(connection, msps: ["alpha"], keys: [Self.contoso], ids: [nil])
            #expect(byID[0].1 == unresolved[0].1 && !byID[0].2 && byID[0].4 == "contoso.example")
        }
        #expect(try await lab.counts() == (1, 1))
        try await lab.drop()
    }

    /// Another MSP's customer is refused, naming that MSP, and the whole call with it (all or nothing).
    @Test func anotherMSPsCustomerIsRefusedNamingItAndNothingOfTheCallIsWritten() async throws {
        let lab = try await Lab.make("identity-msps")
        try await TwoMSPs.session(lab.alpha) { connection in
            _ = try await Lab.enqueue(connection, msps: ["alpha"], keys: [Self.contoso], ids: [nil])
        }
        try await TwoMSPs.session(lab.beta) { connection in
            for (key, id) in [("contoso.example", Self.contoso), (Self.contoso, nil)] as [(String, String?)] {
                let error = await failure {
                    _ = try await Lab.enqueue(
                        connection, msps: ["beta", "beta"], keys: ["beta-own.example", key],
                        ids: ["0a0b0c0d-3333-4c3d-9e8f-0123456789ab", id])
                }
                #expect(error?.sqlState == "23505", "\(String(describing: error))")
                #expect(error?.message == "row 2: tenant: \(key) is already a customer of MSP alpha")
            }
        }
        // Beta's first row (a customer of its own) was not written either.
        #expect(try await lab.counts() == (1, 1))
        // What `onboarder enqueue` asks first, as beta: the other MSP's customer among beta's rows only, and
        // beta's cloud only.
        try await TwoMSPs.session(lab.beta) { connection in
            let others = try await connection.query(
                """
                SELECT ordinal::text || ' ' || msp FROM onboarder.customers_of_other_msps(
                    ARRAY['beta', 'gamma', 'beta'], ARRAY[\(Self.contoso), \(Self.contoso), gen_random_uuid()::text]::uuid[])
                """
            ).map { try $0[0].decode(String.self) }
            #expect(others == ["1 alpha"])
            let clouds = try await connection.query(
                "SELECT msp || ' ' || cloud FROM onboarder.msp_clouds(ARRAY['alpha', 'beta', 'gamma'])"
            ).map { try $0[0].decode(String.self) }
            #expect(clouds == ["beta global"])
        }
        // A resolved id that contradicts a tenant-id key is refused too.
        try await TwoMSPs.session(lab.alpha) { connection in
            let error = await failure {
                _ = try await Lab.enqueue(
                    connection, msps: ["alpha"], keys: [Self.contoso], ids: ["0a0b0c0d-3333-4c3d-9e8f-0123456789ab"])
            }
            #expect(error?.sqlState == "22023" && error?.message.hasPrefix("row 1: tenant:") == true)
        }
        try await lab.drop()
    }

    /// Two sessions enqueue one customer under different keys at once: the second waits for the first's
    /// transaction on the unique index, then reports its job. One customer row, one job. The same race
    /// between two MSPs refuses the second.
    @Test func concurrentEnqueuesUnderDifferentKeysMakeOneCustomerAndOneJob() async throws {
        let lab = try await Lab.make("identity-race")
        let other = try await TestDatabase.login(.enqueuer, msps: ["alpha"], database: lab.name, owner: lab.owner)
        let first = try await PostgresConnection.connect(lab.alpha)
        let second = try await PostgresConnection.connect(other)
        let firstPID = try await first.query("SELECT pg_backend_pid()").single()[0].decode(Int32.self)
        let secondPID = try await second.query("SELECT pg_backend_pid()").single()[0].decode(Int32.self)
        try await first.executeScript(unsafeSQL: "BEGIN")
        let created = try await Lab.enqueue(first, msps: ["alpha"], keys: ["contoso.example"], ids: [Self.contoso])
        let racing = Task {
            try await Lab.enqueue(second, msps: ["alpha"], keys: [Self.contoso], ids: [nil])
        }
        try await Task.sleep(for: .milliseconds(500))
        // The second is blocked on the first's uncommitted row (it would have made its own otherwise).
        let waiting = try await TwoMSPs.session(lab.owner) { connection in
            try await connection.query(
                "SELECT pg_blocking_pids(\(secondPID)) = ARRAY[\(firstPID)]::integer[]"
            ).single()[0].decode(Bool.self)
        }
        #expect(waiting, "the second enqueue is not waiting for the first")
        try await first.executeScript(unsafeSQL: "COMMIT")
        let reported = try await racing.value
        #expect(reported[0].1 == created[0].1 && !reported[0].2 && reported[0].4 == "contoso.example", "\(reported)")
        #expect(try await lab.counts() == (1, 1))

        // Beta at the same moment as alpha, for a new customer: beta waits, then is refused naming alpha.
        let betaSession = try await PostgresConnection.connect(lab.beta)
        try await first.executeScript(unsafeSQL: "BEGIN")
        _ = try await Lab.enqueue(
            first, msps: ["alpha"], keys: ["fabrikam.example"], ids: ["0a0b0c0d-4444-4c3d-9e8f-0123456789ab"])
        let refused = Task {
            await failure {
                _ = try await Lab.enqueue(
                    betaSession, msps: ["beta"], keys: ["0a0b0c0d-4444-4c3d-9e8f-0123456789ab"], ids: [nil])
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        try await first.executeScript(unsafeSQL: "COMMIT")
        let error = await refused.value
        #expect(error?.sqlState == "23505", "\(String(describing: error))")
        #expect(
            error?.message == "row 1: tenant: 0a0b0c0d-4444-4c3d-9e8f-0123456789ab is already a customer of MSP alpha")
        #expect(try await lab.counts() == (2, 2))
        await first.close()
        await second.close()
        await betaSession.close()
        try await lab.drop()
    }

    /// 0011's backfill on an install that ran the bug: the same tenant under a domain row, its id row, and
    /// another MSP's row; the oldest keeps the id, the others stay without one.
    @Test func theBackfillKeepsTheOldestRowsID() async throws {
        let (owner, name) = try await TestDatabase.makeScratchDatabase("identity-backfill")
        let migrations = TestDatabase.repositoryRoot.appendingPathComponent("sql/migrations")
        let before = FileManager.default.temporaryDirectory.appendingPathComponent("before-0011-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: before, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: migrations.path).sorted()
        where file.hasSuffix(".sql") && file < "0011" {
            try FileManager.default.copyItem(
                at: migrations.appendingPathComponent(file), to: before.appendingPathComponent(file))
        }
        _ = try await Migrator.load(directory: before.path).migrate(
            configuration: owner, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        try await TwoMSPs.session(owner) { connection in
            try await connection.executeScript(
                unsafeSQL: """
                    INSERT INTO onboarder.msps (id, display_name) VALUES ('alpha', 'Alpha'), ('beta', 'Beta');
                    INSERT INTO onboarder.tenants (msp_id, tenant_key) VALUES
                        ('alpha', 'contoso.example'), ('alpha', '\(Self.contoso)'), ('beta', 'contoso.example'),
                        ('alpha', 'fabrikam.example'), ('alpha', 'never-run.example');
                    INSERT INTO onboarder.integrations (tenant_id, entra_tenant_id)
                    SELECT id, CASE WHEN tenant_key = 'fabrikam.example' THEN '0a0b0c0d-5555-4c3d-9e8f-0123456789ab'
                                    ELSE '\(Self.contoso)' END::uuid
                      FROM onboarder.tenants WHERE tenant_key IN ('contoso.example', 'fabrikam.example');
                    """)
        }
        try FileManager.default.copyItem(
            at: migrations.appendingPathComponent("0011_customer_identity.sql"),
            to: before.appendingPathComponent("0011_customer_identity.sql"))
        _ = try await Migrator.load(directory: before.path).migrate(
            configuration: owner, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let rows = try await TwoMSPs.session(owner) { connection in
            try await connection.query(
                "SELECT msp_id || ' ' || tenant_key || ' ' || coalesce(entra_tenant_id::text, '-') FROM onboarder.tenants ORDER BY id"
            ).map { try $0[0].decode(String.self) }
        }
        #expect(
            rows == [
                "alpha contoso.example \(Self.contoso)", "alpha \(Self.contoso) -", "beta contoso.example -",
                "alpha fabrikam.example 0a0b0c0d-5555-4c3d-9e8f-0123456789ab", "alpha never-run.example -",
            ], "\(rows)")
        try? FileManager.default.removeItem(at: before)
        try await TestDatabase.dropScratchDatabase(name)
    }
}
