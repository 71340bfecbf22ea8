import Foundation
import Graph
import PBX

/// How the onboarding pipeline runs, from the configuration (`[onboarding]`, `[dns]`, `[secrets]`,
/// `[microsoft]`, `[partner]`).
public struct OnboardingSettings: Sendable {
    public var loginBaseURL = "https://login.microsoftonline.com"
    public var graphBaseURL = "https://graph.microsoft.com/v1.0"
    /// Graph beta, where Microsoft serves the per-credential sign-in report (`appCredentialSignInActivities`);
    /// nil: `graphBaseURL` with `/v1.0` replaced by `/beta`.
    public var graphReportsBaseURLSetting: String?
    public var graphReportsBaseURL: String {
        if let graphReportsBaseURLSetting, !graphReportsBaseURLSetting.isEmpty { return graphReportsBaseURLSetting }
        return graphBaseURL.hasSuffix("/v1.0") ? String(graphBaseURL.dropLast(5)) + "/beta" : graphBaseURL
    }
    /// Endpoints of the other clouds where the configuration overrides Microsoft's documented ones
    /// (`microsoft.usgov_*`, `microsoft.china_*`; the simulator in tests). The global cloud's are the
    /// three URLs above.
    public var cloudOverrides: [Cloud: CloudEndpoints] = [:]
    /// Partner Center's REST API for the global cloud (`microsoft.partner_center_base_url`).
    public var partnerCenterBaseURL = "https://api.partnercenter.microsoft.com"

    /// Where `cloud`'s services are: for global the configured URLs, else the override or Microsoft's.
    public func endpoints(for cloud: Cloud) -> CloudEndpoints {
        if cloud == .global {
            var global = cloudOverrides[.global] ?? CloudEndpoints.documented(.global)
            global.loginBaseURL = loginBaseURL
            global.graphBaseURL = graphBaseURL
            global.partnerCenterBaseURL = partnerCenterBaseURL
            return global
        }
        return cloudOverrides[cloud] ?? CloudEndpoints.documented(cloud)
    }

    /// The default MSP's multi-tenant partner app (the configuration's `[partner]`), consented in each
    /// customer tenant; an MSP whose row names its own app uses that instead (`PartnerApps`).
    public var partnerTenantID = ""
    public var partnerClientID = ""
    public var partnerCredential: ClientCredential?
    /// `partner.writes_per_second`: Graph writes a second per partner app across every worker process (0: no
    /// limit of the configuration's; an MSP's `writes_per_second` may still set one). Graph allows an app
    /// 35,000 identity writes per 5 minutes across all tenants (117 a second); 100 leaves room for the
    /// bucket's one-second burst and for other tools using the same app (about 30,200 in any 5 minutes).
    public var partnerWritesPerSecond: Double = 100
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
    /// `pbx` (`file` is its old name): the certificate is the PBX's own ("Generate New Key Pair" on the PBX,
    /// supplied with `onboarder cert add`), so the PBX can sign in with it. `generate`: Onboarder also puts a
    /// certificate of its own on the app, whose private key only Onboarder holds (sealed). Its use: a
    /// credential with which Onboarder itself signs in as the app (the proofs of `verify` and
    /// `rotate-cert-prove`, and scripts that must act as the app) that no PBX hand-over or secret rotation
    /// touches. The PBX's certificate is still needed and goes beside it (`verify` uploads it once supplied).
    public var certificateSource = "pbx"
    public var generatesCertificates: Bool { certificateSource == "generate" }
    public var certificateLifetimeDays = 730
    /// Teams path: SBC domains are `<label>.<this>` unless the enqueue names a full domain.
    public var sbcParentDomain = ""
    public var usageLocation = "US"
    /// The Teams activation user's name on the SBC domain.
    public var activationUser = "teams-activation"
    public var userBatchSize = 100
    /// Where the Teams path's verification TXT record is published (`dns.*`).
    public var dns: DNSProvider = .manual(resolver: nil, zone: nil)
    /// The longest wait between two looks of a step that waits for an operator or the PBX's technician (the
    /// looks double from 30 s up to this; `cert add`, `handover done` and the sheet wake it at once).
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
        let base = pbxURL.hasSuffix("/") ? pbxURL.utf8.dropLast() : pbxURL.utf8[...]
        // Byte by byte: Foundation's replacingOccurrences goes through NSString, and the standard library's
        // firstRange(of:) through its string-processing generics (8 % and 10 % of a 100,000-row enqueue's CPU,
        // which works out every customer's redirect URI for its plan).
        let template = Array(redirectURITemplate.utf8), placeholder = Array("{pbx_url}".utf8)
        var uri: [UInt8] = []
        uri.reserveCapacity(template.count + base.count)
        var index = 0
        while index < template.count {
            if template[index] == UInt8(ascii: "{") && template[index...].starts(with: placeholder) {
                uri += base
                index += placeholder.count
            } else {
                uri.append(template[index])
                index += 1
            }
        }
        return String(decoding: uri, as: UTF8.self)
    }
}
