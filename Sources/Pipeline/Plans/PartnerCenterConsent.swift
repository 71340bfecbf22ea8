import Foundation
import Graph

/// Partner Center for an MSP whose `consent_mode` is `partner-center`: what Onboarder asks it for, whether to
/// ask at this look, and what its answer means for the wait. Partner Center consents delegated scopes (and
/// makes the app's service principal); it cannot give the application roles Onboarder's app-only pipeline
/// signs in with (Graph/PartnerCenter.swift has the sources), so a customer stays in the consent wait, with
/// the admin-consent link, for whatever Graph still shows missing afterwards.
enum PartnerCenterConsent: Equatable {
    /// Partner Center consented (201 or 200): read the consent back through Graph.
    case asked
    /// The consent exists already (409 "Permission entry already exists"): read it back too.
    case exists
    /// Throttled (429): ask again at the next look, not before `retryAfter`.
    case throttled(retryAfter: Duration?)
    /// Refused for a reason a person must fix (no relationship, no consenting role, an app-only or wrong
    /// credential, a bad request): in the wait message; not asked again until the wait starts over.
    case refused(String)
    /// Partner Center failed (5xx, transport): ask again at the next look.
    case failed(String)

    /// The consent Onboarder asks for: its partner app's Microsoft Graph permissions, which Partner Center
    /// grants as delegated scopes of the same names.
    static func request(clientID: String, displayName: String, roles: [String]) -> PartnerCenterClient.Consent {
        PartnerCenterClient.Consent(
            applicationId: clientID, displayName: displayName,
            applicationGrants: [
                PartnerCenterClient.Grant(
                    enterpriseApplicationId: PartnerCenterClient.graphResource, scopes: roles.sorted())
            ])
    }

    static func classify(_ answer: PartnerCenterClient.Answer) -> PartnerCenterConsent {
        guard let status = answer.status else { return .failed(answer.description) }
        switch status {
        case 200, 201: return .asked
        case 409: return .exists
        case 429: return .throttled(retryAfter: answer.retryAfter)
        case 500...599, 408: return .failed("HTTP \(status): \(answer.description)")
        case 401:
            return .refused(
                "Partner Center refused the token (HTTP 401: \(answer.description)): the MSP's admin agent must consent the partner app again and its refresh token be set with onboarder msp set"
            )
        case 403:
            return .refused(
                "Partner Center refused (HTTP 403: \(answer.description)): it needs a GDAP relationship with this customer giving the MSP's admin agent Global Administrator, Privileged Role Administrator or Cloud Application Administrator"
            )
        default:
            return .refused("Partner Center refused the consent (HTTP \(status): \(answer.description))")
        }
    }

    /// The outcome as an event records it (`partner_center_consent`'s `outcome`).
    var recorded: String {
        switch self {
        case .asked: "asked"
        case .exists: "exists"
        case .throttled: "throttled"
        case .refused: "refused"
        case .failed: "failed"
        }
    }

    /// Whether this look asks Partner Center, given the outcome of the latest ask in this wait (nil: none):
    /// once it consented (or the consent exists) there is nothing more it can grant; a refusal waits for a
    /// person (a retry or wake starts the wait over); throttling and failures ask again.
    static func shouldAsk(latest: String?) -> Bool {
        switch latest {
        case "asked", "exists", "refused": false
        default: true
        }
    }

    /// What the wait message says of Partner Center.
    var note: String {
        switch self {
        case .asked, .exists:
            "it consented the delegated scopes and made the partner app's service principal; application roles are not something it grants"
        case .throttled(let after):
            "throttled, asked again at the next look\(after.map { " (Retry-After \($0.components.seconds) s)" } ?? "")"
        case .refused(let why): why
        case .failed(let why): "failed (\(why)), asked again at the next look"
        }
    }

    /// The note for a look that did not ask, from the latest ask's outcome and words.
    static func note(latest: String, description: String) -> String {
        switch latest {
        case "asked", "exists":
            "it consented the delegated scopes and made the partner app's service principal; application roles are not something it grants"
        default: description
        }
    }
}
