import Foundation
import Postgres

/// The queue's SQL operations, and the worker's `QueueDriver` on PostgreSQL. The queue's operations call
/// the `onboarder` schema's functions (`claim`, `finish`, `heartbeat`, `reap`, `enqueue_many`), where the
/// guarantees live (limits, ownership, lock order), so any SQL client gets the same behaviour as this type;
/// only a step's failure counts are read and written here, in `job_steps`.
public struct JobQueue: Sendable {
    public let pool: PostgresPool
    /// The NOTIFY channel enqueue and finish signal on.
    public static let channel = "onboarder_jobs"

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Enqueues many jobs in one statement (one NOTIFY). Results come back in request order.
    public func enqueue(_ requests: [EnqueueRequest]) async throws -> [EnqueueResult] {
        try await Self.enqueue(requests, on: pool).map { result in
            guard let result else {
                throw PostgresError(code: .server, message: "enqueue_many returned no job for a request")
            }
            return result
        }
    }

    /// The one call of `onboarder.enqueue_many`: many jobs in one statement (one NOTIFY), on `executor`
    /// (a connection inside the caller's transaction, to enqueue together with other writes), recording
    /// `actor` in the 'enqueued' events (nil: the login). Results come back in request order; nil for a
    /// request that created no job and whose job the call then did not find: another MSP's, which took its
    /// idempotency key after the call's check, or a concurrent enqueue's, finished before the call looked for
    /// it (the call looks, by key and by the customer's active job, after its insert). `hold` ("gdap",
    /// "threshold") holds the onboard jobs for approval whatever their count, `plan` is what a held batch
    /// stores (nil: the database's plan of the rows); the database holds them anyway when they are more than
    /// its approval threshold.
    public static func enqueue(
        _ requests: [EnqueueRequest], actor: String? = nil, hold: String? = nil, plan: PostgresJSON? = nil,
        on executor: some PostgresExecutor
    ) async throws -> [EnqueueResult?] {
        guard !requests.isEmpty else { return [] }
        return try enqueueResults(
            try await executor.query(enqueueStatement(requests, actor: actor, hold: hold, plan: plan)))
    }

    /// `enqueue`'s statement, apart from running it: a caller that enqueues in several statements builds the
    /// next one while the database runs this one.
    public static func enqueueStatement(
        _ requests: [EnqueueRequest], actor: String?, hold: String?, plan: PostgresJSON?
    ) -> PostgresQuery {
        """
        SELECT ordinal, job_id, created, state, existing_key, batch_id FROM onboarder.enqueue_many(
            \(requests.map(\.msp)), \(requests.map(\.tenantKey)), \(requests.map(\.kind)),
            \(requests.map(\.payload.text))::jsonb[], \(requests.map(\.priority))::integer[],
            \(requests.map(\.runAt))::timestamptz[], \(requests.map(\.idempotencyKey)),
            \(requests.map(\.subject)), \(actor), \(requests.map(\.entraTenantID))::uuid[], \(hold),
            \(plan?.text)::jsonb)
        """
    }

    /// `enqueueStatement`'s rows as results, in request order.
    public static func enqueueResults(_ rows: PostgresRows) throws -> [EnqueueResult?] {
        try rows.map { row in
            guard let job = try row.decode(Int64?.self, column: "job_id") else { return nil }
            return EnqueueResult(
                jobID: job, created: try row.decode(Bool.self, column: "created"),
                state: try row.decode(String.self, column: "state"),
                existingKey: try row.decode(String?.self, column: "existing_key"),
                batchID: try row.decode(Int64?.self, column: "batch_id"))
        }
    }

    public func enqueue(_ request: EnqueueRequest) async throws -> EnqueueResult {
        try await enqueue([request])[0]
    }

    /// Registers a worker (or revives a restarted one with the same id).
    public func register(worker: String, host: String, pid: Int32, concurrency: Int, version: String) async throws {
        try await pool.query(
            """
            INSERT INTO onboarder.workers (id, host, pid, concurrency, version)
            VALUES (\(worker), \(host), \(Int(pid)), \(concurrency), \(version))
            ON CONFLICT (id) DO UPDATE SET state = 'running', host = EXCLUDED.host, pid = EXCLUDED.pid,
                concurrency = EXCLUDED.concurrency, version = EXCLUDED.version, started_at = now(),
                heartbeat_at = now(), stopped_at = NULL
            """)
    }

    /// Marks the worker draining (stops new claims from others' point of view) or stopped.
    public func setWorkerState(_ worker: String, _ state: WorkerState) async throws {
        try await pool.query(
            """
            UPDATE onboarder.workers SET state = \(state.rawValue),
                   stopped_at = CASE WHEN \(state.rawValue) IN ('stopped', 'dead') THEN now() END
             WHERE id = \(worker) AND state <> 'dead'
            """)
    }

    /// Claims up to `limit` ready jobs of `kinds`, a slot taken in every scope for each.
    public func claim(worker: String, limit: Int, kinds: [String]) async throws -> [ClaimedJob] {
        let rows = try await pool.query(
            """
            SELECT id, kind, msp_id, tenant_id, tenant_key, payload, attempts, rescues
              FROM onboarder.claim(\(worker), \(Int32(limit)), \(kinds))
            """)
        return try rows.map { row in
            let (id, kind, msp, tenant, tenantKey, payload, attempts, rescues) = try row.decode(
                (Int64, String, String, Int64, String, PostgresJSON, Int, Int).self)
            return ClaimedJob(
                id: id, kind: kind, mspID: msp, tenantID: tenant, tenantKey: tenantKey, payload: payload,
                attempts: attempts, rescues: rescues)
        }
    }

    /// Applies completions for jobs this worker holds; returns the ids that were still this worker's
    /// (the others were taken back after it was declared dead, and their results are dropped).
    @discardableResult
    public func finish(worker: String, _ completions: [Completion]) async throws -> Set<Int64> {
        try await finish(worker: worker, completions, on: pool)
    }

    /// Applies completions and records the failed steps they follow in one transaction, so a retry's
    /// count and its job's new state are written together or not at all.
    @discardableResult
    public func finish(
        worker: String, _ completions: [Completion], stepFailures: [StepFailure]
    ) async throws -> Set<Int64> {
        guard !stepFailures.isEmpty else { return try await finish(worker: worker, completions) }
        return try await pool.transaction { connection in
            for failure in stepFailures { try await record(failure, on: connection) }
            return try await finish(worker: worker, completions, on: connection)
        }
    }

    private func finish(
        worker: String, _ completions: [Completion], on executor: some PostgresExecutor
    ) async throws -> Set<Int64> {
        guard !completions.isEmpty else { return [] }
        let items = PostgresJSON(text: Completion.jsonArray(completions))
        let rows = try await executor.query("SELECT id FROM onboarder.finish(\(worker), \(items)) AS id")
        return Set(try rows.map { try $0.decode(Int64.self, column: "id") })
    }

    /// Heartbeat; false means the worker was declared dead and must stop.
    public func heartbeat(worker: String) async throws -> Bool {
        try await pool.query("SELECT onboarder.heartbeat(\(worker)) AS alive").single().decode(
            Bool.self, column: "alive")
    }

    /// Declares workers silent for `lease` dead, apart from `reaper` (the worker asking: its own lateness is
    /// for the others to judge), and requeues their jobs. Returns how many were rescued.
    @discardableResult
    public func reap(lease: Duration, reaper: String) async throws -> Int {
        try await pool.query("SELECT onboarder.reap(\(lease), \(reaper)) AS n").single().decode(
            Int.self, column: "n")
    }

    /// A step's failed tries so far (zero for a step that never failed).
    public func stepCounts(job: Int64, step: String) async throws -> StepCounts {
        let rows = try await pool.query(
            "SELECT attempts, waits FROM onboarder.job_steps WHERE job_id = \(job) AND step = \(step)")
        guard let row = rows.first else { return StepCounts(attempts: 0, waits: 0) }
        return StepCounts(
            attempts: try row.decode(Int.self, column: "attempts"), waits: try row.decode(Int.self, column: "waits"))
    }

    /// Records a failed try of a step: a failure (`counts`) adds to its attempts, a wait the service asked
    /// for (throttling, replication) to its waits. Relative, so two records never lose one.
    private func record(_ failure: StepFailure, on executor: some PostgresExecutor) async throws {
        let failures = failure.counts ? 1 : 0
        let waits = failure.counts ? 0 : 1
        try await executor.query(
            """
            INSERT INTO onboarder.job_steps AS s (job_id, step, state, attempts, waits, last_error_class, last_error)
            VALUES (\(failure.job), \(failure.step), 'waiting', \(failures), \(waits), \(failure.errorClass),
                    \(failure.message))
            ON CONFLICT (job_id, step) DO UPDATE
               SET attempts = s.attempts + EXCLUDED.attempts, waits = s.waits + EXCLUDED.waits, state = 'waiting',
                   last_error_class = EXCLUDED.last_error_class, last_error = EXCLUDED.last_error
            """)
    }

    /// `LISTEN` on the queue's channel: every notification, and every (re)connect, is a wake-up.
    public func listen() -> QueueWakeUps? {
        let listener = PostgresListener(configuration: pool.configuration, channels: [Self.channel])
        let notifications = NotificationCursor(listener.events.makeAsyncIterator())
        let events = AsyncStream<Void> { await notifications.next() }
        return QueueWakeUps(events: events, stop: { await listener.stop() })
    }
}

extension JobQueue: QueueDriver {}

/// The listener's events as wake-ups. One consumer (the worker's loop) reads them, one at a time.
private final class NotificationCursor: @unchecked Sendable {
    private var iterator: AsyncStream<PostgresListener.Event>.Iterator

    init(_ iterator: AsyncStream<PostgresListener.Event>.Iterator) {
        self.iterator = iterator
    }

    func next() async -> Void? {
        await iterator.next().map { _ in () }
    }
}
