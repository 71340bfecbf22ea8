import Foundation
import Queue

/// How a worker runs. Defaults suit production; tests shorten the intervals.
public struct WorkerConfiguration: Sendable {
    /// Unique per process; shows in `onboarder.workers` and on every job it runs.
    public var id: String
    /// Jobs in flight at once in this process.
    public var concurrency: Int = 50
    /// Most jobs one claim statement takes.
    public var claimBatch: Int = 100
    /// Fallback poll for new work when no NOTIFY arrives.
    public var pollInterval: Duration = .seconds(2)
    /// How often the worker proves it is alive.
    public var heartbeatInterval: Duration = .seconds(2)
    /// A worker silent this long is declared dead and its jobs go back to the queue.
    public var lease: Duration = .seconds(30)
    /// How often this worker looks for dead workers' jobs (any worker may; it is idempotent).
    public var reapInterval: Duration = .seconds(10)
    /// On SIGTERM: how long running jobs may take to finish before they are released to the queue.
    public var shutdownDeadline: Duration = .seconds(30)
    public var retryPolicy = RetryPolicy()

    public init(id: String = WorkerConfiguration.defaultID()) {
        self.id = id
    }

    /// `host-pid-random`.
    public static func defaultID() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UInt16.random(in: .min ... .max))"
    }
}

extension WorkerConfiguration {
    /// The state machine's share of the configuration.
    var limits: WorkerMachine.Limits {
        .init(concurrency: concurrency, claimBatch: claimBatch, shutdownDeadline: shutdownDeadline)
    }
}
