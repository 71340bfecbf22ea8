/// How a worker paces one partner app's writes against the bucket in PostgreSQL
/// (`onboarder.take_partner_writes`): how many permits one statement asks for, how long to wait when it
/// got fewer, how long unused permits stay good. Pure: `PartnerWriteGate` asks, this answers.
public struct WritePermitPlan: Sendable, Equatable {
    /// Most permits one take asks for: the writes waiting plus `prefetch`, never more than this or than
    /// the bucket's burst (a take cannot get more than the bucket holds).
    public var maxBatch = 16
    /// Permits asked for beyond the writes waiting now, for the writes that follow within `permitLifetime`
    /// (the jobs of a worker write in quick succession), so a steady flow is not a statement per write: at
    /// least this many, or a quarter of the writes the process sent in the last second (a take every quarter
    /// second at a steady pace; fewer would be a statement per few writes at 20 jobs in flight).
    public var prefetch = 2
    /// Permits not used within this are dropped: a permit is a write the fleet may send now, and kept longer
    /// they would let this process exceed the rate later. One second: at most one extra batch per process
    /// in any window, on top of the bucket's burst.
    public var permitLifetime: Duration = .seconds(1)
    /// A take that got fewer than it asked for waits at least until the next permit, and up to this long for
    /// the permits of the writes still waiting to accumulate, so that the next take gets them in one
    /// statement. Shorter than the burst's second: waiting never lets the bucket overflow.
    public var gatherAtMost: Duration = .milliseconds(100)
    /// With no limit for the app, how long the worker writes without asking again (a limit set meanwhile
    /// in `msps.writes_per_second` applies within this).
    public var unlimitedRecheck: Duration = .seconds(10)

    public init() {}

    /// The permits to ask for when `waiting` writes wait and `recent` were admitted in the last second;
    /// `burst` is the bucket's, once a take returned it.
    public func batch(waiting: Int, recent: Int = 0, burst: Double?) -> Int {
        var wanted = min(maxBatch, max(1, waiting) + max(prefetch, recent / 4))
        if let burst, burst >= 1 { wanted = min(wanted, Int(burst.rounded(.down))) }
        return max(1, wanted)
    }

    /// How long to wait before the next take, after one that asked for `wanted` and got `granted` at
    /// `rate` writes per second, the next permit `waitSeconds` away; nil: no wait (it got all it asked for).
    public func retryDelay(wanted: Int, granted: Int, waitSeconds: Double, rate: Double) -> Duration? {
        guard granted < wanted, rate > 0 else { return nil }
        let missing = Double(wanted - granted)
        let gather = min(missing / rate, gatherAtMost / .seconds(1))
        return .microseconds(Int64((max(waitSeconds, gather) * 1_000_000).rounded()))
    }
}
