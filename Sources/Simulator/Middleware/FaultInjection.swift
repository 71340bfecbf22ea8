import Crypto
import Foundation

/// Fault injection as a middleware around a surface's endpoint: the real services' failure modes (errors
/// with Retry-After, Graph's identity throttling, responses lost after the work is done, latency) decided
/// from one seeded generator in request order, so a run replays. The Graph and token surfaces wear it.
package struct FaultInjection: Sendable {
    /// Which service's failures: Graph's (OData errors; writes throttled and lost) or the token
    /// endpoint's (Entra's error shape).
    enum Profile: Sendable {
        case graph
        case token
    }

    let profile: Profile
    let faults: FaultController
    let counter: RequestCounter

    func wrap(_ next: @escaping Endpoint) -> Endpoint {
        { request in handle(request, next) }
    }

    private func handle(_ request: SimRequest, _ next: Endpoint) -> Handled {
        let isGraph = profile == .graph
        let write = request.method != "GET"
        let throttling =
            isGraph && write
            && faults.decide {
                $0.faults.throttleWrites > 0 || $0.faults.throttleTenantWrites > 0 || $0.faults.throttleAppWrites > 0
            }
        let caller = throttling ? Self.unverifiedCaller(request) : nil
        let decision = faults.decide { state in Self.decide(&state, isGraph: isGraph, write: write, caller: caller) }
        let clientRequestID = request.headers["client-request-id"] ?? UUID().uuidString.lowercased()
        if let status = decision.injected {
            counter.count("injected \(status)")
            let retryAfter = status == 429 || status == 503 ? [("Retry-After", "2")] : []
            let response =
                isGraph
                ? GraphErrors.odata(
                    status, status == 429 ? "TooManyRequests" : "ServiceUnavailable",
                    status == 429
                        ? "Too many requests (injected fault)."
                        : "The service is temporarily unavailable (injected fault).",
                    clientRequestID: clientRequestID
                ).adding(retryAfter)
                : EntraErrors.injected(status).adding(retryAfter)
            return Handled(response: response, delay: decision.delay)
        }
        if let (seconds, scope) = decision.throttled {
            counter.count("throttled")
            if decision.again { counter.count("throttled again") }
            let response = GraphErrors.odata(
                429, "TooManyRequests", "Too many requests", clientRequestID: clientRequestID
            ).adding([("Retry-After", String(seconds)), ("x-ms-throttle-scope", scope)])
            return Handled(response: response, delay: decision.delay)
        }
        var handled = next(request)
        handled.delay = decision.delay
        if decision.lost {
            counter.count("lost response")
            handled.dropped = true
        }
        return handled
    }

    package struct Decision {
        package var injected: Int?
        package var lost = false
        package var delay: Duration = .zero
        /// Seconds to wait and the throttle scope.
        package var throttled: (Int, String)?
        /// A second 429 in one window: the client came back before the Retry-After it was given.
        package var again = false
    }

    /// Every draw a request needs, in a fixed order: an injected error, the throttling windows, a lost
    /// response, the jitter.
    package static func decide(_ state: inout FaultState, isGraph: Bool, write: Bool, caller: String?) -> Decision {
        let f = state.faults
        var decision = Decision()
        if f.errorRate > 0, state.roll() < f.errorRate {
            let statuses =
                f.errorStatuses.flatMap { $0.isEmpty ? nil : $0 }
                ?? (write && isGraph ? [429, 500, 502, 503, 504, 507] : [429, 500, 502, 503, 504])
            decision.injected = statuses[Int(state.random.next() % UInt64(statuses.count))]
        }
        if decision.injected == nil, isGraph, write, let caller {
            // Graph's identity write limits: per app and tenant, per tenant for all apps together, and per app
            // across every tenant (the one a partner app onboarding many customers meets first).
            let now = Date()
            let tenantKey = String(caller.prefix { $0 != "/" })
            let appKey = String(caller.drop { $0 != "/" }.dropFirst())
            let buckets = [
                (caller, f.throttleWrites, f.throttleWindowS, "Tenant_Application/ReadWrite/\(caller)"),
                (
                    "tenant:" + tenantKey, f.throttleTenantWrites, f.throttleTenantWindowS,
                    "Tenant/ReadWrite/\(tenantKey)"
                ),
                ("app:" + appKey, f.throttleAppWrites, f.throttleAppWindowS, "Application/Write/\(appKey)"),
            ]
            for (key, limit, window, scope) in buckets where limit > 0 && decision.throttled == nil {
                var bucket = state.windows[key] ?? (start: now, writes: 0)
                if now.timeIntervalSince(bucket.start) >= TimeInterval(window) { bucket = (now, 0) }
                bucket.writes += 1
                state.windows[key] = bucket
                if bucket.writes > limit {
                    decision.again = bucket.writes > limit + 1
                    decision.throttled = (
                        max(1, Int((TimeInterval(window) - now.timeIntervalSince(bucket.start)).rounded(.up))), scope
                    )
                }
            }
        }
        let lost = isGraph && write && f.lostResponseRate > 0 && state.roll() < f.lostResponseRate
        decision.lost = lost && decision.injected == nil && decision.throttled == nil
        let jitter = f.jitterMs > 0 ? Int(state.random.next() % UInt64(f.jitterMs + 1)) : 0
        decision.delay = .milliseconds(f.latencyMs + jitter)
        return decision
    }

    /// "tenant/app" from a bearer token's claims, unverified: only a throttling bucket's key.
    static func unverifiedCaller(_ request: SimRequest) -> String? {
        guard let header = request.headers["authorization"], header.hasPrefix("Bearer ") else { return nil }
        let parts = header.dropFirst(7).split(separator: ".")
        guard parts.count == 3, let bytes = Base64URL.decode(String(parts[1])),
            let claims = try? JSONDecoder().decode([String: JSONValue].self, from: Data(bytes)),
            let tenant = claims["tid"]?.string, let app = claims["appid"]?.string
        else { return nil }
        return "\(tenant)/\(app)"
    }
}
