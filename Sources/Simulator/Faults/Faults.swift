import Foundation

/// The real services' failure modes, all off by default, each seeded so a run can be replayed.
/// Read and changed at runtime with `GET` / `PUT /_sim/faults` (this JSON shape), or `--faults FILE`.
public struct Faults: Codable, Sendable, Equatable {
    public var seed: UInt64 = 1
    /// Added to every Graph and token response.
    public var latencyMs: Int = 0
    public var jitterMs: Int = 0
    /// Share of Graph and token requests answered with a random 429/500/502/503/504 (507 on writes) before
    /// anything is applied, as Dev Proxy's Graph error plugin does.
    public var errorRate: Double = 0
    /// The statuses `errorRate` draws from (nil: 429, 500, 502, 503, 504, and 507 on writes).
    public var errorStatuses: [Int]?
    /// Share of Graph writes applied and then answered by closing the connection.
    public var lostResponseRate: Double = 0
    /// For this long after a create, the new object 404s, lists omit it, and references to it fail
    /// ("does not reference a valid application object", "Not a valid reference update").
    public var replicationLagMs: Int = 0
    /// For this long after addPassword / a certificate upload, the token endpoint refuses the new
    /// credential (AADSTS7000215 / AADSTS700027).
    public var propagationMs: Int = 0
    /// Writes allowed per app and tenant in `throttleWindowS` seconds (Graph's identity limit is 3,000 per
    /// 150 s); 0 turns throttling off. Beyond it: 429 with Retry-After and x-ms-throttle-scope.
    public var throttleWrites: Int = 0
    public var throttleWindowS: Int = 150
    /// Writes allowed per tenant, all apps together, in `throttleTenantWindowS` (Graph: 18,000 per 5 minutes).
    public var throttleTenantWrites: Int = 0
    public var throttleTenantWindowS: Int = 300
    /// Writes allowed per app across every tenant in `throttleAppWindowS` (Graph: 35,000 per 5 minutes).
    public var throttleAppWrites: Int = 0
    public var throttleAppWindowS: Int = 300
    /// How long a TXT record published through the DNS API takes to be seen by domain verification.
    public var dnsPropagationMs: Int = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case seed, latencyMs = "latency_ms", jitterMs = "jitter_ms", errorRate = "error_rate"
        case errorStatuses = "error_statuses"
        case lostResponseRate = "lost_response_rate", replicationLagMs = "replication_lag_ms", propagationMs =
            "propagation_ms"
        case throttleWrites = "throttle_writes", throttleWindowS = "throttle_window_s"
        case dnsPropagationMs = "dns_propagation_ms"
        case throttleTenantWrites = "throttle_tenant_writes", throttleTenantWindowS = "throttle_tenant_window_s"
        case throttleAppWrites = "throttle_app_writes", throttleAppWindowS = "throttle_app_window_s"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = Faults()
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? defaults.seed
        latencyMs = try c.decodeIfPresent(Int.self, forKey: .latencyMs) ?? 0
        jitterMs = try c.decodeIfPresent(Int.self, forKey: .jitterMs) ?? 0
        errorRate = try c.decodeIfPresent(Double.self, forKey: .errorRate) ?? 0
        errorStatuses = try c.decodeIfPresent([Int].self, forKey: .errorStatuses)
        lostResponseRate = try c.decodeIfPresent(Double.self, forKey: .lostResponseRate) ?? 0
        replicationLagMs = try c.decodeIfPresent(Int.self, forKey: .replicationLagMs) ?? 0
        propagationMs = try c.decodeIfPresent(Int.self, forKey: .propagationMs) ?? 0
        throttleWrites = try c.decodeIfPresent(Int.self, forKey: .throttleWrites) ?? 0
        throttleWindowS = try c.decodeIfPresent(Int.self, forKey: .throttleWindowS) ?? 150
        dnsPropagationMs = try c.decodeIfPresent(Int.self, forKey: .dnsPropagationMs) ?? 0
        throttleTenantWrites = try c.decodeIfPresent(Int.self, forKey: .throttleTenantWrites) ?? 0
        throttleTenantWindowS = try c.decodeIfPresent(Int.self, forKey: .throttleTenantWindowS) ?? 300
        throttleAppWrites = try c.decodeIfPresent(Int.self, forKey: .throttleAppWrites) ?? 0
        throttleAppWindowS = try c.decodeIfPresent(Int.self, forKey: .throttleAppWindowS) ?? 300
    }

    var replicationLag: TimeInterval { TimeInterval(replicationLagMs) / 1000 }
    var propagation: TimeInterval { TimeInterval(propagationMs) / 1000 }
}
