import Foundation
import Queue
import Testing

/// A deterministic generator for the jitter.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Retry policy")
struct RetryPolicyTests {
    let policy = RetryPolicy(baseDelay: .seconds(1), maxDelay: .seconds(60), maxAttempts: 5)

    @Test func ceilingDoublesUpToTheCap() {
        #expect(policy.ceiling(failures: 1) == .seconds(1))
        #expect(policy.ceiling(failures: 2) == .seconds(2))
        #expect(policy.ceiling(failures: 4) == .seconds(8))
        #expect(
            RetryPolicy(baseDelay: .seconds(1), maxDelay: .seconds(60), maxAttempts: 50).ceiling(failures: 30)
                == .seconds(60))
    }

    @Test func fullJitterStaysWithinTheCeilingAndSpreads() {
        var random = SeededGenerator(state: 42)
        var delays: [Duration] = []
        for _ in 0..<1000 {
            guard case .retry(let delay) = policy.decide(failures: 3, retryAfter: nil, using: &random) else {
                Issue.record("gave up too early")
                return
            }
            delays.append(delay)
        }
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= .seconds(4) })
        // Full jitter: the whole range is used, not just near the ceiling.
        #expect(delays.contains { $0 < .seconds(1) })
        #expect(delays.contains { $0 > .seconds(3) })
    }

    @Test func retryAfterWinsAndAttemptsRunOut() {
        var random = SeededGenerator(state: 7)
        #expect(policy.decide(failures: 1, retryAfter: .seconds(120), using: &random) == .retry(after: .seconds(120)))
        #expect(policy.decide(failures: 5, retryAfter: nil, using: &random) == .giveUp)
        #expect(policy.decide(failures: 5, retryAfter: .seconds(1), using: &random) == .giveUp)
    }

    @Test func waitsTheServiceAskedForHaveTenTimesTheBound() {
        var random = SeededGenerator(state: 3)
        // maxAttempts is 5: a sixth wait is no failure, the fiftieth gives up.
        #expect(policy.decideWait(waits: 6, retryAfter: .seconds(2), using: &random) == .retry(after: .seconds(2)))
        if case .retry(let after) = policy.decideWait(waits: 49, retryAfter: nil, using: &random) {
            #expect(after >= .zero && after <= .seconds(60))
        } else {
            Issue.record("expected a retry")
        }
        #expect(policy.decideWait(waits: 50, retryAfter: .seconds(2), using: &random) == .giveUp)
    }

    @Test func completionsJSONBuiltByHandReadsAsWhatJSONEncoderWrites() throws {
        let completions = [
            JobQueue.Completion(id: 1, state: "succeeded"),
            JobQueue.Completion(id: 2, state: "succeeded_with_warnings", warnings: ["plain", "quote \" back\\slash"]),
            JobQueue.Completion(
                id: 3, state: "waiting", runAt: Date(timeIntervalSince1970: 1_800_000_000), waitReason: .throttled,
                errorClass: "throttled", error: "consent: 429 Too Many Requests\nline two\u{01} é"),
            JobQueue.Completion(id: 4, state: "waiting", delay: .milliseconds(1500), waitReason: .retry),
            JobQueue.Completion(id: 5, state: "needs_attention", attention: "Consent \"pending\" in the tenant"),
            JobQueue.Completion(id: 6, state: "queued", error: "released at worker shutdown", uncount: true),
            JobQueue.Completion(id: 7, state: "failed", warnings: []),
            JobQueue.Completion(
                id: 8, state: "waiting", delay: .seconds(30), waitReason: .input,
                events: [
                    JobEvent(
                        kind: "handover_check", step: "verify",
                        detail: ["check": "1", "a \"quoted\" key\\": "line\none\u{01} \"é\" back\\slash"]),
                    JobEvent(kind: "consent_check", step: nil),
                ]),
        ]
        let byHand = try JSONSerialization.jsonObject(with: Data(JobQueue.Completion.jsonArray(completions).utf8))
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(completions))
        #expect((byHand as? NSArray) == (encoded as? NSArray))
        #expect((byHand as? [[String: Any]])?.count == 8)
        #expect(JobQueue.Completion.jsonArray([]) == "[]")
    }

    @Test func aCompletionsDelayIsClampedNotTrapped() {
        // Durations beyond what milliseconds in an Int64 hold used to trap in the conversion.
        let huge = JobQueue.Completion(id: 1, state: "waiting", delay: .seconds(Int64.max))
        #expect(huge.delay_ms == Int64(30 * 86_400 * 1000))
        #expect(JobQueue.Completion(id: 1, state: "waiting", delay: .seconds(-5)).delay_ms == 0)
        #expect(JobQueue.Completion(id: 1, state: "waiting", delay: .milliseconds(1500)).delay_ms == 1500)
        var random = SeededGenerator(state: 7)
        let enormous = RetryPolicy(baseDelay: .seconds(Int64.max), maxDelay: .seconds(Int64.max))
        if case .retry(let after) = enormous.decide(failures: 1, retryAfter: nil, using: &random) {
            #expect(after >= .zero)
        } else {
            Issue.record("expected a retry")
        }
    }
}
