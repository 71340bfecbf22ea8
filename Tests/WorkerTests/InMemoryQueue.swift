import Foundation
import Postgres
import Queue
import Synchronization

/// A `QueueDriver` in memory, so the worker's loop is tested without processes or a database. It keeps
/// the guarantees the worker relies on from `onboarder.claim`/`finish`/`reap`: a job is claimed by one
/// worker at a time, only the worker holding a job may finish it, a dead worker's jobs go back to the
/// queue and its late results are refused. It has no MSP or tenant limits (the SQL tests cover those).
final class InMemoryQueue: QueueDriver, Sendable {
    struct Job: Sendable {
        var id: Int64
        var kind: String
        var state: JobState
        var runAt: ContinuousClock.Instant
        var attempts = 0
        var rescues = 0
        var worker: String?
        var error: String?
        var waitReason: WaitReason?
    }

    private struct State {
        var jobs: [Int64: Job] = [:]
        var steps: [String: StepCounts] = [:]
        var workers: [String: WorkerState] = [:]
        var nextID: Int64 = 0
        var claimLimits: [Int] = []
        var heartbeatsFail = false
        var wakeUps: [AsyncStream<Void>.Continuation] = []
    }

    private let state = Mutex(State())
    private let clock = ContinuousClock()

    /// Adds `count` jobs of `kind`, due now; returns their ids. Wakes listeners, as enqueue's NOTIFY does.
    @discardableResult
    func enqueue(_ count: Int, kind: String = "test") -> [Int64] {
        let now = clock.now
        let (ids, listeners) = state.withLock { state -> ([Int64], [AsyncStream<Void>.Continuation]) in
            let ids = (0..<count).map { _ -> Int64 in
                state.nextID += 1
                state.jobs[state.nextID] = Job(id: state.nextID, kind: kind, state: .queued, runAt: now)
                return state.nextID
            }
            return (ids, state.wakeUps)
        }
        for listener in listeners { listener.yield() }
        return ids
    }

    func job(_ id: Int64) -> Job? { state.withLock { $0.jobs[id] } }
    var jobs: [Job] { state.withLock { $0.jobs.values.sorted { $0.id < $1.id } } }
    func count(_ jobState: JobState) -> Int { state.withLock { $0.jobs.values.count { $0.state == jobState } } }
    func workerState(_ worker: String) -> WorkerState? { state.withLock { $0.workers[worker] } }
    func steps(_ job: Int64, _ step: String) -> StepCounts? { state.withLock { $0.steps["\(job)/\(step)"] } }
    /// The limit of every claim so far.
    var claimLimits: [Int] { state.withLock { $0.claimLimits } }

    func failHeartbeats(_ fail: Bool) { state.withLock { $0.heartbeatsFail = fail } }

    /// What another worker's reaper does to a worker gone silent: declares it dead, requeues its jobs.
    func declareDead(_ worker: String) {
        state.withLock { state in
            state.workers[worker] = .dead
            for (id, job) in state.jobs where job.worker == worker && job.state == .running {
                state.jobs[id]?.state = .queued
                state.jobs[id]?.worker = nil
                state.jobs[id]?.rescues += 1
            }
        }
    }

    // MARK: QueueDriver

    func register(worker: String, host: String, pid: Int32, concurrency: Int, version: String) async throws {
        state.withLock { $0.workers[worker] = .running }
    }

    func setWorkerState(_ worker: String, _ workerState: WorkerState) async throws {
        state.withLock { state in
            if state.workers[worker] != .dead { state.workers[worker] = workerState }
        }
    }

    func claim(worker: String, limit: Int, kinds: [String]) async throws -> [ClaimedJob] {
        let now = clock.now
        return state.withLock { state in
            state.claimLimits.append(limit)
            guard state.workers[worker] != .dead else { return [] }
            let due = state.jobs.values
                .filter { ($0.state == .queued || $0.state == .waiting) && $0.runAt <= now && kinds.contains($0.kind) }
                .sorted { $0.id < $1.id }
                .prefix(limit)
            return due.map { job in
                state.jobs[job.id]?.state = .running
                state.jobs[job.id]?.worker = worker
                state.jobs[job.id]?.attempts += 1
                return ClaimedJob(
                    id: job.id, kind: job.kind, mspID: "m", tenantID: job.id, tenantKey: "tenant-\(job.id)",
                    payload: PostgresJSON(text: "{}"), attempts: job.attempts + 1, rescues: job.rescues)
            }
        }
    }

    func stepCounts(job: Int64, step: String) async throws -> StepCounts {
        state.withLock { $0.steps["\(job)/\(step)"] ?? StepCounts(attempts: 0, waits: 0) }
    }

    func finish(worker: String, _ completions: [JobCompletion], stepFailures: [StepFailure]) async throws
        -> Set<Int64>
    {
        let now = clock.now
        return state.withLock { state in
            for failure in stepFailures {
                var counts = state.steps["\(failure.job)/\(failure.step)"] ?? StepCounts(attempts: 0, waits: 0)
                if failure.counts { counts.attempts += 1 } else { counts.waits += 1 }
                state.steps["\(failure.job)/\(failure.step)"] = counts
            }
            var mine: Set<Int64> = []
            for completion in completions {
                guard var job = state.jobs[completion.id], job.worker == worker, job.state == .running,
                    let next = completion.jobState
                else { continue }
                job.state = next
                job.worker = nil
                job.error = completion.error
                job.waitReason = completion.wait_reason.flatMap(WaitReason.init(rawValue:))
                if let delay = completion.delay_ms { job.runAt = now + .milliseconds(delay) }
                if completion.uncount == true { job.attempts -= 1 }
                state.jobs[job.id] = job
                mine.insert(job.id)
            }
            return mine
        }
    }

    struct Unreachable: Error {}

    func heartbeat(worker: String) async throws -> Bool {
        try state.withLock { state in
            if state.heartbeatsFail { throw Unreachable() }
            return state.workers[worker] == .running || state.workers[worker] == .draining
        }
    }

    func reap(lease: Duration, reaper: String) async throws -> Int { 0 }

    func listen() -> QueueWakeUps? {
        let (events, continuation) = AsyncStream.makeStream(of: Void.self)
        state.withLock { $0.wakeUps.append(continuation) }
        return QueueWakeUps(events: events, stop: { continuation.finish() })
    }
}
