import Foundation
import Postgres
import Queue
import Testing

/// `JobQueue` as the worker's `QueueDriver`, on PostgreSQL, as the worker role.
@Suite("Job queue driver", .serialized)
struct JobQueueDriverTests {
    /// The values a CHECK constraint of `table` on `column` allows.
    static func allowed(_ lab: WorkerLab, _ table: String, _ column: String) async throws -> Set<String> {
        let rows = try await lab.pool.query(
            """
            SELECT pg_get_constraintdef(c.oid) AS definition
              FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
             WHERE c.conrelid = \(table)::regclass AND c.contype = 'c' AND a.attname = \(column)
               AND cardinality(c.conkey) = 1
            """)
        let definition = try rows.single().decode(String.self, column: "definition")
        let quoted = try Regex(#"'([a-z_]+)'"#)
        return Set(definition.matches(of: quoted).map { String(definition[$0.range].dropFirst().dropLast()) })
    }

    @Test func theEnumsAreExactlyTheStatesTheSchemaAllows() async throws {
        let lab = try await WorkerLab.make("states")
        #expect(try await Self.allowed(lab, "onboarder.jobs", "state") == Set(JobState.allCases.map(\.rawValue)))
        #expect(
            try await Self.allowed(lab, "onboarder.jobs", "wait_reason") == Set(WaitReason.allCases.map(\.rawValue)))
        #expect(
            try await Self.allowed(lab, "onboarder.workers", "state") == Set(WorkerState.allCases.map(\.rawValue)))
        try await lab.drop()
    }

    @Test func aRetrysStepFailureIsWrittenWithItsCompletionOrNotAtAll() async throws {
        let lab = try await WorkerLab.make("settle")
        let queue = JobQueue(pool: PostgresPool(configuration: PostgresConfiguration(connectionString: lab.url)))
        _ = try await lab.queue.enqueue(sleepJobs(1, msps: ["m"], tenants: 1, payload: "{}"))
        try await queue.register(worker: "w", host: "test", pid: 1, concurrency: 1, version: "test")
        let job = try #require(try await queue.claim(worker: "w", limit: 1, kinds: ["sleep"]).first)
        #expect(try await queue.stepCounts(job: job.id, step: "app") == StepCounts(attempts: 0, waits: 0))

        let failure = StepFailure(job: job.id, step: "app", errorClass: "retry", message: "503", counts: true)
        let waiting = JobCompletion(id: job.id, state: .waiting, delay: .zero, waitReason: .retry, error: "app: 503")
        #expect(try await queue.finish(worker: "w", [waiting], stepFailures: [failure]) == [job.id])
        #expect(try await queue.stepCounts(job: job.id, step: "app") == StepCounts(attempts: 1, waits: 0))
        #expect(try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'waiting'") == 1)

        // A completion the database refuses takes its step failure with it.
        let again = try #require(try await queue.claim(worker: "w", limit: 1, kinds: ["sleep"]).first)
        let refused = JobCompletion(id: again.id, state: "no_such_state")
        await #expect(throws: PostgresError.self) {
            try await queue.finish(worker: "w", [refused], stepFailures: [failure])
        }
        #expect(try await queue.stepCounts(job: job.id, step: "app") == StepCounts(attempts: 1, waits: 0))
        await queue.pool.close()
        try await lab.drop()
    }
}
