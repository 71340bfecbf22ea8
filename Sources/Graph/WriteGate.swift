/// What `GraphClient` awaits before every write it sends (POST, PATCH, PUT, DELETE): Graph counts an app's
/// identity writes across all the tenants it writes in (35,000 per 5 minutes per app), so a fleet of
/// workers onboarding many customers with one partner app must pace them together. Reads are not counted.
///
/// `admit()` returns when one write may go; it waits without blocking a thread, and throws
/// `CancellationError` when the waiting task is cancelled (a job stopped at shutdown stops waiting). A 429
/// from Graph is still handled as before: the gate only keeps Onboarder under the limit it was given.
public protocol WriteGate: Sendable {
    func admit() async throws
}

extension GraphClient {
    /// Whether Graph counts `method` as a write (Microsoft's identity write quota: POST, PATCH, PUT, DELETE).
    /// Onboarder's POSTs all write; none of its reads is a POST.
    static func isWrite(_ method: String) -> Bool {
        switch method.uppercased() {
        case "POST", "PATCH", "PUT", "DELETE": true
        default: false
        }
    }
}
