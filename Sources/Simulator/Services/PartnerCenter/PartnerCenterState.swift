import Crypto
import Foundation
import Synchronization

/// What Partner Center knows beside the directory: each partner's admin agent who completed the secure
/// application model's consent (its refresh tokens), each customer's delegated-admin relationship with the
/// partner and the roles the agent holds there, and the per-application request rate. Under its own lock;
/// consent itself is written into the directory (`DirectoryStore`), where Graph reads it back.
final class PartnerCenterState: Sendable {
    /// A customer as Partner Center sees it from the partner: a relationship (GDAP, or DAP's Admin Agent),
    /// and the Entra roles the partner's agent holds in the customer's tenant through it.
    struct Customer: Sendable, Equatable {
        /// nil: as the world says (the tenant is the customer of its `partnerMSP` only).
        var relationship: Bool?
        var roles: Set<String> = ["Cloud Application Administrator"]
    }

    /// The roles with which Partner Center may consent an application in a customer tenant for the partner
    /// (Microsoft's GDAP sample for the consent API: Global admin, Privileged role admin or Cloud application
    /// admin, for a user in AdminAgents and in the relationship's group).
    static let consentingRoles: Set<String> = [
        "Global Administrator", "Privileged Role Administrator", "Cloud Application Administrator",
    ]

    /// The documented limit: 50 requests a second per applicationId.
    static let documentedRequestsPerSecond = 50

    private struct State {
        /// refresh token → (partner tenant, agent user).
        var refreshTokens: [String: (partner: UUID, user: UUID)] = [:]
        var customers: [UUID: Customer] = [:]
        var requestsPerSecond = PartnerCenterState.documentedRequestsPerSecond
        /// applicationId → (second, requests in it).
        var windows: [String: (second: Int, count: Int)] = [:]
    }

    private let state = Mutex(State())

    /// A new refresh token for `partner`'s admin agent (the interactive consent, with MFA, done).
    func consentAgent(partner: UUID) -> String {
        var random = SystemRandomNumberGenerator()
        let token = "pcrt~" + Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &random) })
        let user = UUID()
        state.withLock { $0.refreshTokens[token] = (partner, user) }
        return token
    }

    /// Whose refresh token `token` is.
    func agent(refreshToken token: String) -> (partner: UUID, user: UUID)? {
        state.withLock { $0.refreshTokens[token] }
    }

    func customer(_ tenant: UUID) -> Customer { state.withLock { $0.customers[tenant] ?? Customer() } }

    func setCustomer(_ tenant: UUID, _ customer: Customer) { state.withLock { $0.customers[tenant] = customer } }

    func setRequestsPerSecond(_ limit: Int) { state.withLock { $0.requestsPerSecond = max(0, limit) } }

    /// Counts a request of `applicationID` against its limit: nil when within it, else the seconds to wait.
    func admit(applicationID: String, now: Date = Date()) -> Int? {
        state.withLock { state in
            let second = Int(now.timeIntervalSince1970)
            var window = state.windows[applicationID] ?? (second, 0)
            if window.second != second { window = (second, 0) }
            guard window.count < state.requestsPerSecond else { return 1 }
            window.count += 1
            state.windows[applicationID] = window
            return nil
        }
    }
}
