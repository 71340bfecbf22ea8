/// A job's state: the values of `onboarder.jobs.state` (sql/migrations/0002_queue.sql's CHECK), spelled
/// as the SQL spells them.
public enum JobState: String, Sendable, Codable, CaseIterable {
    case queued
    case running
    case waiting
    case succeeded
    case succeededWithWarnings = "succeeded_with_warnings"
    case needsAttention = "needs_attention"
    case failed
    case cancelled

    /// Terminal: the job is done and holds no slot (the states `finish()` stamps `finished_at` on).
    public var isFinal: Bool {
        switch self {
        case .succeeded, .succeededWithWarnings, .failed, .cancelled: true
        case .queued, .running, .waiting, .needsAttention: false
        }
    }
}

/// A worker's state: the values of `onboarder.workers.state`.
public enum WorkerState: String, Sendable, Codable, CaseIterable {
    case running
    /// Shutting down: claims nothing more, finishes or releases what it runs.
    case draining
    case stopped
    /// Silent for the lease and taken over by another worker's reaper.
    case dead
}
