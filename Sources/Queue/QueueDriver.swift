/// What a worker needs from a job queue. `JobQueue` implements it on PostgreSQL (the production queue);
/// the worker's unit tests implement it in memory, so the worker's loop runs without a database.
///
/// The guarantees — limits, ownership, leases — belong to the implementation: `claim` never hands out
/// more than the limits allow, `finish` applies only completions of jobs the worker still holds, `reap`
/// takes back the jobs of workers silent for the lease.
public protocol QueueDriver: Sendable {
    /// Registers a worker (or revives a restarted one with the same id) as running.
    func register(worker: String, host: String, pid: Int32, concurrency: Int, version: String) async throws
    /// Marks a worker draining or stopped (a dead worker stays dead).
    func setWorkerState(_ worker: String, _ state: WorkerState) async throws
    /// Claims up to `limit` ready jobs of `kinds`.
    func claim(worker: String, limit: Int, kinds: [String]) async throws -> [ClaimedJob]
    /// A step's failed tries so far: what the retry decision is made on.
    func stepCounts(job: Int64, step: String) async throws -> StepCounts
    /// Applies completions (and records their steps' failures) in one transaction; returns the ids that
    /// were still this worker's — the others were taken back, and their results are dropped.
    func finish(worker: String, _ completions: [JobCompletion], stepFailures: [StepFailure]) async throws -> Set<Int64>
    /// Proves the worker alive; false means it was declared dead and must stop.
    func heartbeat(worker: String) async throws -> Bool
    /// Declares workers silent for `lease` dead, apart from `reaper` itself, and requeues their jobs; returns
    /// how many were rescued.
    func reap(lease: Duration, reaper: String) async throws -> Int
    /// Wake-ups when work may have arrived (enqueues, finished jobs, a reconnect); nil for a driver that
    /// has none, whose workers rely on the poll.
    func listen() -> QueueWakeUps?
}

/// A stream of "look for work now", and how to stop it.
public struct QueueWakeUps: Sendable {
    public let events: AsyncStream<Void>
    private let stopper: @Sendable () async -> Void

    public init(events: AsyncStream<Void>, stop: @escaping @Sendable () async -> Void) {
        self.events = events
        self.stopper = stop
    }

    /// Ends `events` and releases what produces them; returns once it is released.
    public func stop() async { await stopper() }
}
