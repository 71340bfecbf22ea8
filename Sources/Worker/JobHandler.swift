import Logging
import Postgres
import Queue

/// Runs jobs of one kind. The onboarding and rotation pipelines are handlers; so is `SleepHandler`,
/// the trivial one tests and benchmarks use.
///
/// A handler must be idempotent: a job whose worker died is run again by another, and
/// a job can be cancelled at shutdown after its deadline and run again later.
public protocol JobHandler: Sendable {
    var kind: String { get }
    func run(_ job: ClaimedJob, context: JobContext) async -> JobOutcome
}

/// What a handler gets besides its job.
public struct JobContext: Sendable {
    public let pool: PostgresPool
    public let logger: Logger
    public let workerID: String
}
