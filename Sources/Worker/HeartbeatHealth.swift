/// Whether a worker may claim, from its heartbeats: not after half the lease without a successful one,
/// for by the lease others take its jobs. Pure: the heartbeat service feeds it each beat's result.
public struct HeartbeatHealth: Sendable, Equatable {
    public let lease: Duration
    private var lastSuccess: ContinuousClock.Instant
    public private(set) var healthy = true

    public init(lease: Duration, startedAt: ContinuousClock.Instant) {
        self.lease = lease
        self.lastSuccess = startedAt
    }

    /// Records a beat; returns the new health when it changed.
    public mutating func beat(succeeded: Bool, at now: ContinuousClock.Instant) -> Bool? {
        if succeeded { lastSuccess = now }
        let healthy = now - lastSuccess < lease / 2
        defer { self.healthy = healthy }
        return healthy == self.healthy ? nil : healthy
    }
}
