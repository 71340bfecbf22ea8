import Foundation
import Postgres
import Queue
import Store
import TestSupport
import Testing

@Suite("A step's checkpoint with what it learnt of the integration")
struct CheckpointIntegrationTests {
    /// What a step learnt of the tenant's integration is recorded by its checkpoint's own statement: both or
    /// neither. Columns it does not name stay; `onboarded` marks the tenant onboarded and clears an earlier
    /// offboarding.
    @Test func theCheckpointRecordsTheIntegrationInTheSameStatement() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("checkpointintegration")
        let pool = PostgresPool(configuration: owner, maxConnections: 1)
        let job = try #require(
            try await Jobs.enqueueAll([onboard("alpha", "ckpt.example")], actor: nil, on: pool)[0]
        ).jobID
        let tenant = try await pool.query("SELECT tenant_id FROM onboarder.jobs WHERE id = \(job)").single()[0]
            .decode(Int64.self)
        try await pool.query(
            "INSERT INTO onboarder.integrations (tenant_id, path, offboarded_at) VALUES (\(tenant), 'm365', now())")
        func integration() async throws -> [String] {
            let row = try await pool.query(
                """
                SELECT path, app_id::text, app_object_id::text, summary, (onboarded_at IS NOT NULL)::text,
                       (offboarded_at IS NOT NULL)::text
                  FROM onboarder.integrations WHERE tenant_id = \(tenant)
                """
            ).single()
            return try (0..<6).map { try row[$0].decode(String?.self) ?? "-" }
        }
        func steps() async throws -> [String] {
            try await pool.query(
                "SELECT step || ' ' || state FROM onboarder.job_steps WHERE job_id = \(job) ORDER BY step"
            ).map { try $0[0].decode(String.self) }
        }
        let app = "0a0a0a0a-0000-4000-8000-000000000001", object = "0b0b0b0b-0000-4000-8000-000000000002"

        try await OnboardingStore.complete(
            job: job, step: "app-registration", facts: OnboardingFacts(), next: "service-principal",
            integration: (IntegrationRecord(appObjectID: object, appID: app), tenant), on: pool)
        #expect(try await integration() == ["m365", app, object, "-", "false", "true"])
        #expect(try await steps() == ["app-registration done", "service-principal running"])

        // A value the table refuses fails the checkpoint too: nothing of either is recorded.
        await #expect(throws: PostgresError.self) {
            try await OnboardingStore.complete(
                job: job, step: "service-principal", facts: OnboardingFacts(), next: "consent",
                integration: (IntegrationRecord(servicePrincipalID: "not a GUID"), tenant), on: pool)
        }
        #expect(try await steps() == ["app-registration done", "service-principal running"])

        try await OnboardingStore.complete(
            job: job, step: "finish", facts: OnboardingFacts(),
            integration: (IntegrationRecord(summary: "onboarded", onboarded: true), tenant), on: pool)
        #expect(try await integration() == ["m365", app, object, "onboarded", "true", "false"])
        #expect(
            try await pool.query(
                "SELECT count(*)::int FROM onboarder.events WHERE job_id = \(job) AND kind = 'step_done'"
            ).single()[0].decode(Int.self) == 2)
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// A checkpoint's and a step start's update of the job (its current step, updated_at) is a HOT update: no
    /// index of `jobs` names those columns, so the row's index entries are not written again (each update
    /// wrote four before `jobs_attention` moved from updated_at to attention_at, migration 0022).
    @Test func aCheckpointWritesNoIndexEntryOfTheJob() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("checkpointhot")
        let pool = PostgresPool(configuration: owner, maxConnections: 1)
        let job = try #require(
            try await Jobs.enqueueAll([onboard("alpha", "hot.example")], actor: nil, on: pool)[0]
        ).jobID
        let (updated, hot) = try await pool.transaction { connection in
            try await OnboardingStore.start(job: job, step: "resolve-tenant", on: connection)
            for (step, next) in [("resolve-tenant", "app-registration"), ("app-registration", "service-principal")] {
                try await OnboardingStore.complete(
                    job: job, step: step, facts: OnboardingFacts(), next: next, on: connection)
            }
            // This transaction's own counts (the cumulative statistics are written later, asynchronously).
            return try await connection.query(
                """
                SELECT pg_stat_get_xact_tuples_updated('onboarder.jobs'::regclass)::int,
                       pg_stat_get_xact_tuples_hot_updated('onboarder.jobs'::regclass)::int
                """
            ).single().decode((Int, Int).self)
        }
        #expect(updated == 3 && hot == 3, "\(hot) of \(updated) updates of the job were HOT")
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// A step's events (`handover_started`, `handover_proven`) are written by its checkpoint's statement,
    /// before its `step_done`: a checkpoint that fails writes none of them.
    @Test func aStepsEventsAreRecordedByItsCheckpoint() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("checkpointevents")
        let pool = PostgresPool(configuration: owner, maxConnections: 1)
        let job = try #require(
            try await Jobs.enqueueAll([onboard("alpha", "events.example")], actor: nil, on: pool)[0]
        ).jobID
        func events() async throws -> [String] {
            try await pool.query(
                """
                SELECT job_id::text || ' ' || kind || ' ' || step || ' ' || coalesce(detail::text, '-')
                  FROM onboarder.events WHERE kind <> 'enqueued' ORDER BY id
                """
            ).map { try $0[0].decode(String.self) }
        }
        let proven = JobEvent(kind: "handover_proven", detail: ["evidence": "the PBX's check"])
        let started = JobEvent(kind: "handover_started", detail: ["pbx_url": "https://pbx"])
        // A job that does not exist: the checkpoint fails, and records no event.
        await #expect(throws: PostgresError.self) {
            try await OnboardingStore.complete(
                job: job + 1000, step: "verify", facts: OnboardingFacts(), events: [proven], on: pool)
        }
        #expect(try await events().isEmpty)
        try await OnboardingStore.complete(
            job: job, step: "verify", facts: OnboardingFacts(), next: "finish", events: [started, proven], on: pool)
        try await OnboardingStore.complete(job: job, step: "finish", facts: OnboardingFacts(), on: pool)
        try await OnboardingStore.record(events: [], job: job, step: "finish", on: pool)
        try await OnboardingStore.record(events: [proven], job: job, step: "rotate-test-pbx", on: pool)
        let evidence = "{\"evidence\": \"the PBX's check\"}"
        #expect(
            try await events() == [
                "\(job) handover_started verify {\"pbx_url\": \"https://pbx\"}",
                "\(job) handover_proven verify \(evidence)", "\(job) step_done verify -", "\(job) step_done finish -",
                "\(job) handover_proven rotate-test-pbx \(evidence)",
            ])
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// A step's own write (its password recorded, its certificate activated) is made by its checkpoint's
    /// statement: with the step done, or not at all when the checkpoint fails.
    @Test func aStepsOwnWriteIsMadeByItsCheckpoint() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("checkpointwrite")
        let pool = PostgresPool(configuration: owner, maxConnections: 1)
        let job = try #require(
            try await Jobs.enqueueAll([onboard("alpha", "write.example")], actor: nil, on: pool)[0]
        ).jobID
        let tenant = try await pool.query("SELECT tenant_id FROM onboarder.jobs WHERE id = \(job)").single()[0]
            .decode(Int64.self)
        let appObject = "5f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
        let password = { (job: Int64) in
            OnboardingStore.passwordRecord(
                tenant: tenant, job: job, appObjectID: appObject, keyID: "0a1b2c3d-0000-4000-8000-000000000001",
                displayName: "PBX Secret", sealed: "og1.k1.c2VhbGVk", expires: nil)
        }
        func state() async throws -> [String] {
            try await pool.query(
                """
                SELECT 'credential ' || kind || ' ' || state FROM onboarder.credentials
                UNION ALL SELECT 'step ' || step || ' ' || state FROM onboarder.job_steps
                ORDER BY 1
                """
            ).map { try $0[0].decode(String.self) }
        }
        // The checkpoint of a job that does not exist fails, and the password is not recorded either.
        await #expect(throws: PostgresError.self) {
            try await OnboardingStore.complete(
                job: job + 1000, step: "client-secret", facts: OnboardingFacts(), alongside: password(job + 1000),
                on: pool)
        }
        #expect(try await state().isEmpty)
        try await OnboardingStore.complete(
            job: job, step: "client-secret", facts: OnboardingFacts(), alongside: password(job), on: pool)
        #expect(try await state() == ["credential password active", "step client-secret done"])
        let thumbprint = String(repeating: "AB", count: 20)
        try await OnboardingStore.insertCertificate(
            tenant: tenant, job: job, state: .supplied, source: "pbx", thumbprint: thumbprint,
            pem: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n", sealedKey: nil,
            displayName: "PBX certificate", expires: Date(timeIntervalSinceNow: 86_400), on: pool)
        let certificate = try await pool.query(
            "SELECT id FROM onboarder.credentials WHERE kind = 'certificate'"
        ).single()[0].decode(Int64.self)
        try await OnboardingStore.complete(
            job: job, step: "certificate", facts: OnboardingFacts(),
            alongside: OnboardingStore.certificateActivation(id: certificate, appObjectID: appObject, keyID: nil),
            on: pool)
        #expect(
            try await state() == [
                "credential certificate active", "credential password active", "step certificate done",
                "step client-secret done",
            ])
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// A run resumes with the facts of the step done last, and with the step it is marked running at; a
    /// latest output that no longer decodes (another version's) gives the one before it.
    @Test func aRunResumesWithTheLatestFactsThatDecode() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("checkpointload")
        let pool = PostgresPool(configuration: owner, maxConnections: 1)
        let job = try #require(
            try await Jobs.enqueueAll([onboard("alpha", "load.example")], actor: nil, on: pool)[0]
        ).jobID
        var first = OnboardingFacts()
        first.appID = "first"
        try await OnboardingStore.complete(job: job, step: "resolve-tenant", facts: first, on: pool)
        var second = OnboardingFacts()
        second.appID = "second"
        try await OnboardingStore.complete(
            job: job, step: "app-registration", facts: second, next: "service-principal", on: pool)
        var loaded = try await OnboardingStore.load(job: job, on: pool)
        #expect(loaded.done == ["resolve-tenant", "app-registration"])
        #expect(loaded.facts.appID == "second")
        #expect(loaded.running == "service-principal")
        try await pool.query(
            "UPDATE onboarder.job_steps SET output = '[]' WHERE job_id = \(job) AND step = 'app-registration'")
        loaded = try await OnboardingStore.load(job: job, on: pool)
        #expect(loaded.facts.appID == "first")
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}
