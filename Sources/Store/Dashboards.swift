import Postgres

/// A table read for display: column names and every cell as text ("" for NULL).
public struct TextTable: Sendable, Equatable {
    public let columns: [String]
    public let rows: [[String]]

    init(_ result: PostgresRows) {
        columns = result.columns.map(\.name)
        rows = result.map { row in
            (0..<result.columns.count).map { (try? row[$0].decode(String?.self)) ?? nil ?? "" }
        }
    }
}

/// What `onboarder status` and `show` print: the dashboard views (`sql/functions/50_dashboards.sql`,
/// under the viewer's row-level security) and a job's steps and events.
public enum Dashboards {
    /// Per MSP (or only `msp`): jobs by state, the oldest queued job's time, jobs finished in the last hour.
    public static func queueOverview(msp: String?, on executor: some PostgresExecutor) async throws -> TextTable {
        TextTable(
            try await executor.query(
                """
                SELECT msp, queued::text, running::text, waiting::text, needs_attention::text, failed::text,
                       succeeded::text, with_warnings::text, cancelled::text,
                       coalesce(date_trunc('second', oldest_queued)::text, '') AS oldest_queued,
                       finished_last_hour::text
                  FROM dashboard.queue_overview WHERE \(msp)::text IS NULL OR msp = \(msp) ORDER BY msp
                """))
    }

    /// The customer's latest job as `dashboard.tenant_status` has it: one row (msp, tenant, domain, job,
    /// kind, state, wait reason, step, attempts, next run, attention, last error, summary), its job column
    /// empty when the customer has no job; no row for a customer this login cannot see.
    public static func tenantStatus(msp: String, tenant: String, on executor: some PostgresExecutor) async throws
        -> TextTable
    {
        TextTable(
            try await executor.query(
                """
                SELECT msp, tenant, coalesce(default_domain, ''), job_id::text, kind, state, coalesce(wait_reason, ''),
                       coalesce(current_step, ''), attempts::text, coalesce(next_run::text, ''),
                       coalesce(attention, ''), coalesce(last_error, ''), coalesce(summary, '')
                  FROM dashboard.tenant_status WHERE msp = \(msp) AND tenant = \(tenant)
                """))
    }

    /// A job's step timeline: step, state, failures, started, seconds, last error.
    public static func steps(job: Int64, on executor: some PostgresExecutor) async throws -> TextTable {
        TextTable(
            try await executor.query(
                """
                SELECT step, state, attempts::text, coalesce(to_char(started_at, 'YYYY-MM-DD HH24:MI:SS'), ''),
                       coalesce(round(extract(epoch FROM finished_at - started_at)::numeric, 2)::text, ''),
                       coalesce(last_error, '')
                  FROM onboarder.job_steps WHERE job_id = \(job) ORDER BY started_at NULLS LAST, step
                """))
    }

    /// A job's events in order: at, event, step, worker, detail.
    public static func events(job: Int64, on executor: some PostgresExecutor) async throws -> TextTable {
        TextTable(
            try await executor.query(
                """
                SELECT to_char(at, 'YYYY-MM-DD HH24:MI:SS.MS'), kind, coalesce(step, ''), coalesce(worker_id, ''),
                       coalesce(detail::text, '')
                  FROM onboarder.events WHERE job_id = \(job) ORDER BY id
                """))
    }
}
