import Foundation

/// The last successful client-credentials sign-in with one credential of a tenant's own app, as Entra
/// aggregates it for the `appCredentialSignInActivities` report: one entry per credential (keyId), its time
/// replaced by each later sign-in.
public struct CredentialSignIn: Sendable {
    public enum KeyType: String, Sendable {
        case clientSecret, certificate
    }

    public let keyID: UUID
    public let keyType: KeyType
    public let appID: UUID
    public let appObjectID: UUID
    public let servicePrincipalID: UUID?
    /// The resource the token was for: Microsoft Graph's service principal in the tenant.
    public let resourceID: UUID
    public let credentialCreated: Date
    public let credentialExpires: Date
    public var lastSignIn: Date
    public var lastRequestID: UUID
}
