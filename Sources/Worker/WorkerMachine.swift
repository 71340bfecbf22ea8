import Queue

/// The worker's decisions, without I/O: which claims to send, which jobs to start, what becomes of a
/// finished job, when a drain is over. `Worker` feeds it events — a claim came back, a job finished, a
/// shutdown was requested — and performs the actions it returns.
///
/// Claims run ahead: the next claim is sent while the previous one's jobs are being started, so it waits
/// at the database for that claim to commit (claims are serialised there) instead of leaving the database
/// idle for a round trip, the rows' decoding and the tasks' start (a third of each claim cycle in
/// `scripts/bench queue`). Slots are reserved for every claim in flight, so the concurrency still holds.
public struct WorkerMachine {
    public struct Limits: Sendable, Equatable {
        /// Jobs in flight at once (a claim in flight reserves the slots it asked for).
        public var concurrency: Int
        /// Most jobs one claim takes.
        public var claimBatch: Int
        /// Claims in flight at once while the queue has a backlog (an idle queue gets one at a time).
        public var claimsAhead: Int
        /// How long running jobs may take to finish after a shutdown was requested.
        public var shutdownDeadline: Duration

        public init(concurrency: Int, claimBatch: Int, claimsAhead: Int = 2, shutdownDeadline: Duration) {
            self.concurrency = concurrency
            self.claimBatch = claimBatch
            self.claimsAhead = claimsAhead
            self.shutdownDeadline = shutdownDeadline
        }
    }

    /// Names a claim in flight, so its result finds the slots reserved for it.
    public typealias ClaimID = Int

    public enum Event: Sendable {
        /// Work may have arrived: the worker started, a notification, the poll.
        case wake
        /// The heartbeat failed for half the lease (others may soon take this worker's jobs), or came back.
        case heartbeat(healthy: Bool)
        /// A claim came back with these jobs (none when the queue had nothing or the claim failed).
        case claimReturned(ClaimID, jobs: [Int64])
        /// A job's handler returned; `prior` is its step's failures before this try, for a `.retry`.
        case jobFinished(job: Int64, attempts: Int, outcome: JobOutcome, prior: StepCounts?)
        /// A job's completion was written (or refused: the job was taken back): its slot is free.
        case completionRecorded(job: Int64)
        /// SIGTERM: claim nothing more, let running jobs finish until the deadline.
        case shutdownRequested
        case deadlineReached
        /// The worker was declared dead: its jobs are someone else's already.
        case cancelled
    }

    public enum Action: Sendable, Equatable {
        case claim(ClaimID, limit: Int)
        case start([Int64])
        /// Write the job's settlement; answer with `.completionRecorded`.
        case complete(JobSettlement)
        /// Back to the queue without counting an attempt (claimed as the drain began, or still running at
        /// its deadline).
        case release([Int64])
        /// Stop running these jobs; their results are not written.
        case cancel([Int64])
        case markDraining
        /// Answer with `.deadlineReached` after this long.
        case scheduleDeadline(after: Duration)
        /// Nothing is running or being claimed: the worker may return.
        case stop
    }

    public let limits: Limits
    public let retryPolicy: RetryPolicy
    /// The retry jitter's source (tests pass a seeded one).
    private var random: any RandomNumberGenerator

    /// Jobs whose handler runs.
    private var running: Set<Int64> = []
    /// Jobs whose completion is being written, and how many times (a job retried after a short delay can
    /// be claimed and run again before the write of its previous try is reported).
    private var completing: [Int64: Int] = [:]
    /// Claims in flight and the slots each reserved.
    public private(set) var claims: [ClaimID: Int] = [:]
    public private(set) var draining = false
    public private(set) var stopped = false
    private var healthy = true
    /// False after a claim came back short (the queue is about empty), until the next wake-up.
    private var mayHaveMore = true
    /// The last claim came back full: claim ahead.
    private var backlog = false
    private var nextClaim: ClaimID = 0

    public init(
        limits: Limits, retryPolicy: RetryPolicy,
        random: any RandomNumberGenerator = SystemRandomNumberGenerator()
    ) {
        self.limits = limits
        self.retryPolicy = retryPolicy
        self.random = random
    }

    public mutating func handle(_ event: Event) -> [Action] {
        guard !stopped else { return [] }
        switch event {
        case .wake:
            mayHaveMore = true
            return claimsToSend()
        case .heartbeat(let healthy):
            self.healthy = healthy
            return claimsToSend()
        case .claimReturned(let claim, let jobs):
            guard let wanted = claims.removeValue(forKey: claim) else { return [] }
            if draining {
                // A drain that began while the claim was in flight starts none of its jobs.
                return (jobs.isEmpty ? [] : [.release(jobs)]) + stopIfIdle()
            }
            running.formUnion(jobs)
            backlog = jobs.count == wanted
            if !backlog { mayHaveMore = false }
            return (jobs.isEmpty ? [] : [.start(jobs)]) + claimsToSend()
        case .jobFinished(let job, let attempts, let outcome, let prior):
            // A job released at the deadline is the queue's again: its result is not written.
            guard running.remove(job) != nil else { return [] }
            completing[job, default: 0] += 1
            return [
                .complete(
                    JobSettlement.decide(
                        job: job, attempts: attempts, outcome: outcome, prior: prior, policy: retryPolicy,
                        using: &random))
            ]
        case .completionRecorded(let job):
            guard let writes = completing[job] else { return [] }
            completing[job] = writes > 1 ? writes - 1 : nil
            if draining { return stopIfIdle() }
            mayHaveMore = true
            return claimsToSend()
        case .shutdownRequested:
            guard !draining else { return [] }
            draining = true
            return [.markDraining, .scheduleDeadline(after: limits.shutdownDeadline)] + stopIfIdle()
        case .deadlineReached:
            guard draining else { return [] }
            // Jobs whose completion is being written go back too: whichever write comes second is refused.
            let left = running.union(completing.keys).sorted()
            running = []
            completing = [:]
            return (left.isEmpty ? [] : [.release(left), .cancel(left)]) + stopIfIdle()
        case .cancelled:
            let left = running.union(completing.keys).sorted()
            running = []
            completing = [:]
            stopped = true
            return (left.isEmpty ? [] : [.cancel(left)]) + [.stop]
        }
    }

    /// Slots held by jobs: running, or their completion being written.
    public var inFlightCount: Int { running.count + completing.values.reduce(0, +) }

    /// Reserved by claims in flight.
    private var reserved: Int { claims.values.reduce(0, +) }

    private mutating func claimsToSend() -> [Action] {
        var actions: [Action] = []
        while !draining && healthy && mayHaveMore {
            let free = limits.concurrency - inFlightCount - reserved
            let room = claims.isEmpty || (backlog && claims.count < limits.claimsAhead)
            guard free > 0 && room else { break }
            let wanted = min(free, limits.claimBatch)
            nextClaim += 1
            claims[nextClaim] = wanted
            actions.append(.claim(nextClaim, limit: wanted))
        }
        return actions
    }

    /// Draining ends when nothing runs and no claim is out (a claim's jobs must be released first).
    private mutating func stopIfIdle() -> [Action] {
        guard draining, inFlightCount == 0, claims.isEmpty else { return [] }
        stopped = true
        return [.stop]
    }
}
