import Foundation
import Queue

/// What becomes of a job whose handler returned: its next state, and the failed step to record with it.
/// Decided purely — from the outcome, the step's failures so far and the retry policy — and then written
/// in one transaction (`QueueDriver.finish`), so nothing is written while deciding.
public struct JobSettlement: Sendable, Equatable {
    public var completion: JobCompletion
    /// Recorded with the completion for a `.retry` outcome (whether it is retried or given up).
    public var stepFailure: StepFailure?

    public init(completion: JobCompletion, stepFailure: StepFailure? = nil) {
        self.completion = completion
        self.stepFailure = stepFailure
    }

    /// - Parameters:
    ///   - attempts: the job's claims, this one included: the stand-in for the step's failures when they
    ///     could not be read (the database is struggling).
    ///   - prior: the step's failed tries before this one, for a `.retry` outcome.
    public static func decide<R: RandomNumberGenerator>(
        job: Int64, attempts: Int, outcome: JobOutcome, prior: StepCounts?, policy: RetryPolicy,
        using random: inout R
    ) -> JobSettlement {
        switch outcome {
        case .succeeded(let warnings):
            return .init(
                completion: .init(
                    id: job, state: warnings.isEmpty ? .succeeded : .succeededWithWarnings, warnings: warnings))
        case .wait(let step, let reason, let until, let message, let events):
            return .init(
                completion: .init(
                    id: job, state: .waiting, runAt: until, waitReason: reason, errorClass: reason.rawValue,
                    error: message.map { "\(step): \($0)" }, events: events))
        case .needsAttention(let step, let message):
            return .init(
                completion: .init(
                    id: job, state: .needsAttention, errorClass: "needs_attention",
                    error: step.map { "\($0): \(message)" } ?? message, attention: message))
        case .failed(let step, let message):
            return .init(
                completion: .init(
                    id: job, state: .failed, errorClass: "failed", error: step.map { "\($0): \(message)" } ?? message))
        case .retry(let step, let reason, let message, let retryAfter):
            // Throttling and replication lag are waits the service asked for, not failures (RetryPolicy.decideWait).
            let counts = reason != .throttled && reason != .replication
            let failures = prior.map { $0.attempts + (counts ? 1 : 0) } ?? attempts
            let waits = prior.map { $0.waits + (counts ? 0 : 1) } ?? 1
            let failure = StepFailure(
                job: job, step: step, errorClass: reason.rawValue, message: message, counts: counts)
            let decision =
                counts
                ? policy.decide(failures: failures, retryAfter: retryAfter, using: &random)
                : policy.decideWait(waits: waits, retryAfter: retryAfter, using: &random)
            switch decision {
            case .retry(let delay):
                return .init(
                    completion: .init(
                        id: job, state: .waiting, delay: delay, waitReason: reason, errorClass: reason.rawValue,
                        error: "\(step): \(message)"),
                    stepFailure: failure)
            case .giveUp:
                return .init(
                    completion: .init(
                        id: job, state: .failed, errorClass: reason.rawValue,
                        error: counts
                            ? "\(step) failed \(failures) times; last: \(message)"
                            : "\(step) was told to wait \(waits) times (\(reason.rawValue)); last: \(message)"),
                    stepFailure: failure)
            }
        }
    }
}

extension JobOutcome {
    /// The step whose failed tries the retry decision needs, for a `.retry` outcome.
    var retriedStep: String? {
        if case .retry(let step, _, _, _) = self { return step }
        return nil
    }
}
