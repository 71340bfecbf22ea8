import Foundation

/// The PBX's own Microsoft 365 check (`TestSubscription`) read as the verify step's next state.
enum PBXCheck: Equatable {
    case passes
    /// Entra does not know the new credential everywhere yet: look again.
    case propagating(String)
    case fails(String)

    /// Entra's answers while a new app or credential propagates (invalid secret, unknown app, unknown
    /// certificate, consent not seen yet).
    static let propagationCodes = ["AADSTS7000215", "AADSTS700016", "AADSTS700027", "AADSTS65001"]

    /// `available` and `message` as the PBX answered; a propagation error counts as such only within
    /// `window` of adding the secret (`credentialAddedAt`).
    static func verdict(
        available: Bool, message: String?, credentialAddedAt: Date?, now: Date, window: TimeInterval
    ) -> PBXCheck {
        guard !available else { return .passes }
        let message = message ?? "no reason given"
        let propagating = propagationCodes.contains { message.contains($0) }
        if propagating, now.timeIntervalSince(credentialAddedAt ?? .distantPast) < window {
            return .propagating(message)
        }
        return .fails(message)
    }
}
