import Foundation
import Postgres
import Queue

/// The trivial handler for tests and benchmarks (kind `sleep`). Payload, every key optional:
///
///     {"sleep_ms": 20,          how long the job "works"
///      "record": true,          record start/end and the concurrency seen per scope in onboarder_test.*
///      "retry_after_s": 2,      the first attempt asks to be retried after this many seconds (429-style)
///      "fail": "message",       end in failed
///      "always_retry": true}    fail transiently every time (until the retry policy gives up)
///
/// Recording inserts the job into `onboarder_test.running` (committed) before sleeping, then counts the
/// running rows globally, for its MSP, its tenant and its worker, and keeps the maxima in
/// `onboarder_test.observed`; a job overlapping another is always seen by whichever starts second.
public struct SleepHandler: JobHandler {
    public let kind = "sleep"

    public init() {}

    struct Payload: Decodable {
        var sleep_ms: Int?
        var record: Bool?
        var retry_after_s: Double?
        var fail: String?
        var always_retry: Bool?
        /// Throttled (429 with a 50 ms Retry-After) on its first `throttle_times` claims.
        var throttle_times: Int?
    }

    public func run(_ job: ClaimedJob, context: JobContext) async -> JobOutcome {
        // No payload, nothing to decode (the queue benchmark's no-op jobs).
        let payload = job.payload.text == "{}" ? Payload() : (try? job.payload.decode(Payload.self)) ?? Payload()
        if payload.always_retry == true {
            return .retry(step: "sleep", reason: .retry, message: "503 Service Unavailable (test)")
        }
        if let times = payload.throttle_times, job.attempts <= times {
            return .retry(
                step: "sleep", reason: .throttled, message: "429 Too Many Requests (test)",
                retryAfter: .milliseconds(50))
        }
        if let retryAfter = payload.retry_after_s, job.attempts == 1 {
            return .retry(
                step: "sleep", reason: .throttled, message: "429 Too Many Requests (test)",
                retryAfter: .milliseconds(Int64(retryAfter * 1000)))
        }
        do {
            if payload.record == true { try await Self.recordStart(job, context: context) }
            if let milliseconds = payload.sleep_ms, milliseconds > 0 {
                try await Task.sleep(for: .milliseconds(milliseconds))
            }
            if payload.record == true { try await Self.recordEnd(job, context: context) }
        } catch is CancellationError {
            return .retry(step: "sleep", reason: .retry, message: "cancelled")
        } catch {
            return .retry(step: "sleep", reason: .retry, message: "\(error)")
        }
        if let message = payload.fail { return .failed(step: "sleep", message: message) }
        return .succeeded()
    }

    /// Creates the recording tables (idempotent; tests call it before starting workers).
    public static func prepareRecording(_ pool: PostgresPool) async throws {
        try await pool.withConnection { connection in
            try await connection.executeScript(
                unsafeSQL: """
                    CREATE SCHEMA IF NOT EXISTS onboarder_test;
                    CREATE TABLE IF NOT EXISTS onboarder_test.running (
                        job_id bigint PRIMARY KEY, msp_id text NOT NULL, tenant_id bigint NOT NULL, worker_id text NOT NULL);
                    CREATE TABLE IF NOT EXISTS onboarder_test.runs (
                        job_id bigint NOT NULL, worker_id text NOT NULL, attempt integer NOT NULL,
                        started_at timestamptz NOT NULL DEFAULT clock_timestamp(), ended_at timestamptz);
                    CREATE TABLE IF NOT EXISTS onboarder_test.observed (
                        scope text NOT NULL, key text NOT NULL, max_running integer NOT NULL, PRIMARY KEY (scope, key));
                    -- Workers run as the worker role, not as the tables' owner.
                    DO $$ BEGIN
                        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'onboarder_worker') THEN
                            GRANT USAGE ON SCHEMA onboarder_test TO onboarder_worker;
                            GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA onboarder_test TO onboarder_worker;
                        END IF;
                    END $$;
                    """)
        }
    }

    static func recordStart(_ job: ClaimedJob, context: JobContext) async throws {
        try await context.pool.query(
            """
            WITH r AS (INSERT INTO onboarder_test.running VALUES (\(job.id), \(job.mspID), \(job.tenantID), \(context.workerID))
                       ON CONFLICT (job_id) DO UPDATE SET worker_id = EXCLUDED.worker_id RETURNING 1)
            INSERT INTO onboarder_test.runs (job_id, worker_id, attempt) SELECT \(job.id), \(context.workerID), \(job.attempts) FROM r
            """)
        try await context.pool.query(
            """
            INSERT INTO onboarder_test.observed (scope, key, max_running)
            SELECT 'global', '', count(*) FROM onboarder_test.running
            UNION ALL SELECT 'msp', \(job.mspID), count(*) FROM onboarder_test.running WHERE msp_id = \(job.mspID)
            UNION ALL SELECT 'tenant', \(String(job.tenantID)), count(*) FROM onboarder_test.running WHERE tenant_id = \(job.tenantID)
            UNION ALL SELECT 'worker', \(context.workerID), count(*) FROM onboarder_test.running WHERE worker_id = \(context.workerID)
            ON CONFLICT (scope, key) DO UPDATE SET max_running = greatest(onboarder_test.observed.max_running, EXCLUDED.max_running)
            """)
    }

    static func recordEnd(_ job: ClaimedJob, context: JobContext) async throws {
        try await context.pool.query(
            """
            WITH d AS (DELETE FROM onboarder_test.running WHERE job_id = \(job.id) RETURNING 1)
            UPDATE onboarder_test.runs SET ended_at = clock_timestamp()
             WHERE job_id = \(job.id) AND worker_id = \(context.workerID) AND ended_at IS NULL
            """)
    }
}
