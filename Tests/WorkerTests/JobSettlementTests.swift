import Foundation
import Queue
import Testing
import Worker

/// A fixed sequence for the retry jitter (a 64-bit LCG, Knuth's MMIX constants), so delays are predictable.
struct FixedJitter: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state
    }
}

/// What becomes of a job, for every kind of outcome: decided without writing anything.
@Suite("Job settlement")
struct JobSettlementTests {
    let policy = RetryPolicy(baseDelay: .seconds(1), maxDelay: .seconds(60), maxAttempts: 3)
    let until = Date(timeIntervalSince1970: 1_800_000_000)

    func settle(_ outcome: JobOutcome, prior: StepCounts? = nil, attempts: Int = 1, seed: UInt64 = 9) -> JobSettlement {
        var random = FixedJitter(state: seed)
        return JobSettlement.decide(
            job: 42, attempts: attempts, outcome: outcome, prior: prior, policy: policy, using: &random)
    }

    @Test func outcomesWithoutARetryMapToTheirStates() {
        let table: [(JobOutcome, JobCompletion)] = [
            (.succeeded(), .init(id: 42, state: .succeeded, warnings: [])),
            (.succeeded(warnings: ["w"]), .init(id: 42, state: .succeededWithWarnings, warnings: ["w"])),
            (
                .wait(step: "dns", reason: .input, until: until, message: "add the record"),
                .init(
                    id: 42, state: .waiting, runAt: until, waitReason: .input, errorClass: "input",
                    error: "dns: add the record")
            ),
            (
                .wait(
                    step: "verify", reason: .input, until: until, message: "hand it over",
                    events: [JobEvent(kind: "handover_check", step: "verify", detail: ["check": "2"])]),
                .init(
                    id: 42, state: .waiting, runAt: until, waitReason: .input, errorClass: "input",
                    error: "verify: hand it over",
                    events: [JobEvent(kind: "handover_check", step: "verify", detail: ["check": "2"])])
            ),
            (
                .needsAttention(step: "consent", message: "grant it"),
                .init(
                    id: 42, state: .needsAttention, errorClass: "needs_attention", error: "consent: grant it",
                    attention: "grant it")
            ),
            (.failed(step: nil, message: "bad"), .init(id: 42, state: .failed, errorClass: "failed", error: "bad")),
        ]
        for (outcome, completion) in table {
            #expect(settle(outcome) == JobSettlement(completion: completion), "\(outcome)")
        }
    }

    @Test func aTransientFailureBacksOffByThePolicyAndCountsTheStep() throws {
        let settlement = settle(
            .retry(step: "app", reason: .retry, message: "503"), prior: StepCounts(attempts: 1, waits: 4))
        // The second failure of the step: the policy's delay for 2 failures, with the same jitter.
        var random = FixedJitter(state: 9)
        guard case .retry(let delay) = policy.decide(failures: 2, retryAfter: nil, using: &random) else {
            Issue.record("the policy gave up")
            return
        }
        #expect(delay > .zero)
        #expect(
            settlement.completion
                == .init(
                    id: 42, state: .waiting, delay: delay, waitReason: .retry, errorClass: "retry", error: "app: 503"))
        #expect(
            settlement.stepFailure
                == StepFailure(job: 42, step: "app", errorClass: "retry", message: "503", counts: true))
    }

    @Test func aServersRetryAfterWins() {
        let settlement = settle(
            .retry(step: "app", reason: .throttled, message: "429", retryAfter: .seconds(7)),
            prior: StepCounts(attempts: 0, waits: 0))
        #expect(settlement.completion.delay_ms == 7000)
        #expect(settlement.completion.wait_reason == "throttled")
        #expect(settlement.stepFailure?.counts == false)  // a wait the service asked for, not a failure
    }

    @Test func theStepsLastAllowedFailureGivesUpSayingHowOften() {
        let failed = settle(
            .retry(step: "app", reason: .retry, message: "503"), prior: StepCounts(attempts: 2, waits: 0))
        #expect(
            failed.completion
                == .init(id: 42, state: .failed, errorClass: "retry", error: "app failed 3 times; last: 503"))
        #expect(failed.stepFailure?.counts == true)  // recorded with the completion all the same
        // Waits have ten times the bound: the thirtieth gives up.
        let waited = settle(
            .retry(step: "app", reason: .replication, message: "404"), prior: StepCounts(attempts: 2, waits: 29))
        #expect(waited.completion.error == "app was told to wait 30 times (replication); last: 404")
        #expect(
            settle(.retry(step: "app", reason: .replication, message: "404"), prior: StepCounts(attempts: 2, waits: 28))
                .completion.jobState == .waiting)
    }

    @Test func unreadableStepCountsFallBackOnTheJobsClaims() {
        let settlement = settle(.retry(step: "app", reason: .retry, message: "503"), prior: nil, attempts: 3)
        #expect(settlement.completion.error == "app failed 3 times; last: 503")
    }

    @Test func statesAreSpelledAsTheSQLSpellsThem() {
        #expect(
            JobState.allCases.map(\.rawValue) == [
                "queued", "running", "waiting", "succeeded", "succeeded_with_warnings", "needs_attention", "failed",
                "cancelled",
            ])
        #expect(WorkerState.allCases.map(\.rawValue) == ["running", "draining", "stopped", "dead"])
        #expect(WaitReason.allCases.map(\.rawValue) == ["retry", "throttled", "replication", "input", "approval"])
    }
}
