import Foundation
import Logging
import Postgres
import Queue
import ServiceLifecycle
import Synchronization

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

/// Thrown when the worker must stop: it was declared dead (its jobs are someone else's now). The process
/// exits non-zero and systemd restarts it with a new identity.
public struct WorkerStopped: Error, CustomStringConvertible {
    public let description: String
}

/// The worker daemon: claims jobs within the limits, runs them with bounded parallelism, writes their
/// outcomes, heartbeats, rescues dead workers' jobs, and drains on SIGTERM.
public final class Worker: Service {
    public let configuration: WorkerConfiguration
    private let pool: PostgresPool
    private let queue: JobQueue
    private let handlers: [String: any JobHandler]
    private let logger: Logger

    private struct RunState {
        var inFlight: [Int64: ClaimedJob] = [:]
        var draining = false
        /// False while heartbeats fail: a worker that cannot prove it is alive must not take more work.
        var heartbeatHealthy = true
    }
    private let state = Mutex(RunState())
    private let wake = WakeSignal()

    public init(configuration: WorkerConfiguration, pool: PostgresPool, handlers: [any JobHandler], logger: Logger) {
        self.configuration = configuration
        self.pool = pool
        self.queue = JobQueue(pool: pool)
        self.handlers = Dictionary(uniqueKeysWithValues: handlers.map { ($0.kind, $0) })
        var logger = logger
        logger[metadataKey: "worker.id"] = "\(configuration.id)"
        self.logger = logger
    }

    /// Jobs running now (for tests and metrics).
    public var inFlightCount: Int { state.withLock { $0.inFlight.count } }

    public func run() async throws {
        try await queue.register(
            worker: configuration.id, host: ProcessInfo.processInfo.hostName, pid: getpid(),
            concurrency: configuration.concurrency, version: "onboarder")
        logger.info(
            "worker started",
            metadata: [
                "worker.concurrency": "\(configuration.concurrency)", "worker.kinds": "\(handlers.keys.sorted())",
            ])
        let listener = PostgresListener(configuration: pool.configuration, channels: [JobQueue.channel])
        let completer = Completer(queue: queue, workerID: configuration.id, logger: logger)
        do {
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await self.maintain() }
                    group.addTask {
                        for await _ in listener.events { self.wake.signal() }
                    }
                    group.addTask { try await self.claimAndRun(completer) }
                    // The claim loop returns after draining; maintain() throws when this worker was declared
                    // dead. Either way the others stop.
                    _ = try await group.next()
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                self.state.withLock { $0.draining = true }
                self.logger.notice("shutdown requested: no more claims; draining")
                self.wake.signal()
            }
        } catch {
            await listener.stop()
            throw error
        }
        await listener.stop()
        try? await queue.setWorkerState(configuration.id, "stopped")
        logger.info("worker stopped")
    }

    // MARK: Claiming and running

    /// Claims stay one ahead: the next claim is sent while the previous one's jobs are being started, so it
    /// waits at the database for that claim to commit (claims are serialised there) instead of leaving the
    /// database idle for a round trip, the rows' decoding and the tasks' start (a third of each claim cycle
    /// in `scripts/bench queue`). Slots are reserved for a claim in flight, so concurrency still holds.
    private static let claimsAhead = 2

    private func claimAndRun(_ completer: Completer) async throws {
        let kinds = Array(handlers.keys)
        try await withThrowingDiscardingTaskGroup { jobs in
            var claims: [(task: Task<[ClaimedJob], Never>, wanted: Int)] = []
            var mayHaveMore = true  // false after a claim came back short, until the next wake-up
            var backlog = false  // the last claim came back full: claim ahead (an idle queue gets one at a time)
            var unstarted: [ClaimedJob] = []  // claimed, but the drain began first
            func start(_ claimed: [ClaimedJob]) {
                for job in claimed {
                    state.withLock { $0.inFlight[job.id] = job }
                    jobs.addTask {
                        await self.execute(job, completer: completer)
                        self.state.withLock { _ = $0.inFlight.removeValue(forKey: job.id) }
                        self.wake.signal()
                    }
                }
            }
            while true {
                let reserved = claims.reduce(0) { $0 + $1.wanted }
                let (free, stop, healthy) = state.withLock {
                    (configuration.concurrency - $0.inFlight.count - reserved, $0.draining, $0.heartbeatHealthy)
                }
                if stop || Task.isCancelled { break }
                let room = claims.isEmpty || (backlog && claims.count < Self.claimsAhead)
                if mayHaveMore && healthy && free > 0 && room {
                    let wanted = min(free, configuration.claimBatch)
                    claims.append((Task { await self.claim(wanted, kinds: kinds) }, wanted))
                    continue
                }
                if !claims.isEmpty {
                    let (task, wanted) = claims.removeFirst()
                    let claimed = await task.value
                    // A drain that began while the claim was in flight starts none of its jobs.
                    if state.withLock({ $0.draining }) {
                        unstarted = claimed
                        break
                    }
                    start(claimed)
                    backlog = claimed.count == wanted
                    if !backlog { mayHaveMore = false }  // the queue is (nearly) empty
                    continue
                }
                await wake.wait()
                mayHaveMore = true
            }
            if Task.isCancelled {
                claims.forEach { $0.task.cancel() }
                jobs.cancelAll()  // declared dead: the jobs are someone else's already
                return
            }
            // Jobs the claims in flight took as the drain began were not started: back to the queue at once,
            // without counting an attempt (should that fail, the lease returns them).
            for (task, _) in claims { unstarted += await task.value }
            if !unstarted.isEmpty {
                let released = try? await release(unstarted.map(\.id))
                logger.notice(
                    "released jobs claimed as the drain began", metadata: ["jobs.released": "\(released?.count ?? 0)"])
            }
            try await drain(&jobs)
        }
    }

    /// Back to the queue at shutdown, without counting an attempt; returns the ids that were still this worker's.
    private func release(_ ids: [Int64]) async throws -> Set<Int64> {
        try await queue.finish(
            worker: configuration.id,
            ids.map {
                JobQueue.Completion(id: $0, state: "queued", error: "released at worker shutdown", uncount: true)
            })
    }

    private func claim(_ limit: Int, kinds: [String]) async -> [ClaimedJob] {
        do {
            return try await queue.claim(worker: configuration.id, limit: limit, kinds: kinds)
        } catch {
            logger.warning("claim failed", metadata: ["error": "\(error)"])
            return []
        }
    }

    /// SIGTERM: no more claims; running jobs get until the deadline, then go back to the queue without
    /// counting an attempt.
    private func drain(_ jobs: inout ThrowingDiscardingTaskGroup<any Error>) async throws {
        try? await queue.setWorkerState(configuration.id, "draining")
        let deadline = ContinuousClock.now + configuration.shutdownDeadline
        logger.notice("draining", metadata: ["jobs.in_flight": "\(inFlightCount)"])
        while inFlightCount > 0 && ContinuousClock.now < deadline {
            await wake.wait()
        }
        let left = state.withLock { Array($0.inFlight.keys) }
        if !left.isEmpty {
            let released = try await release(left)
            logger.notice(
                "released unfinished jobs at the shutdown deadline", metadata: ["jobs.released": "\(released.count)"])
            jobs.cancelAll()
        }
    }

    private func execute(_ job: ClaimedJob, completer: Completer) async {
        var logger = self.logger
        logger[metadataKey: "job.id"] = "\(job.id)"
        logger[metadataKey: "job.kind"] = "\(job.kind)"
        logger[metadataKey: "tenant.id"] = "\(job.tenantID)"
        guard let handler = handlers[job.kind] else { return }  // claim asks only for our kinds
        let context = JobContext(pool: pool, logger: logger, workerID: configuration.id)
        let outcome = await handler.run(job, context: context)
        if Task.isCancelled { return }  // released at the shutdown deadline: the queue has it again
        let completion = await completion(for: job, outcome: outcome, logger: logger)
        logger.log(
            level: completion.state == "succeeded" ? .info : completion.state == "waiting" ? .debug : .notice,
            "job \(completion.state)", metadata: completion.error.map { ["job.error": "\($0)"] } ?? [:])
        if await !completer.complete(completion) {
            logger.warning("job was taken back while it ran (this worker was declared dead); its result is dropped")
        }
    }

    /// Turns a handler's outcome into the job's next state, applying the retry policy per step.
    func completion(for job: ClaimedJob, outcome: JobOutcome, logger: Logger) async -> JobQueue.Completion {
        switch outcome {
        case .succeeded(let warnings):
            return .init(
                id: job.id, state: warnings.isEmpty ? "succeeded" : "succeeded_with_warnings", warnings: warnings)
        case .wait(let step, let reason, let until, let message):
            return .init(
                id: job.id, state: "waiting", runAt: until, waitReason: reason, errorClass: reason.rawValue,
                error: message.map { "\(step): \($0)" })
        case .needsAttention(let step, let message):
            return .init(
                id: job.id, state: "needs_attention", errorClass: "needs_attention",
                error: step.map { "\($0): \(message)" } ?? message, attention: message)
        case .failed(let step, let message):
            return .init(
                id: job.id, state: "failed", errorClass: "failed", error: step.map { "\($0): \(message)" } ?? message)
        case .retry(let step, let reason, let message, let retryAfter):
            // Throttling and replication lag are waits the service asked for, not failures (RetryPolicy.decideWait).
            let counts = reason != .throttled && reason != .replication
            let policy = configuration.retryPolicy
            var failures: Int
            var waits = 0
            do {
                (failures, waits) = try await queue.recordStepFailure(
                    job: job.id, step: step, errorClass: reason.rawValue, message: message, counts: counts)
            } catch {
                failures = job.attempts  // the database is struggling; the job's claim count is a fair stand-in
            }
            let decision =
                counts
                ? policy.decide(failures: failures, retryAfter: retryAfter)
                : policy.decideWait(waits: waits, retryAfter: retryAfter)
            switch decision {
            case .retry(let delay):
                logger.debug("step will be retried", metadata: ["step.name": "\(step)", "retry.delay": "\(delay)"])
                return .init(
                    id: job.id, state: "waiting", delay: delay, waitReason: reason, errorClass: reason.rawValue,
                    error: "\(step): \(message)")
            case .giveUp:
                return .init(
                    id: job.id, state: "failed", errorClass: reason.rawValue,
                    error: counts
                        ? "\(step) failed \(failures) times; last: \(message)"
                        : "\(step) was told to wait \(waits) times (\(reason.rawValue)); last: \(message)")
            }
        }
    }

    // MARK: Heartbeat, rescue, poll tick

    private func maintain() async throws {
        let clock = ContinuousClock()
        var lastBeat = clock.now
        var lastSuccess = clock.now
        var lastReap = clock.now - configuration.reapInterval
        var lastPoll = clock.now
        let tick = min(configuration.pollInterval, configuration.heartbeatInterval, .seconds(1))
        while !Task.isCancelled {
            let now = clock.now
            if now - lastBeat >= configuration.heartbeatInterval {
                lastBeat = now
                do {
                    guard try await queue.heartbeat(worker: configuration.id) else {
                        logger.critical("declared dead by another worker (no heartbeat for the lease); stopping")
                        throw WorkerStopped(description: "worker \(configuration.id) was declared dead")
                    }
                    lastSuccess = clock.now
                } catch let error as WorkerStopped {
                    throw error
                } catch {
                    logger.warning("heartbeat failed", metadata: ["error": "\(error)"])
                }
                // Without a heartbeat for half the lease, stop claiming: others may soon take our jobs.
                let healthy = clock.now - lastSuccess < configuration.lease / 2
                let changed = state.withLock { state in
                    defer { state.heartbeatHealthy = healthy }
                    return state.heartbeatHealthy != healthy
                }
                if changed {
                    logger.notice(healthy ? "heartbeat restored; claiming again" : "cannot heartbeat; not claiming")
                }
            }
            if now - lastReap >= configuration.reapInterval {
                lastReap = now
                do {
                    let rescued = try await queue.reap(lease: configuration.lease)
                    if rescued > 0 {
                        logger.notice("rescued jobs of dead workers", metadata: ["jobs.rescued": "\(rescued)"])
                    }
                } catch {
                    logger.warning("reap failed", metadata: ["error": "\(error)"])
                }
            }
            // The poll fallback at its own interval (a tick every second would make LISTEN pointless), and
            // while draining a check of the shutdown deadline on every tick.
            if clock.now - lastPoll >= configuration.pollInterval || state.withLock({ $0.draining }) {
                lastPoll = clock.now
                wake.signal()
            }
            try await Task.sleep(for: tick)
        }
    }
}
