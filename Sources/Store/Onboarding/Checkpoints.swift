import Foundation
import Postgres
import Queue

/// A job's steps: what is done with the facts learnt, the current step, the events of the way.
extension OnboardingStore {
    /// The steps a job has done, the facts of the latest one, and its MSP's allowed PBX hosts (nil: any), read
    /// once per run: every PBX step checks its URL against them before a secret leaves the worker. `running`:
    /// the job's current step when it is marked running already (a job woken from a wait at it), which the
    /// run need not mark again.
    public static func load(job: Int64, on executor: some PostgresExecutor) async throws -> (
        done: Set<String>, facts: OnboardingFacts, allowedPBXHosts: [String]?, running: String?
    ) {
        let rows = try await executor.query(
            """
            SELECT s.step, s.output::text, m.allowed_pbx_hosts, s.state = 'running' AS running
              FROM onboarder.jobs j JOIN onboarder.msps m ON m.id = j.msp_id
              LEFT JOIN onboarder.job_steps s
                ON s.job_id = j.id AND (s.state = 'done' OR (s.state = 'running' AND s.step = j.current_step))
             WHERE j.id = \(job) ORDER BY s.finished_at, s.step
            """)
        var done = Set<String>()
        var outputs: [String] = []  // the done steps' facts, in the order they were done
        var allowedPBXHosts: [String]?
        var running: String?
        for row in rows {
            let (step, output, hosts, isRunning) = try row.decode((String?, String?, [String]?, Bool?).self)
            allowedPBXHosts = hosts
            guard let step else { continue }
            guard isRunning != true else {
                running = step
                continue
            }
            done.insert(step)
            if let output { outputs.append(output) }
        }
        // The latest facts that decode: one decoding, not one per step done (a job resumed late in its
        // pipeline has ten).
        let facts =
            outputs.reversed().lazy.compactMap { try? decoder.decode(OnboardingFacts.self, from: Data($0.utf8)) }.first
            ?? OnboardingFacts()
        return (done, facts, allowedPBXHosts, running)
    }

    /// Marks `step` running (what the dashboard shows as the job's current step).
    public static func start(job: Int64, step: String, on executor: some PostgresExecutor) async throws {
        try await executor.query(
            """
            WITH s AS (
                INSERT INTO onboarder.job_steps AS s (job_id, step, state, started_at)
                VALUES (\(job), \(step), 'running', now())
                ON CONFLICT (job_id, step) DO UPDATE SET state = 'running', started_at = coalesce(s.started_at, now())
                RETURNING 1)
            UPDATE onboarder.jobs SET current_step = \(step), updated_at = now() WHERE id = \(job)
            """)
    }

    /// Checkpoints `step` as done with `facts` (inside the caller's transaction when the step stores
    /// something with it); with `next`, the same statement marks that step running, with `integration`
    /// records what the step learnt of the tenant's integration, with `alongside` makes the step's own write
    /// (its credential recorded or activated), and with `events` records the step's events before its
    /// `step_done`: one statement, where a transaction of the write and the checkpoint was four round trips
    /// (`scripts/bench e2e` counts statements per customer). All of it or none of it.
    public static func complete(
        job: Int64, step: String, facts: OnboardingFacts, next: String? = nil,
        integration: (record: IntegrationRecord, tenant: Int64)? = nil, alongside: CheckpointWrite? = nil,
        events: [JobEvent] = [], on executor: some PostgresExecutor
    ) async throws {
        let output = PostgresJSON(text: String(decoding: try encoder.encode(facts), as: UTF8.self))
        // PostgreSQL runs every data-modifying WITH clause once, to completion, read or not.
        let written: PostgresFragment = alongside.map { "w AS (\($0.statement) RETURNING 1)," } ?? ""
        let recorded: PostgresFragment =
            integration.map { "rec AS (\(integrationUpsert($0.record, tenant: $0.tenant)) RETURNING 1)," } ?? ""
        // The step's events, then step_done: in that order of ids, as they happened.
        let stepEvents: PostgresFragment =
            events.isEmpty
            ? "VALUES (\(job), 'step_done', \(step), NULL::jsonb)"
            : try eventRows(job: job, step: step, events + [JobEvent(kind: "step_done")])
        try await executor.query(
            """
            WITH \(written) \(recorded) s AS (
                INSERT INTO onboarder.job_steps AS s (job_id, step, state, output, started_at, finished_at)
                VALUES (\(job), \(step), 'done', \(output), now(), clock_timestamp())
                ON CONFLICT (job_id, step) DO UPDATE
                   SET state = 'done', output = EXCLUDED.output, finished_at = EXCLUDED.finished_at,
                       last_error = NULL, last_error_class = NULL
                RETURNING 1),
            n AS (
                INSERT INTO onboarder.job_steps AS s (job_id, step, state, started_at)
                SELECT \(job), \(next)::text, 'running', clock_timestamp() WHERE \(next)::text IS NOT NULL
                ON CONFLICT (job_id, step) DO UPDATE SET state = 'running', started_at = coalesce(s.started_at, EXCLUDED.started_at)
                RETURNING 1),
            j AS (
                UPDATE onboarder.jobs SET current_step = \(next)::text, updated_at = now()
                 WHERE id = \(job) AND \(next)::text IS NOT NULL
                RETURNING 1)
            INSERT INTO onboarder.events (job_id, kind, step, detail) \(stepEvents)
            """)
    }

    /// A write of a step's own (`passwordRecord`, `certificateActivation`) that its checkpoint makes in the same
    /// statement (`complete(alongside:)`): one INSERT, UPDATE or DELETE without RETURNING, on a table the
    /// checkpoint does not write.
    public struct CheckpointWrite: Sendable {
        let statement: PostgresFragment
    }

    /// `events` as rows of `step` for `INSERT INTO onboarder.events (job_id, kind, step, detail)`, in order.
    static func eventRows(job: Int64, step: String, _ events: [JobEvent]) throws -> PostgresFragment {
        let details = try events.map { event in
            try event.detail.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        }
        return """
            SELECT \(job), e.kind, \(step), e.detail::jsonb
              FROM unnest(\(events.map(\.kind)), \(details)) WITH ORDINALITY AS e(kind, detail, n)
             ORDER BY e.n
            """
    }

    /// Records `events` of `step` now, for a step that checkpoints itself (a wait's events go with the job's
    /// finish instead: `JobOutcome.wait`); nothing when there are none.
    public static func record(events: [JobEvent], job: Int64, step: String, on executor: some PostgresExecutor)
        async throws
    {
        guard !events.isEmpty else { return }
        try await executor.query(
            "INSERT INTO onboarder.events (job_id, kind, step, detail) \(try eventRows(job: job, step: step, events))")
    }

    public static func event(
        job: Int64, kind: String, step: String?, detail: [String: String] = [:], on executor: some PostgresExecutor
    ) async throws {
        let json = try PostgresJSON(encoding: detail)
        try await executor.query(
            "INSERT INTO onboarder.events (job_id, kind, step, detail) VALUES (\(job), \(kind), \(step), \(json))")
    }

    /// When the job began waiting for an operator at `step`: the step's start, or the operator's last
    /// resume, retry or wake-up after it (each starts the looks over at short intervals).
    public static func inputWaitStarted(job: Int64, step: String, on executor: some PostgresExecutor) async throws
        -> Date?
    {
        try await executor.query(
            """
            WITH p (job, step) AS (SELECT \(job)::bigint, \(step)::text)
            SELECT \(unsafeSQL: inputWaitSince) AS since FROM p
            """
        ).single().decode(Date?.self, column: "since")
    }

    /// `inputWaitStarted` as an expression over `p.job` and `p.step`, for the statements that need it.
    static let inputWaitSince = """
        greatest(
            (SELECT s.started_at FROM onboarder.job_steps s WHERE s.job_id = p.job AND s.step = p.step),
            (SELECT max(e.at) FROM onboarder.events e
              WHERE e.job_id = p.job AND e.kind IN ('resumed', 'retried', 'woken', 'handover_done')))
        """

    /// When the technician last said the PBX's part is done for `job` (`onboarder handover done`, which records
    /// a `handover_done` event on each job it wakes), or NULL: a scalar subquery (`HandoverLooks`).
    static func handoverDoneAtQuery(job: Int64) -> PostgresFragment {
        "SELECT max(at) FROM onboarder.events WHERE job_id = \(job) AND kind = 'handover_done'"
    }

    /// How many times the job looked at the PBX's hand-over at `step` (the `handover_check` events) since its
    /// wait began or was last woken (`inputWaitStarted`): the count the next look's delay doubles with. One
    /// statement: a job waiting for its technician looks every 30 s or more.
    public static func handoverChecks(job: Int64, step: String, on executor: some PostgresExecutor) async throws
        -> Int
    {
        try await executor.query(
            """
            WITH p (job, step) AS (SELECT \(job)::bigint, \(step)::text)
            SELECT (\(unsafeSQL: handoverChecksSince)) AS n FROM p
            """
        ).single().decode(Int.self, column: "n")
    }

    /// `handoverChecks` as a scalar subquery over `p.job` and `p.step`, for the statements that need it.
    static let handoverChecksSince = """
        SELECT count(*)::int FROM onboarder.events e
         WHERE e.job_id = p.job AND e.kind = 'handover_check' AND e.step = p.step
           AND e.at >= coalesce(\(inputWaitSince), '-infinity'::timestamptz)
        """
}
