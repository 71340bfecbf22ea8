import Foundation
import Postgres

/// Enqueues held for approval (`onboarder.batches`, 0013): read through `dashboard.batches` and the
/// batches table (row-level security: a login sees the batches of its MSPs), decided through the SECURITY
/// DEFINER functions of `sql/functions/84_approval.sql`, which check who may.
public enum Batches {
    /// A batch as `batch list` shows it: its state and its jobs counted by state.
    public struct Summary: Sendable, Equatable {
        public var id: Int64
        public var state: String
        public var reason: String
        public var msps: [String]
        public var jobs: Int
        /// Jobs by state; "awaiting approval" apart from other waits.
        public var awaitingApproval, queued, running, waiting, needsAttention, succeeded, failed, cancelled: Int
        public var createdBy: String
        public var createdActor: String?
        public var createdAt: Date
        public var decidedBy: String?
        public var decidedActor: String?
        public var decidedAt: Date?
    }

    /// One of a batch's jobs.
    public struct Job: Sendable, Equatable {
        public var id: Int64
        public var msp: String
        public var tenant: String
        public var state: String
        public var waitReason: String?
        public var step: String?
    }

    /// What became of an approval or a cancellation.
    public enum Decision: Sendable, Equatable {
        /// Done: how many jobs were released (approve) or cancelled (cancel).
        case done(jobs: Int)
        /// No such batch, or none of its MSPs is this login's: the database answers both alike.
        case noSuchBatch
        /// Refused: the login enqueued the batch itself, or does not act for all of its MSPs.
        case refused(String)
        /// The batch was approved or cancelled before.
        case notHeld(String)
    }

    /// Every batch the login may see, held first, then the newest.
    public static func list(on executor: some PostgresExecutor) async throws -> [Summary] {
        try await executor.query(
            """
            SELECT batch, state, reason, msps, jobs, awaiting_approval::int, queued::int, running::int, waiting::int,
                   needs_attention::int, succeeded::int, failed::int, cancelled::int, created_by, created_actor,
                   created_at, decided_by, decided_actor, decided_at
              FROM dashboard.batches ORDER BY state <> 'held', batch DESC
            """
        ).map { row in
            Summary(
                id: try row.decode(Int64.self, column: "batch"), state: try row.decode(String.self, column: "state"),
                reason: try row.decode(String.self, column: "reason"),
                msps: try row.decode([String].self, column: "msps"), jobs: try row.decode(Int.self, column: "jobs"),
                awaitingApproval: try row.decode(Int.self, column: "awaiting_approval"),
                queued: try row.decode(Int.self, column: "queued"),
                running: try row.decode(Int.self, column: "running"),
                waiting: try row.decode(Int.self, column: "waiting"),
                needsAttention: try row.decode(Int.self, column: "needs_attention"),
                succeeded: try row.decode(Int.self, column: "succeeded"),
                failed: try row.decode(Int.self, column: "failed"),
                cancelled: try row.decode(Int.self, column: "cancelled"),
                createdBy: try row.decode(String.self, column: "created_by"),
                createdActor: try row.decode(String?.self, column: "created_actor"),
                createdAt: try row.decode(Date.self, column: "created_at"),
                decidedBy: try row.decode(String?.self, column: "decided_by"),
                decidedActor: try row.decode(String?.self, column: "decided_actor"),
                decidedAt: try row.decode(Date?.self, column: "decided_at"))
        }
    }

    /// One batch, its stored plan (JSON text) and its jobs; nil when the login may not see it.
    public static func show(_ batch: Int64, on executor: some PostgresExecutor) async throws -> (
        summary: Summary, plan: String, jobs: [Job]
    )? {
        guard let summary = try await list(on: executor).first(where: { $0.id == batch }) else { return nil }
        let plan = try await executor.query("SELECT plan::text AS plan FROM onboarder.batches WHERE id = \(batch)")
            .single().decode(String.self, column: "plan")
        let jobs = try await executor.query(
            """
            SELECT j.id, j.msp_id, t.tenant_key, j.state, j.wait_reason, j.current_step
              FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
             WHERE j.batch_id = \(batch) ORDER BY j.id
            """
        ).map { row in
            let (id, msp, tenant, state, reason, step) = try row.decode(
                (Int64, String, String, String, String?, String?).self)
            return Job(id: id, msp: msp, tenant: tenant, state: state, waitReason: reason, step: step)
        }
        return (summary, plan, jobs)
    }

    /// `approve_batch`: releases the held batch's jobs (as a member of onboarder_approver).
    public static func approve(_ batch: Int64, actor: String?, on executor: some PostgresExecutor) async throws
        -> Decision
    {
        try await decide("approve_batch", batch, actor: actor, on: executor)
    }

    /// `cancel_batch`: cancels the held batch and its jobs waiting for approval.
    public static func cancel(_ batch: Int64, actor: String?, on executor: some PostgresExecutor) async throws
        -> Decision
    {
        try await decide("cancel_batch", batch, actor: actor, on: executor)
    }

    private static func decide(
        _ function: StaticString, _ batch: Int64, actor: String?, on executor: some PostgresExecutor
    ) async throws -> Decision {
        do {
            let jobs = try await executor.query(
                "SELECT onboarder.\(unsafeSQL: "\(function)")(\(batch), \(actor)) AS n"
            ).single().decode(Int.self, column: "n")
            return .done(jobs: jobs)
        } catch let error as PostgresError {
            switch error.sqlState {
            case "P0002": return .noSuchBatch
            case "42501": return .refused(error.message)
            case "55000": return .notHeld(error.message)
            default: throw error
            }
        }
    }
}
