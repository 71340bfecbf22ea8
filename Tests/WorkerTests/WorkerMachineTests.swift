import Queue
import Testing

@testable import Worker

/// The worker's decisions, event by event, without I/O.
@Suite("Worker state machine")
struct WorkerMachineTests {
    static func machine(concurrency: Int, batch: Int, deadline: Duration = .seconds(30)) -> WorkerMachine {
        WorkerMachine(
            limits: .init(concurrency: concurrency, claimBatch: batch, shutdownDeadline: deadline),
            retryPolicy: RetryPolicy(baseDelay: .seconds(1), maxDelay: .seconds(60), maxAttempts: 3),
            random: FixedJitter(state: 1))
    }

    @Test func anIdleQueueGetsOneClaimAtATimeABackloggedOneTwoAhead() {
        var machine = Self.machine(concurrency: 20, batch: 5)
        #expect(machine.handle(.wake) == [.claim(1, limit: 5)])
        // The claim came back full: a backlog, so two claims go out ahead of the jobs just started.
        #expect(
            machine.handle(.claimReturned(1, jobs: [1, 2, 3, 4, 5]))
                == [.start([1, 2, 3, 4, 5]), .claim(2, limit: 5), .claim(3, limit: 5)])
        // A short claim: the queue is about empty; nothing more until a wake-up.
        #expect(machine.handle(.claimReturned(2, jobs: [6])) == [.start([6])])
        #expect(machine.handle(.claimReturned(3, jobs: [])) == [])
        #expect(machine.handle(.wake) == [.claim(4, limit: 5)])
    }

    @Test func claimsInFlightReserveTheirSlotsSoConcurrencyHolds() {
        var machine = Self.machine(concurrency: 7, batch: 5)
        #expect(machine.handle(.wake) == [.claim(1, limit: 5)])
        // 5 running: one claim ahead may ask for the 2 slots left, not for another batch of 5.
        #expect(
            machine.handle(.claimReturned(1, jobs: [1, 2, 3, 4, 5])) == [.start([1, 2, 3, 4, 5]), .claim(2, limit: 2)])
        #expect(machine.handle(.wake) == [])
        #expect(machine.handle(.claimReturned(2, jobs: [6, 7])) == [.start([6, 7])])
        #expect(machine.inFlightCount == 7)
        #expect(machine.handle(.wake) == [])  // full
        // A finished job's completion frees its slot only once it is written.
        let finished = machine.handle(.jobFinished(job: 3, attempts: 1, outcome: .succeeded(), prior: nil))
        #expect(finished == [.complete(JobSettlement(completion: .init(id: 3, state: .succeeded, warnings: [])))])
        #expect(machine.handle(.wake) == [])
        #expect(machine.handle(.completionRecorded(job: 3)) == [.claim(3, limit: 1)])
    }

    /// Found by the pipeline's fault test: a job retried after a short delay was claimed again before the
    /// write of its first try was reported, and the report then took the second run's slot, so its result
    /// was never written and it stayed running.
    @Test func aJobClaimedAgainBeforeItsLastCompletionWasReportedKeepsItsRun() {
        var machine = Self.machine(concurrency: 4, batch: 1)
        _ = machine.handle(.wake)
        _ = machine.handle(.claimReturned(1, jobs: [1]))
        let retry = JobOutcome.retry(step: "s", reason: .throttled, message: "429", retryAfter: .milliseconds(1))
        _ = machine.handle(.jobFinished(job: 1, attempts: 1, outcome: retry, prior: StepCounts(attempts: 0, waits: 0)))
        _ = machine.handle(.wake)
        #expect(machine.handle(.claimReturned(2, jobs: [1])).first == .start([1]))
        #expect(machine.inFlightCount == 2)  // the run, and the write of the try before
        _ = machine.handle(.completionRecorded(job: 1))
        #expect(machine.inFlightCount == 1)
        let second = machine.handle(.jobFinished(job: 1, attempts: 2, outcome: .succeeded(), prior: nil))
        #expect(second == [.complete(JobSettlement(completion: .init(id: 1, state: .succeeded, warnings: [])))])
    }

    @Test func aWorkerThatCannotHeartbeatClaimsNothingUntilItCan() {
        var machine = Self.machine(concurrency: 4, batch: 4)
        #expect(machine.handle(.heartbeat(healthy: false)) == [])
        #expect(machine.handle(.wake) == [])
        #expect(machine.handle(.heartbeat(healthy: true)) == [.claim(1, limit: 4)])
    }

    @Test func aDrainWaitsForRunningJobsThenStops() {
        var machine = Self.machine(concurrency: 4, batch: 4, deadline: .seconds(10))
        _ = machine.handle(.wake)
        _ = machine.handle(.claimReturned(1, jobs: [1, 2]))
        #expect(machine.handle(.shutdownRequested) == [.markDraining, .scheduleDeadline(after: .seconds(10))])
        #expect(machine.handle(.wake) == [])  // no more claims
        _ = machine.handle(.jobFinished(job: 1, attempts: 1, outcome: .succeeded(), prior: nil))
        #expect(machine.handle(.completionRecorded(job: 1)) == [])
        _ = machine.handle(.jobFinished(job: 2, attempts: 1, outcome: .succeeded(), prior: nil))
        #expect(machine.handle(.completionRecorded(job: 2)) == [.stop])
        #expect(machine.stopped)
        #expect(machine.handle(.deadlineReached) == [])
    }

    @Test func anIdleWorkerStopsAtOnce() {
        var machine = Self.machine(concurrency: 4, batch: 4)
        #expect(machine.handle(.shutdownRequested) == [.markDraining, .scheduleDeadline(after: .seconds(30)), .stop])
    }

    @Test func jobsClaimedAsTheDrainBeganAreReleasedNotStarted() {
        var machine = Self.machine(concurrency: 4, batch: 4)
        #expect(machine.handle(.wake) == [.claim(1, limit: 4)])
        _ = machine.handle(.shutdownRequested)
        #expect(machine.handle(.claimReturned(1, jobs: [7, 8])) == [.release([7, 8]), .stop])
    }

    @Test func theDeadlineReleasesAndCancelsWhatStillRunsAndTheirResultsAreDropped() {
        var machine = Self.machine(concurrency: 4, batch: 4, deadline: .seconds(1))
        _ = machine.handle(.wake)
        _ = machine.handle(.claimReturned(1, jobs: [2, 1]))
        _ = machine.handle(.shutdownRequested)
        #expect(machine.handle(.deadlineReached) == [.release([1, 2]), .cancel([1, 2]), .stop])
        #expect(machine.handle(.jobFinished(job: 1, attempts: 1, outcome: .succeeded(), prior: nil)) == [])
    }

    @Test func aWorkerDeclaredDeadCancelsItsJobsWithoutReleasingThem() {
        var machine = Self.machine(concurrency: 4, batch: 4)
        _ = machine.handle(.wake)
        _ = machine.handle(.claimReturned(1, jobs: [1]))
        #expect(machine.handle(.cancelled) == [.cancel([1]), .stop])
    }

    @Test func aRetriedJobIsSettledByTheRetryPolicy() {
        var machine = Self.machine(concurrency: 4, batch: 4)
        _ = machine.handle(.wake)
        _ = machine.handle(.claimReturned(1, jobs: [1]))
        let actions = machine.handle(
            .jobFinished(
                job: 1, attempts: 3,
                outcome: .retry(step: "consent", reason: .retry, message: "503"),
                prior: StepCounts(attempts: 2, waits: 0)))
        guard case .complete(let settlement) = actions.first else {
            Issue.record("expected a completion, got \(actions)")
            return
        }
        // maxAttempts 3: the third failure of the step gives up.
        #expect(settlement.completion.jobState == .failed)
        #expect(settlement.completion.error == "consent failed 3 times; last: 503")
    }
}
