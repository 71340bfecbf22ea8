import Foundation
import Logging
import Postgres
import Queue
import ServiceLifecycle
import Synchronization
import Testing
import Worker

/// How many handlers run at once, at most, and which jobs started, finished or were cancelled.
final class Gauge: Sendable {
    private struct State {
        var running = 0
        var peak = 0
        var started: [Int64] = []
        var cancelled: [Int64] = []
    }
    private let state = Mutex(State())

    func enter(_ job: Int64) {
        state.withLock {
            $0.running += 1
            $0.peak = max($0.peak, $0.running)
            $0.started.append(job)
        }
    }
    func leave(_ job: Int64, cancelled: Bool) {
        state.withLock {
            $0.running -= 1
            if cancelled { $0.cancelled.append(job) }
        }
    }
    var peak: Int { state.withLock { $0.peak } }
    var started: [Int64] { state.withLock { $0.started } }
    var cancelled: [Int64] { state.withLock { $0.cancelled } }
}

/// A handler whose outcome a test writes; it counts itself into a gauge.
struct ScriptedHandler: JobHandler {
    let kind = "test"
    let gauge: Gauge
    let script: @Sendable (ClaimedJob) async -> JobOutcome

    func run(_ job: ClaimedJob, context: JobContext) async -> JobOutcome {
        gauge.enter(job.id)
        let outcome = await script(job)
        gauge.leave(job.id, cancelled: Task.isCancelled)
        return outcome
    }

    /// Works for `duration` (stopping early when cancelled), then succeeds.
    static func sleeping(_ duration: Duration, _ gauge: Gauge) -> ScriptedHandler {
        ScriptedHandler(gauge: gauge) { _ in
            do { try await Task.sleep(for: duration) } catch {
                return .retry(step: "work", reason: .retry, message: "cancelled")
            }
            return .succeeded()
        }
    }
}

/// A worker on the in-memory queue, run in a service group as `onboarder worker` runs it.
struct LoopLab {
    let queue = InMemoryQueue()
    let gauge = Gauge()
    var settings = WorkerConfiguration(id: "w")

    init(concurrency: Int = 10, batch: Int = 100, deadline: Duration = .seconds(10)) {
        settings.concurrency = concurrency
        settings.claimBatch = batch
        settings.pollInterval = .milliseconds(50)
        settings.shutdownDeadline = deadline
        settings.retryPolicy = RetryPolicy(baseDelay: .milliseconds(20), maxDelay: .milliseconds(100), maxAttempts: 3)
    }

    /// The services' logs would drown the test output.
    static let quiet = Logger(label: "worker-test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Handlers here never touch the database: the pool is only what `JobContext` carries.
    static let unusedPool = PostgresPool(configuration: PostgresConfiguration(connectionString: "postgresql:///unused"))

    /// A worker registered in the queue, as `onboarder worker` registers it before its services start.
    func worker(_ handler: ScriptedHandler) async throws -> Worker {
        let worker = Worker(
            configuration: settings, queue: queue, pool: Self.unusedPool, handlers: [handler], logger: Self.quiet)
        try await worker.register()
        return worker
    }

    /// Runs `worker` until `count` jobs started, then shuts it down; returns how long the shutdown took.
    func shutDown(_ worker: Worker, onceStarted count: Int) async throws -> Duration {
        try await running([worker]) {
            try await waitUntil(60, "\(count) jobs started") { gauge.started.count == count }
        }
    }

    /// Runs `services` (the worker last) while `body` runs, then shuts them down gracefully; returns how
    /// long the shutdown took.
    @discardableResult
    func running(
        _ services: [any Service], _ body: () async throws -> Void
    ) async throws -> Duration {
        let group = ServiceGroup(
            configuration: .init(services: services.map { .init(service: $0) }, logger: LoopLab.quiet))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await body()
            let start = ContinuousClock.now
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return ContinuousClock.now - start
        }
    }

    /// Polls until `condition` holds, failing after `seconds` (a bound, not a measurement).
    func waitUntil(_ seconds: Double, _ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("timed out after \(seconds) s waiting for: \(what)")
        throw CancellationError()
    }
}

/// The worker's loop against the in-memory queue: no processes, no database.
@Suite("Worker loop")
struct WorkerLoopTests {
    @Test func everyJobRunsOnceAndNeverMoreThanTheConcurrencyWithClaimsAhead() async throws {
        let lab = LoopLab(concurrency: 7, batch: 5)
        lab.queue.enqueue(200)
        let worker = try await lab.worker(.sleeping(.milliseconds(3), lab.gauge))
        try await lab.running([worker]) {
            try await lab.waitUntil(60, "all 200 jobs succeeded") { lab.queue.count(.succeeded) == 200 }
        }
        #expect(lab.gauge.started.count == 200)
        #expect(Set(lab.gauge.started).count == 200)
        #expect(lab.gauge.peak <= 7 && lab.gauge.peak > 1, "peak \(lab.gauge.peak)")
        #expect(lab.queue.jobs.allSatisfy { $0.attempts == 1 })
        #expect(lab.queue.claimLimits.allSatisfy { $0 <= 5 })
    }

    @Test func aShutdownLetsRunningJobsFinishAndClaimsNothingMore() async throws {
        let lab = LoopLab(concurrency: 10, deadline: .seconds(120))
        let first = lab.queue.enqueue(6)
        let worker = try await lab.worker(.sleeping(.milliseconds(300), lab.gauge))
        let shutdown = try await lab.shutDown(worker, onceStarted: 6)
        lab.queue.enqueue(3)
        #expect(first.allSatisfy { lab.queue.job($0)?.state == .succeeded })
        #expect(lab.gauge.cancelled.isEmpty)
        #expect(shutdown < .seconds(60), "drained in \(shutdown), not at the deadline")
        #expect(lab.queue.workerState("w") == .draining)
        try await Task.sleep(for: .milliseconds(100))
        #expect(lab.queue.count(.queued) == 3)  // the worker is gone: nothing claimed after the shutdown
    }

    @Test func theDeadlineReleasesWhatOutlivesItWithoutCountingAnAttempt() async throws {
        let lab = LoopLab(concurrency: 10, deadline: .milliseconds(200))
        let ids = lab.queue.enqueue(3)
        let worker = try await lab.worker(.sleeping(.seconds(600), lab.gauge))
        let shutdown = try await lab.shutDown(worker, onceStarted: 3)
        #expect(shutdown >= .milliseconds(200) && shutdown < .seconds(60), "stopped after \(shutdown)")
        for id in ids {
            let job = try #require(lab.queue.job(id))
            #expect(job.state == .queued && job.attempts == 0 && job.worker == nil, "\(job)")
            #expect(job.error == "released at worker shutdown")
        }
        #expect(Set(lab.gauge.cancelled) == Set(ids))
    }

    @Test func aTransientFailureIsRetriedAfterItsDelayThenGivenUp() async throws {
        let lab = LoopLab()
        let started = Mutex<[Int64: [ContinuousClock.Instant]]>([:])
        let handler = ScriptedHandler(gauge: lab.gauge) { job in
            started.withLock { $0[job.id, default: []].append(.now) }
            if job.id == 1 && job.attempts == 1 {
                return .retry(step: "app", reason: .throttled, message: "429", retryAfter: .milliseconds(300))
            }
            if job.id == 2 { return .retry(step: "app", reason: .retry, message: "503") }
            return .succeeded()
        }
        lab.queue.enqueue(2)
        try await lab.running([try await lab.worker(handler)]) {
            try await lab.waitUntil(60, "both jobs settled") {
                lab.queue.job(1)?.state == .succeeded && lab.queue.job(2)?.state == .failed
            }
        }
        // The server's Retry-After was honoured: 300 ms between the two tries, not a poll's 50.
        let tries = started.withLock { $0[1] ?? [] }
        #expect(tries.count == 2)
        if tries.count == 2 { #expect(tries[1] - tries[0] >= .milliseconds(300)) }
        #expect(lab.queue.steps(1, "app") == StepCounts(attempts: 0, waits: 1))
        // Three failures of the step (retry.max_attempts), recorded with the completions, then failed.
        #expect(lab.queue.job(2)?.attempts == 3)
        #expect(lab.queue.steps(2, "app") == StepCounts(attempts: 3, waits: 0))
        #expect(lab.queue.job(2)?.error == "app failed 3 times; last: 503")
    }

    @Test func aJobTakenBackWhileItRanHasItsResultDroppedAndItsSlotFreed() async throws {
        let lab = LoopLab(concurrency: 1)
        let release = Mutex(false)
        let handler = ScriptedHandler(gauge: lab.gauge) { job in
            while job.id == 1 && !release.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
            return .succeeded()
        }
        lab.queue.enqueue(1)
        let worker = try await lab.worker(handler)
        try await lab.running([worker]) {
            try await lab.waitUntil(60, "the job started") { lab.gauge.started == [1] }
            lab.queue.declareDead("w")  // its lease ran out; another worker's reaper took the job back
            release.withLock { $0 = true }
            try await lab.waitUntil(60, "the slot was freed") {
                worker.inFlightCount == 0 && lab.gauge.started.count == 1
            }
        }
        let job = try #require(lab.queue.job(1))
        #expect(job.state == .queued && job.rescues == 1, "the late result was refused: \(job)")
    }

    @Test func anIdleWorkerWakesOnANotificationNotThePoll() async throws {
        var lab = LoopLab()
        lab.settings.pollInterval = .seconds(60)
        let worker = try await lab.worker(.sleeping(.zero, lab.gauge))
        try await lab.running([worker]) {
            try await Task.sleep(for: .milliseconds(200))  // idle, listening
            lab.queue.enqueue(1)
            try await lab.waitUntil(30, "the job ran") { lab.queue.count(.succeeded) == 1 }
        }
    }
}

/// The heartbeat and reaper services against the in-memory queue.
@Suite("Worker services")
struct WorkerServiceTests {
    @Test func aWorkerThatCannotHeartbeatStopsClaimingAndResumesWhenItCan() async throws {
        var lab = LoopLab()
        // Claims only on wake-ups (its start, the enqueue's notification): no poll's claim can be in flight,
        // sent while healthy, when the jobs arrive.
        lab.settings.pollInterval = .seconds(60)
        let worker = try await lab.worker(.sleeping(.zero, lab.gauge))
        let reports = Mutex<[Bool]>([])
        let heartbeat = HeartbeatService(
            queue: lab.queue, workerID: "w", interval: .milliseconds(20), lease: .milliseconds(200),
            logger: LoopLab.quiet,
            healthChanged: { healthy in
                // The worker first, then the test: once the test sees the report, the worker's event stream
                // holds it ahead of the enqueue's wake-up.
                worker.heartbeatChanged(healthy: healthy)
                reports.withLock { $0.append(healthy) }
            })
        lab.queue.failHeartbeats(true)
        try await lab.running([heartbeat, worker]) {
            // Past half the lease without a heartbeat: reported to the worker before the jobs arrive.
            try await lab.waitUntil(60, "the heartbeat reported itself unhealthy") {
                reports.withLock { $0 } == [false]
            }
            lab.queue.enqueue(2)
            try await Task.sleep(for: .milliseconds(300))
            #expect(lab.gauge.started.isEmpty, "claimed without a heartbeat")
            lab.queue.failHeartbeats(false)
            try await lab.waitUntil(60, "claims resumed") { lab.queue.count(.succeeded) == 2 }
        }
    }

    @Test func aWorkerDeclaredDeadStopsWithAFailureAndLeavesItsJobsToOthers() async throws {
        let lab = LoopLab()
        let worker = try await lab.worker(.sleeping(.seconds(600), lab.gauge))
        let heartbeat = HeartbeatService(
            queue: lab.queue, workerID: "w", interval: .milliseconds(20), lease: .seconds(2), logger: LoopLab.quiet,
            healthChanged: { worker.heartbeatChanged(healthy: $0) })
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: heartbeat), .init(service: worker)], logger: LoopLab.quiet))
        lab.queue.enqueue(1)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                await #expect(throws: WorkerStopped.self) { try await group.run() }
            }
            try await lab.waitUntil(60, "the job started") { lab.gauge.started == [1] }
            lab.queue.declareDead("w")
            try await tasks.waitForAll()
        }
        // Cancelled, not released: the job is the rescuer's (queued by the reaper, not by this worker).
        #expect(lab.gauge.cancelled == [1])
        let job = try #require(lab.queue.job(1))
        #expect(job.state == .queued && job.rescues == 1 && job.attempts == 1 && job.error == nil, "\(job)")
    }

    @Test func theHeartbeatIsUnhealthyAfterHalfTheLeaseWithoutASuccess() {
        let start = ContinuousClock.now
        var health = HeartbeatHealth(lease: .seconds(10), startedAt: start)
        #expect(health.beat(succeeded: false, at: start + .seconds(4)) == nil)
        #expect(health.beat(succeeded: false, at: start + .seconds(5)) == false)
        #expect(health.beat(succeeded: false, at: start + .seconds(6)) == nil)
        #expect(health.beat(succeeded: true, at: start + .seconds(7)) == true)
        #expect(health.healthy)
    }
}
