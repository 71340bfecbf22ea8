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
        func looks() async throws -> Int {
            try await OnboardingStore.handoverChecks(job: job, step: "verify", on: pool)
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
}
