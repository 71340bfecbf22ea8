import Foundation
import Postgres

/// Why a job waits (the `wait_reason` of state `waiting`).
public enum WaitReason: String, Sendable, Codable, CaseIterable {
    /// A transient failure (5xx, timeout, connection reset): retry with backoff.
    case retry
    /// The service asked us to slow down (429 + Retry-After).
    case throttled
    /// A new object is not visible everywhere yet (Entra / Graph replication).
    case replication
    /// An operator must supply something (a certificate file, a DNS record); not counted as a failure.
    case input
    /// A job of a batch held for approval (`onboarder approve`). Only the database sets it (enqueue_many,
    /// with run_at 'infinity'); a handler never returns it.
    case approval
}

/// What a job handler says happened. The engine turns it into the job's next state and gives the job's
/// concurrency slots back in every case: nothing sleeps holding a slot.
public enum JobOutcome: Sendable, Equatable {
    /// Done. Warnings make it `succeeded_with_warnings` (shown on the dashboard).
    case succeeded(warnings: [String] = [])
    /// `step` failed in a way that may pass: retried with exponential backoff and full jitter, the server's
    /// `Retry-After` winning, until the retry policy's attempts for that step run out (then `failed`).
    case retry(step: String, reason: WaitReason, message: String, retryAfter: Duration? = nil)
    /// Waits until `until` without counting a failure (e.g. waiting for operator input, a DNS TTL). `events`
    /// are recorded by the finish that sets the job waiting, in the same statement, at its time (a look at the
    /// PBX's hand-over or at the customer's consent is recorded with the wait it decided, or not at all).
    case wait(step: String, reason: WaitReason, until: Date, message: String? = nil, events: [JobEvent] = [])
    /// Stops until an operator acts; `message` tells them what to do.
    case needsAttention(step: String?, message: String)
    /// Gives up for good.
    case failed(step: String?, message: String)
}

/// An event a job's run records with one of its statements, so that a crash before it records neither: with
/// the job's finish (`JobOutcome.wait`: in the finish's statement, before its own `rescheduled`), or with a
/// step's checkpoint (a step's events that are true once it is done: `handover_started`, `handover_proven`).
public struct JobEvent: Sendable, Equatable, Encodable {
    public var kind: String
    /// The step it belongs to (nil: none; a checkpoint's events are its step's).
    public var step: String?
    /// The event's `detail` (nil: none).
    public var detail: [String: String]?

    public init(kind: String, step: String? = nil, detail: [String: String]? = nil) {
        self.kind = kind
        self.step = step
        self.detail = detail
    }
}

/// A job a worker claimed.
public struct ClaimedJob: Sendable, Identifiable {
    public let id: Int64
    public let kind: String
    public let mspID: String
    public let tenantID: Int64
    public let tenantKey: String
    public let payload: PostgresJSON
    /// Times claimed, this claim included.
    public let attempts: Int
    /// Times taken back from a dead worker.
    public let rescues: Int

    public init(
        id: Int64, kind: String, mspID: String, tenantID: Int64, tenantKey: String, payload: PostgresJSON,
        attempts: Int, rescues: Int
    ) {
        self.id = id
        self.kind = kind
        self.mspID = mspID
        self.tenantID = tenantID
        self.tenantKey = tenantKey
        self.payload = payload
        self.attempts = attempts
        self.rescues = rescues
    }
}

/// One job to enqueue.
public struct EnqueueRequest: Sendable {
    public var msp: String
    public var tenantKey: String
    public var kind: String
    public var payload: PostgresJSON
    public var priority: Int
    public var runAt: Date?
    public var idempotencyKey: String?
    /// What the job is about within the tenant, when a kind may have several active jobs (a rotation's
    /// credential); at most one active job per (tenant, kind, subject).
    public var subject: String
    /// The customer's Entra tenant id (lower-case GUID) when the caller resolved the tenant key (a domain)
    /// to it: the customer is then found under whatever key it was enqueued before. `onboard` jobs only.
    public var entraTenantID: String?

    public init(
        msp: String, tenantKey: String, kind: String, payload: PostgresJSON = PostgresJSON(text: "{}"),
        priority: Int = 0, runAt: Date? = nil, idempotencyKey: String? = nil, subject: String = "",
        entraTenantID: String? = nil
    ) {
        self.subject = subject
        self.entraTenantID = entraTenantID
        self.msp = msp
        self.tenantKey = tenantKey
        self.kind = kind
        self.payload = payload
        self.priority = priority
        self.runAt = runAt
        self.idempotencyKey = idempotencyKey
    }
}

/// What became of one `EnqueueRequest`.
public struct EnqueueResult: Sendable, Equatable {
    public let jobID: Int64
    /// False when the tenant already had an active job of that kind, or the idempotency key was used:
    /// `jobID` is then that existing job.
    public let created: Bool
    public let state: String
    /// When not created: the tenant key of the customer row whose job `jobID` is (another key when the
    /// customer was enqueued under it before).
    public var existingKey: String? = nil
    /// The held batch the job waits in for approval (`onboarder approve`), if any.
    public var batchID: Int64? = nil
}
