import Foundation
import Postgres

/// One job's new state, for `finish`: the JSON object `onboarder.finish` reads, one per job.
public struct JobCompletion: Sendable, Encodable, Equatable {
    public var id: Int64
    public var state: String
    public var run_at: String?
    public var delay_ms: Int64?
    public var wait_reason: String?
    public var error_class: String?
    public var error: String?
    public var attention: String?
    public var warnings: [String]?
    public var uncount: Bool?
    /// Recorded by the finish, before its own event (`JobOutcome.wait`'s events); nil: none.
    public var events: [JobEvent]?

    public init(
        id: Int64, state: String, runAt: Date? = nil, delay: Duration? = nil, waitReason: WaitReason? = nil,
        errorClass: String? = nil,
        error: String? = nil, attention: String? = nil, warnings: [String]? = nil, uncount: Bool = false,
        events: [JobEvent] = []
    ) {
        self.id = id
        self.state = state
        if let runAt, case .text(let text) = runAt.postgresValue { self.run_at = text }
        if let delay {
            // Clamped to [0, 30 days]: delays are bounded where they are made, but an overflow trap here
            // would take the worker down, and a timestamp past PostgreSQL's range would fail the completion.
            let (seconds, attoseconds) = delay.components
            let longest: Int64 = 30 * 86_400 * 1000
            let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
            self.delay_ms =
                overflow
                ? (seconds < 0 ? 0 : longest) : min(max(0, ms + attoseconds / 1_000_000_000_000_000), longest)
        }
        self.wait_reason = waitReason?.rawValue
        self.error_class = errorClass
        self.error = error
        self.attention = attention
        self.warnings = warnings
        self.uncount = uncount ? true : nil
        self.events = events.isEmpty ? nil : events
    }

    /// The same, with the state typed.
    public init(
        id: Int64, state: JobState, runAt: Date? = nil, delay: Duration? = nil, waitReason: WaitReason? = nil,
        errorClass: String? = nil, error: String? = nil, attention: String? = nil, warnings: [String]? = nil,
        uncount: Bool = false, events: [JobEvent] = []
    ) {
        self.init(
            id: id, state: state.rawValue, runAt: runAt, delay: delay, waitReason: waitReason, errorClass: errorClass,
            error: error, attention: attention, warnings: warnings, uncount: uncount, events: events)
    }

    /// The state as an enum (nil only for a string no SQL state spells).
    public var jobState: JobState? { JobState(rawValue: state) }

    /// The JSON array `onboarder.finish` reads: the keys `Encodable` writes, nil ones left out. Built by
    /// hand: JSONEncoder was a tenth of a no-op job's CPU in the worker (`scripts/bench queue`, perf).
    public static func jsonArray(_ completions: [JobCompletion]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(completions.count * 40)
        out.append(UInt8(ascii: "["))
        for (index, item) in completions.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"id":"#.utf8)
            out.append(contentsOf: String(item.id).utf8)
            field("state", item.state, &out)
            if let runAt = item.run_at { field("run_at", runAt, &out) }
            if let delay = item.delay_ms {
                out.append(contentsOf: #","delay_ms":"#.utf8)
                out.append(contentsOf: String(delay).utf8)
            }
            if let reason = item.wait_reason { field("wait_reason", reason, &out) }
            if let errorClass = item.error_class { field("error_class", errorClass, &out) }
            if let error = item.error { field("error", error, &out) }
            if let attention = item.attention { field("attention", attention, &out) }
            if let warnings = item.warnings {
                out.append(contentsOf: #","warnings":["#.utf8)
                for (n, warning) in warnings.enumerated() {
                    if n > 0 { out.append(UInt8(ascii: ",")) }
                    string(warning, &out)
                }
                out.append(UInt8(ascii: "]"))
            }
            if item.uncount == true { out.append(contentsOf: #","uncount":true"#.utf8) }
            if let events = item.events {
                out.append(contentsOf: #","events":["#.utf8)
                for (n, event) in events.enumerated() {
                    if n > 0 { out.append(UInt8(ascii: ",")) }
                    out.append(contentsOf: #"{"kind":"#.utf8)
                    string(event.kind, &out)
                    if let step = event.step { field("step", step, &out) }
                    if let detail = event.detail {
                        out.append(contentsOf: #","detail":{"#.utf8)
                        for (m, (key, value)) in detail.sorted(by: { $0.key < $1.key }).enumerated() {
                            if m > 0 { out.append(UInt8(ascii: ",")) }
                            string(key, &out)
                            out.append(UInt8(ascii: ":"))
                            string(value, &out)
                        }
                        out.append(UInt8(ascii: "}"))
                    }
                    out.append(UInt8(ascii: "}"))
                }
                out.append(UInt8(ascii: "]"))
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    private static func field(_ key: String, _ value: String, _ out: inout [UInt8]) {
        out.append(contentsOf: #",""#.utf8)
        out.append(contentsOf: key.utf8)
        out.append(contentsOf: #"":"#.utf8)
        string(value, &out)
    }

    /// A JSON string. Text without quotes, backslashes or control characters (states, ids, most
    /// messages) is copied; anything else goes through JSONEncoder.
    private static func string(_ value: String, _ out: inout [UInt8]) {
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: value.utf8)
            out.append(UInt8(ascii: "\""))
        } else {
            out.append(contentsOf: (try? JSONEncoder().encode(value)) ?? Data(#""""#.utf8))
        }
    }
}

extension JobQueue {
    /// The name the queue's callers and tests know it by.
    public typealias Completion = JobCompletion
}

/// A failed try of one step, recorded in `onboarder.job_steps` in the same transaction as the job's
/// completion: a failure (`counts`) adds to the step's attempts, a wait the service asked for (throttling,
/// replication) to its waits.
public struct StepFailure: Sendable, Equatable {
    public var job: Int64
    public var step: String
    public var errorClass: String
    public var message: String
    public var counts: Bool

    public init(job: Int64, step: String, errorClass: String, message: String, counts: Bool) {
        self.job = job
        self.step = step
        self.errorClass = errorClass
        self.message = message
        self.counts = counts
    }
}

/// A step's failed tries so far, as `onboarder.job_steps` holds them (zero for a step never failed).
public struct StepCounts: Sendable, Equatable {
    public var attempts: Int
    public var waits: Int

    public init(attempts: Int, waits: Int) {
        self.attempts = attempts
        self.waits = waits
    }
}
