import Foundation
import Postgres

/// The queue's SQL operations. Every one is a single statement calling a function of
/// `sql/migrations/0002_queue.sql` (the hot ones rewritten in `0006_queue_speed.sql`), where the guarantees
/// live (limits, ownership, lock order), so any SQL client gets the same behaviour as this type.
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
    /// request whose idempotency key a concurrent enqueue used in the same instant (the key kept that job
    /// single, and this statement's snapshot cannot see it).
    public static func enqueue(
        _ requests: [EnqueueRequest], actor: String? = nil, on executor: some PostgresExecutor
    ) async throws -> [EnqueueResult?] {
        guard !requests.isEmpty else { return [] }
        let rows = try await executor.query(
            """
            SELECT ordinal, job_id, created, state FROM onboarder.enqueue_many(
                \(requests.map(\.msp)), \(requests.map(\.tenantKey)), \(requests.map(\.kind)),
                \(requests.map(\.payload.text))::jsonb[], \(requests.map(\.priority))::integer[],
                \(requests.map(\.runAt))::timestamptz[], \(requests.map(\.idempotencyKey)),
                \(requests.map(\.subject)), \(actor))
            """)
        return try rows.map { row in
            guard let job = try row.decode(Int64?.self, column: "job_id") else { return nil }
            return EnqueueResult(
                jobID: job, created: try row.decode(Bool.self, column: "created"),
                state: try row.decode(String.self, column: "state"))
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
    public func setWorkerState(_ worker: String, _ state: String) async throws {
        try await pool.query(
            """
            UPDATE onboarder.workers SET state = \(state),
                   stopped_at = CASE WHEN \(state) IN ('stopped', 'dead') THEN now() END
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

    /// One job's new state, for `finish`.
    public struct Completion: Sendable, Encodable, Equatable {
        public var id: Int64
        public var state: String
        public var run_at: String?
        public var delay_ms: Int64?
        public var wait_reason: String?
        public var error_class: String?
        public var error: String?
        public var attention: String?
        public var warnings: [String]?
        public var uncount: Bool?

        public init(
            id: Int64, state: String, runAt: Date? = nil, delay: Duration? = nil, waitReason: WaitReason? = nil,
            errorClass: String? = nil,
            error: String? = nil, attention: String? = nil, warnings: [String]? = nil, uncount: Bool = false
        ) {
            self.id = id
            self.state = state
            if let runAt, case .text(let text) = runAt.postgresValue { self.run_at = text }
            if let delay {
                // Clamped to [0, 30 days]: delays are bounded where they are made, but an overflow trap here
                // would take the worker down, and a timestamp past PostgreSQL's range would fail the completion.
                let (seconds, attoseconds) = delay.components
                let longest: Int64 = 30 * 86_400 * 1000
                let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
                self.delay_ms =
                    overflow
                    ? (seconds < 0 ? 0 : longest) : min(max(0, ms + attoseconds / 1_000_000_000_000_000), longest)
            }
            self.wait_reason = waitReason?.rawValue
            self.error_class = errorClass
            self.error = error
            self.attention = attention
            self.warnings = warnings
            self.uncount = uncount ? true : nil
        }

        /// The JSON array `onboarder.finish` reads: the keys `Encodable` writes, nil ones left out. Built by
        /// hand: JSONEncoder was a tenth of a no-op job's CPU in the worker (`scripts/bench queue`, perf).
        public static func jsonArray(_ completions: [Completion]) -> String {
            var out = [UInt8]()
            out.reserveCapacity(completions.count * 40)
            out.append(UInt8(ascii: "["))
            for (index, item) in completions.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: #"{"id":"#.utf8)
                out.append(contentsOf: String(item.id).utf8)
                field("state", item.state, &out)
                if let runAt = item.run_at { field("run_at", runAt, &out) }
                if let delay = item.delay_ms {
                    out.append(contentsOf: #","delay_ms":"#.utf8)
                    out.append(contentsOf: String(delay).utf8)
                }
                if let reason = item.wait_reason { field("wait_reason", reason, &out) }
                if let errorClass = item.error_class { field("error_class", errorClass, &out) }
                if let error = item.error { field("error", error, &out) }
                if let attention = item.attention { field("attention", attention, &out) }
                if let warnings = item.warnings {
                    out.append(contentsOf: #","warnings":["#.utf8)
                    for (n, warning) in warnings.enumerated() {
                        if n > 0 { out.append(UInt8(ascii: ",")) }
                        string(warning, &out)
                    }
                    out.append(UInt8(ascii: "]"))
                }
                if item.uncount == true { out.append(contentsOf: #","uncount":true"#.utf8) }
                out.append(UInt8(ascii: "}"))
            }
            out.append(UInt8(ascii: "]"))
            return String(decoding: out, as: UTF8.self)
        }

        private static func field(_ key: String, _ value: String, _ out: inout [UInt8]) {
            out.append(contentsOf: #",""#.utf8)
            out.append(contentsOf: key.utf8)
            out.append(contentsOf: #"":"#.utf8)
            string(value, &out)
        }

        /// A JSON string. Text without quotes, backslashes or control characters (states, ids, most
        /// messages) is copied; anything else goes through JSONEncoder.
        private static func string(_ value: String, _ out: inout [UInt8]) {
            if value.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
                out.append(UInt8(ascii: "\""))
                out.append(contentsOf: value.utf8)
                out.append(UInt8(ascii: "\""))
            } else {
                out.append(contentsOf: (try? JSONEncoder().encode(value)) ?? Data(#""""#.utf8))
            }
        }
    }

    /// Applies completions for jobs this worker holds; returns the ids that were still this worker's
    /// (the others were taken back after it was declared dead, and their results are dropped).
    @discardableResult
    public func finish(worker: String, _ completions: [Completion]) async throws -> Set<Int64> {
        guard !completions.isEmpty else { return [] }
        let items = PostgresJSON(text: Completion.jsonArray(completions))
        let rows = try await pool.query("SELECT id FROM onboarder.finish(\(worker), \(items)) AS id")
        return Set(try rows.map { try $0.decode(Int64.self, column: "id") })
    }

    /// Heartbeat; false means the worker was declared dead and must stop.
    public func heartbeat(worker: String) async throws -> Bool {
        try await pool.query("SELECT onboarder.heartbeat(\(worker)) AS alive").single().decode(
            Bool.self, column: "alive")
    }

    /// Declares workers silent for `lease` dead and requeues their jobs. Returns how many were rescued.
    @discardableResult
    public func reap(lease: Duration) async throws -> Int {
        try await pool.query("SELECT onboarder.reap(\(lease)) AS n").single().decode(Int.self, column: "n")
    }

    /// Records a failed try of a step: a failure (`counts`) adds to its attempts, a wait the service asked
    /// for (throttling, replication) to its waits. Returns both counts after this one.
    public func recordStepFailure(
        job: Int64, step: String, errorClass: String, message: String, counts: Bool = true
    ) async throws -> (attempts: Int, waits: Int) {
        let failure = counts ? 1 : 0
        let wait = counts ? 0 : 1
        let rows = try await pool.query(
            """
            INSERT INTO onboarder.job_steps AS s (job_id, step, state, attempts, waits, last_error_class, last_error)
            VALUES (\(job), \(step), 'waiting', \(failure), \(wait), \(errorClass), \(message))
            ON CONFLICT (job_id, step) DO UPDATE
               SET attempts = s.attempts + EXCLUDED.attempts, waits = s.waits + EXCLUDED.waits, state = 'waiting',
                   last_error_class = EXCLUDED.last_error_class, last_error = EXCLUDED.last_error
            RETURNING attempts, waits
            """
        )
        let row = try rows.single()
        return (try row.decode(Int.self, column: "attempts"), try row.decode(Int.self, column: "waits"))
    }
}
