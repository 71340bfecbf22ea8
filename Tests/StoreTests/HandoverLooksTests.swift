import Foundation
import Postgres
import Store
import TestSupport
import Testing

@Suite("A job's looks at the PBX's hand-over")
struct HandoverLooksTests {
    /// The next look's delay doubles with the looks since the wait began: the step's start, or the last
    /// operator wake-up, retry, resume or `handover done` after it. Looks at another step, and those before a
    /// wake-up, do not count; each wake-up starts the count over.
    @Test func looksAreCountedSinceTheWaitBeganOrWasLastWoken() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("handoverlooks")
        let pool = PostgresPool(configuration: owner, maxConnections: 1)
        let job = try #require(try await Jobs.enqueueAll([onboard("alpha", "looks.example")], actor: nil, on: pool)[0])
            .jobID
        func event(_ kind: String, _ step: String?, minutesAgo: Int) async throws {
            try await pool.query(
                """
                INSERT INTO onboarder.events (job_id, kind, step, at)
                VALUES (\(job), \(kind), \(step), now() - \(minutesAgo) * interval '1 minute')
                """)
        }
        let tenant = try await pool.query("SELECT tenant_id FROM onboarder.jobs WHERE id = \(job)").single()[0]
            .decode(Int64.self)
        // Counted alone (a certificate step's wait) and with the rest of a look (`handoverLooks`): the same.
        func looks() async throws -> Int {
            let alone = try await OnboardingStore.handoverChecks(job: job, step: "verify", on: pool)
            let together = try await OnboardingStore.handoverLooks(job: job, tenant: tenant, step: "verify", on: pool)
            #expect(together.checks == alone)
            return alone
        }
        #expect(try await looks() == 0, "no step, no look")
        try await pool.query(
            """
            INSERT INTO onboarder.job_steps (job_id, step, state, started_at)
            VALUES (\(job), 'verify', 'running', now() - interval '2 hours')
            """)
        try await event("handover_check", "verify", minutesAgo: 150)  // before the step began (an earlier run)
        for minutes in [90, 60, 30] { try await event("handover_check", "verify", minutesAgo: minutes) }
        try await event("handover_check", "certificate", minutesAgo: 20)
        #expect(try await looks() == 3)
        try await event("woken", nil, minutesAgo: 45)
        #expect(try await looks() == 1, "the wake-up started the count over")
        #expect(
            try await OnboardingStore.inputWaitStarted(job: job, step: "verify", on: pool).map {
                abs($0.timeIntervalSinceNow + 45 * 60) < 60
            } == true)
        try await event("handover_done", "verify", minutesAgo: 10)
        #expect(try await looks() == 0, "the technician's word started it over")
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// A look's one statement reads what the four single reads read: the active client secret (the newest),
    /// the certificates in id order (none, or several), and the technician's latest word.
    @Test func aLookReadsInOneStatementWhatTheSingleReadsRead() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("handoverlook")
        let pool = PostgresPool(configuration: owner, maxConnections: 1)
        let job = try #require(try await Jobs.enqueueAll([onboard("alpha", "look.example")], actor: nil, on: pool)[0])
            .jobID
        let tenant = try await pool.query("SELECT tenant_id FROM onboarder.jobs WHERE id = \(job)").single()[0]
            .decode(Int64.self)
        func expectTheSame(_ comment: Comment) async throws {
            let looks = try await OnboardingStore.handoverLooks(job: job, tenant: tenant, step: "verify", on: pool)
            #expect(
                looks.activePassword == (try await OnboardingStore.activePassword(tenant: tenant, on: pool)), comment)
            #expect(looks.certificates == (try await OnboardingStore.certificates(tenant: tenant, on: pool)), comment)
            let doneAt = try await pool.query(
                "SELECT max(at) FROM onboarder.events WHERE job_id = \(job) AND kind = 'handover_done'"
            ).single()[0].decode(Date?.self)
            #expect(looks.handoverDoneAt == doneAt, comment)
        }
        try await expectTheSame("nothing recorded")
        #expect(
            try await OnboardingStore.handoverLooks(job: job, tenant: tenant, step: "verify", on: pool).certificates
                .isEmpty)
        for (key, state) in [("1", "active"), ("2", "active"), ("3", "pending")] {
            try await OnboardingStore.insertPassword(
                tenant: tenant, job: job, appObjectID: "5f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
                keyID: "0a1b2c3d-0000-4000-8000-00000000000\(key)", displayName: "PBX Secret", sealed: "og1.k1.c\(key)",
                expires: nil, state: state == "active" ? .active : .pending, on: pool)
        }
        for (thumbprint, state) in [("AB", CredentialState.supplied), ("CD", .active), ("EF", .supplied)] {
            try await OnboardingStore.insertCertificate(
                tenant: tenant, job: job, state: state, source: "pbx",
                thumbprint: String(repeating: thumbprint, count: 20),
                pem: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n", sealedKey: nil,
                displayName: "PBX certificate \(thumbprint)", expires: Date(timeIntervalSinceNow: 86_400), on: pool)
        }
        // A removed certificate is not one of them.
        try await OnboardingStore.markRemoved(
            credential: try await pool.query(
                "SELECT id FROM onboarder.credentials WHERE thumbprint = \(String(repeating: "EF", count: 20))"
            ).single()[0].decode(Int64.self), on: pool)
        try await pool.query(
            "INSERT INTO onboarder.events (job_id, kind, at) VALUES (\(job), 'handover_done', now() - interval '1 hour')"
        )
        try await expectTheSame("two certificates held, a secret, the technician's word")
        let looks = try await OnboardingStore.handoverLooks(job: job, tenant: tenant, step: "verify", on: pool)
        #expect(looks.activePassword?.sealed == "og1.k1.c2" && looks.certificates.count == 2)
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}
