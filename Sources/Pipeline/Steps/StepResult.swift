import Foundation
import Queue
import Worker

/// Stops a run with an outcome other than a Graph failure.
struct StepStop: Error {
    enum Kind {
        case needsAttention
        case retry(WaitReason, Duration?)
    }
    let kind: Kind
    let message: String

    static func attention(_ message: String) -> StepStop { StepStop(kind: .needsAttention, message: message) }
    static func retry(_ reason: WaitReason, _ message: String, after: Duration? = nil) -> StepStop {
        StepStop(kind: .retry(reason, after), message: message)
    }

    func outcome(step: String) -> JobOutcome {
        switch kind {
        case .needsAttention: .needsAttention(step: step, message: message)
        case .retry(let reason, let after): .retry(step: step, reason: reason, message: message, retryAfter: after)
        }
    }
}

enum StepResult {
    /// Checkpoint the facts now.
    case done
    /// The step checkpointed itself, in the transaction that stored what it made (marking `Run.next` running).
    case committed
    /// Waiting for an operator (a certificate, a DNS record).
    case wait(until: Date, message: String)
}
