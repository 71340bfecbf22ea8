/// Exponential backoff with full jitter and a cap, per step (AWS Architecture Blog, "Exponential Backoff
/// And Jitter"): the n-th retry waits a uniformly random time in [0, min(cap, base · 2^(n-1))]. A server's
/// `Retry-After` wins over the computed delay. Pure: tests pass their own random source.
public struct RetryPolicy: Sendable, Equatable {
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// Failures of one step after which the job fails.
    public var maxAttempts: Int

    public init(baseDelay: Duration = .seconds(2), maxDelay: Duration = .seconds(300), maxAttempts: Int = 10) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxAttempts = maxAttempts
    }

    public enum Decision: Sendable, Equatable {
        case retry(after: Duration)
        case giveUp
    }

    /// `failures` counts this one (1 after the first failure of the step).
    public func decide<R: RandomNumberGenerator>(
        failures: Int, retryAfter: Duration?, using random: inout R
    ) -> Decision {
        guard failures < maxAttempts else { return .giveUp }
        if let retryAfter, retryAfter > .zero { return .retry(after: retryAfter) }
        let ceiling = self.ceiling(failures: failures)
        let ceilingMicros = max(ceiling.microseconds, 1)
        return .retry(after: .microseconds(Int64.random(in: 0...ceilingMicros, using: &random)))
    }

    public func decide(failures: Int, retryAfter: Duration?) -> Decision {
        var generator = SystemRandomNumberGenerator()
        return decide(failures: failures, retryAfter: retryAfter, using: &generator)
    }

    /// A wait the service asked for (throttling, replication lag) is not a failure: it does not use up
    /// `maxAttempts` but has its own bound, ten times as many. `waits` counts this one. The delay is the
    /// server's `Retry-After`, else the backoff, growing with the waits.
    public func decideWait<R: RandomNumberGenerator>(
        waits: Int, retryAfter: Duration?, using random: inout R
    ) -> Decision {
        guard waits < maxAttempts * 10 else { return .giveUp }
        if let retryAfter, retryAfter > .zero { return .retry(after: retryAfter) }
        let ceilingMicros = max(ceiling(failures: max(1, waits)).microseconds, 1)
        return .retry(after: .microseconds(Int64.random(in: 0...ceilingMicros, using: &random)))
    }

    public func decideWait(waits: Int, retryAfter: Duration?) -> Decision {
        var generator = SystemRandomNumberGenerator()
        return decideWait(waits: waits, retryAfter: retryAfter, using: &generator)
    }

    /// The upper bound of the n-th delay: min(cap, base · 2^(n-1)).
    public func ceiling(failures: Int) -> Duration {
        let exponent = min(max(failures - 1, 0), 40)
        let scaled = baseDelay * (1 << exponent)
        return min(scaled, maxDelay)
    }
}

extension Duration {
    var microseconds: Int64 {
        let (seconds, attoseconds) = components
        let (micros, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000)
        return overflow ? (seconds < 0 ? .min : .max) : micros + attoseconds / 1_000_000_000_000
    }
}
