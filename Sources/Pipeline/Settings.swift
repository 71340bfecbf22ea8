import Foundation
import Graph
import PBX

/// How the onboarding pipeline runs, from the configuration (`[onboarding]`, `[dns]`, `[secrets]`,
/// `[microsoft]`, `[partner]`).
public struct OnboardingSettings: Sendable {
    public var loginBaseURL = "https://login.microsoftonline.com"
    public var graphBaseURL = "https://graph.microsoft.com/v1.0"
    /// The MSP's multi-tenant partner app, consented in each customer tenant.
    public var partnerClientID = ""
    public var partnerCredential: ClientCredential?
    /// The app registration's display name; its `uniqueName` (the idempotency key of the upsert) is this
    /// name lower-cased, so one tenant never gets two.
    public var appName = "bvoip-msteams-integration"
    /// Application roles and delegated scopes the app asks for (the vendor's list corrected).
    public var roles = [
        "User.Read.All", "User.ReadWrite.All", "Domain.ReadWrite.All", "Domain.Read.All", "Calendars.Read",
        "Mail.Send", "Contacts.Read",
    ]
    public var scopes = ["User.Read"]
    /// `{pbx_url}` is replaced by the PBX's base URL.
    public var redirectURITemplate = "{pbx_url}/api/microsoft365/callback"
    public var secretDisplayName = "PBX Secret"
    public var secretLifetimeDays = 730
    /// `generate`: Onboarder makes the key pair; `file`: wait for the PBX's certificate (`onboarder cert add`).
    public var certificateSource = "generate"
    public var certificateLifetimeDays = 730
    /// Teams path: SBC domains are `<label>.<this>` unless the enqueue names a full domain.
    public var sbcParentDomain = ""
    public var usageLocation = "US"
    /// The Teams activation user's name on the SBC domain.
    public var activationUser = "teams-activation"
    public var userBatchSize = 100
    /// Where the Teams path's verification TXT record is published (`dns.*`).
    public var dns: DNSProvider = .manual(resolver: nil, zone: nil)
    /// How often a step that waits for an operator looks again (a `cert add` wakes it at once).
    public var inputRecheck: Duration = .seconds(3600)
    /// How long after creating an object its "not found" answers count as replication lag.
    public var replicationWindow: TimeInterval = 600
    /// Rotation: how long the old secret stays valid after the new one was handed to the PBX.
    public var rotationGrace: Duration = .seconds(86_400)
    /// What enqueue rows' secret references may name (`secrets.reference_*`), before `{msp}` is filled.
    public var secretReferences = SecretReferencePolicy(
        environmentPrefixes: SecretReferencePolicy.defaultEnvironmentPrefixes)
    /// Where a PBX's API secret may be sent (`pbx.allow_loopback_http`; the MSP's allowed hosts come from
    /// the database).
    public var pbxEndpoints = PBXEndpointPolicy()

    public init() {}

    public var appUniqueName: String { appName.lowercased() }

    /// The display-name prefix that marks passwords Onboarder created (`PBX Secret · onboarder job 12`).
    public var passwordMarker: String { "\(secretDisplayName) · onboarder" }

    public func redirectURI(pbxURL: String) -> String {
        let base = pbxURL.hasSuffix("/") ? String(pbxURL.dropLast()) : pbxURL
        return redirectURITemplate.replacingOccurrences(of: "{pbx_url}", with: base)
    }
}
