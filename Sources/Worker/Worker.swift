import Foundation
import Logging
import Postgres
import Queue
import ServiceLifecycle
import Synchronization

/// The worker daemon's claim-and-run loop: feeds `WorkerMachine` the events — claims coming back, jobs
/// finishing, SIGTERM, the drain's deadline — and performs the actions it returns against a `QueueDriver`.
/// The heartbeat and the reaper are services of their own (`HeartbeatService`, `ReaperService`) in the
/// same service group; the heartbeat reports its health here (`heartbeatChanged`).
public final class Worker: Service {
    public let configuration: WorkerConfiguration
    private let queue: any QueueDriver
    private let pool: PostgresPool
    private let handlers: [String: any JobHandler]
    private let logger: Logger
    private let events: AsyncStream<WorkerMachine.Event>
    private let post: AsyncStream<WorkerMachine.Event>.Continuation
    /// Jobs claimed and not yet started or released, by id (the machine deals in ids).
    private let claimed = Mutex<[Int64: ClaimedJob]>([:])
    /// Each started job's logger (its id, kind and tenant), until its completion is logged.
    private let jobLoggers = Mutex<[Int64: Logger]>([:])
    private let running = Atomic<Int>(0)

    /// A worker on the PostgreSQL queue.
    public convenience init(
        configuration: WorkerConfiguration, pool: PostgresPool, handlers: [any JobHandler], logger: Logger
    ) {
        self.init(
            configuration: configuration, queue: JobQueue(pool: pool), pool: pool, handlers: handlers, logger: logger)
    }

    /// - Parameter pool: what handlers get in their `JobContext` (their own tables); the queue is `queue`.
    public init(
        configuration: WorkerConfiguration, queue: any QueueDriver, pool: PostgresPool, handlers: [any JobHandler],
        logger: Logger
    ) {
        self.configuration = configuration
        self.queue = queue
        self.pool = pool
        self.handlers = Dictionary(uniqueKeysWithValues: handlers.map { ($0.kind, $0) })
        var logger = logger
        logger[metadataKey: "worker.id"] = "\(configuration.id)"
        self.logger = logger
        (events, post) = AsyncStream.makeStream(of: WorkerMachine.Event.self)
    }

    /// Jobs running now (for tests and metrics).
    public var inFlightCount: Int { running.load(ordering: .relaxed) }

    /// Registers this worker in the queue. Before the service group starts: the heartbeat of a worker the
    /// queue does not know says it is dead.
    public func register() async throws {
        try await queue.register(
            worker: configuration.id, host: ProcessInfo.processInfo.hostName, pid: getpid(),
            concurrency: configuration.concurrency, version: "onboarder")
    }

    /// The heartbeat failed for half the lease (stop claiming: others may soon take our jobs), or is back.
    public func heartbeatChanged(healthy: Bool) {
        post.yield(.heartbeat(healthy: healthy))
    }

    public func run() async throws {
        logger.info(
            "worker started",
            metadata: [
                "worker.concurrency": "\(configuration.concurrency)", "worker.kinds": "\(handlers.keys.sorted())",
            ])
        let wakeUps = queue.listen()
        let completer = Completer(queue: queue, workerID: configuration.id, logger: logger)
        var machine = WorkerMachine(limits: configuration.limits, retryPolicy: configuration.retryPolicy)
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { background in
                await withDiscardingTaskGroup { jobs in
                    if let wakeUps {
                        background.addTask { for await _ in wakeUps.events { self.post.yield(.wake) } }
                    }
                    // The poll: the fallback for a notification lost while the listener reconnected.
                    background.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: self.configuration.pollInterval)
                            self.post.yield(.wake)
                        }
                    }
                    post.yield(.wake)
                    for await event in events {
                        for action in machine.handle(event) {
                            await perform(action, background: &background, jobs: &jobs, completer: completer)
                        }
                        running.store(machine.inFlightCount, ordering: .relaxed)
                        if machine.stopped { break }
                    }
                    if !machine.stopped {
                        // Cancelled: this worker was declared dead, and its jobs are someone else's already.
                        for action in machine.handle(.cancelled) {
                            await perform(action, background: &background, jobs: &jobs, completer: completer)
                        }
                    }
                }
                background.cancelAll()
            }
        } onGracefulShutdown: {
            self.post.yield(.shutdownRequested)
        }
        await wakeUps?.stop()
        logger.info(Task.isCancelled ? "worker cancelled" : "worker drained")
    }

    private func perform(
        _ action: WorkerMachine.Action, background: inout DiscardingTaskGroup, jobs: inout DiscardingTaskGroup,
        completer: Completer
    ) async {
        switch action {
        case .claim(let claim, let limit):
            background.addTask {
                let claimed = await self.claim(limit)
                self.claimed.withLock { pending in
                    for job in claimed { pending[job.id] = job }
                }
                self.post.yield(.claimReturned(claim, jobs: claimed.map(\.id)))
            }
        case .start(let ids):
            let started = claimed.withLock { pending in ids.compactMap { pending.removeValue(forKey: $0) } }
            for job in started {
                var logger = self.logger
                logger[metadataKey: "job.id"] = "\(job.id)"
                logger[metadataKey: "job.kind"] = "\(job.kind)"
                logger[metadataKey: "tenant.id"] = "\(job.tenantID)"
                jobLoggers.withLock { $0[job.id] = logger }
                jobs.addTask { [logger] in await self.execute(job, logger: logger) }
            }
        case .complete(let settlement):
            let completion = settlement.completion
            let logger = jobLoggers.withLock { $0.removeValue(forKey: completion.id) } ?? logger
            background.addTask {
                logger.log(
                    level: completion.jobState == .succeeded
                        ? .info : completion.jobState == .waiting ? .debug : .notice,
                    "job \(completion.state)", metadata: completion.error.map { ["job.error": "\($0)"] } ?? [:])
                if await !completer.complete(settlement) {
                    logger.warning(
                        "job was taken back while it ran (this worker was declared dead); its result is dropped")
                }
                self.post.yield(.completionRecorded(job: completion.id))
            }
        case .release(let ids):
            claimed.withLock { pending in
                for id in ids { pending.removeValue(forKey: id) }
            }
            let released = try? await queue.finish(
                worker: configuration.id,
                ids.map { JobCompletion(id: $0, state: .queued, error: "released at worker shutdown", uncount: true) },
                stepFailures: [])
            // Should the release fail, the lease returns the jobs.
            logger.notice("released jobs to the queue", metadata: ["jobs.released": "\(released?.count ?? 0)"])
        case .cancel:
            // The machine cancels only when every job in flight goes (the deadline, or declared dead).
            jobs.cancelAll()
        case .markDraining:
            logger.notice(
                "shutdown requested: no more claims; draining", metadata: ["jobs.in_flight": "\(inFlightCount)"])
            try? await queue.setWorkerState(configuration.id, .draining)
        case .scheduleDeadline(let after):
            background.addTask {
                try? await Task.sleep(for: after)
                self.post.yield(.deadlineReached)
            }
        case .stop:
            break
        }
    }

    private func claim(_ limit: Int) async -> [ClaimedJob] {
        do {
            return try await queue.claim(worker: configuration.id, limit: limit, kinds: Array(handlers.keys))
        } catch {
            logger.warning("claim failed", metadata: ["error": "\(error)"])
            return []
        }
    }

    /// Runs the job's handler, reads what the retry decision needs, and reports to the loop.
    private func execute(_ job: ClaimedJob, logger: Logger) async {
        let outcome: JobOutcome
        if let handler = handlers[job.kind] {
            outcome = await handler.run(
                job, context: JobContext(pool: pool, logger: logger, workerID: configuration.id))
        } else {
            // Cannot happen (claims ask only for our kinds); failed rather than left holding its slot.
            outcome = .failed(step: nil, message: "this worker has no handler for kind \(job.kind)")
        }
        var prior: StepCounts?
        if let step = outcome.retriedStep, !Task.isCancelled {
            // Unreadable (the database struggles): the decision falls back on the job's claims.
            prior = try? await queue.stepCounts(job: job.id, step: step)
        }
        post.yield(.jobFinished(job: job.id, attempts: job.attempts, outcome: outcome, prior: prior))
    }
}
