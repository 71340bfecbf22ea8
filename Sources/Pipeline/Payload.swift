import Foundation

/// What an `onboard` job carries (its `payload`), as the enqueue file's columns give it. The customer
/// tenant itself is the job's tenant key: its Entra tenant id (GUID) or one of its domains.
public struct OnboardingPayload: Codable, Sendable, Equatable {
    /// `teams` (Direct Routing) or `m365` (user sync).
    public var path: String
    public var displayName: String?
    /// The PBX's base URL (`https://customer.3cx.example`), its XAPI client id, and where the client's
    /// secret is (a `SecretReference`).
    public var pbxURL: String
    public var pbxClientID: String
    public var pbxSecret: String
    /// The app's Web redirect URI; default: `onboarding.redirect_uri_template` filled with the PBX URL.
    public var redirectURI: String?
    /// Teams path: the SBC domain, a full name or a label under `onboarding.sbc_parent_domain`.
    public var sbcDomain: String?
    /// Microsoft 365 path: the users to sync, by UPN; none means every licensed member.
    public var users: [String]?
    /// A customer outside the partner relationship: its own app's client id and secret reference.
    public var tenantClientID: String?
    public var tenantClientSecret: String?

    enum CodingKeys: String, CodingKey {
        case path
        case displayName = "display_name"
        case pbxURL = "pbx_url"
        case pbxClientID = "pbx_client_id"
        case pbxSecret = "pbx_secret"
        case redirectURI = "redirect_uri"
        case sbcDomain = "sbc_domain"
        case users
        case tenantClientID = "tenant_client_id"
        case tenantClientSecret = "tenant_client_secret"
    }

    public init(
        path: String, displayName: String? = nil, pbxURL: String, pbxClientID: String, pbxSecret: String,
        redirectURI: String? = nil, sbcDomain: String? = nil, users: [String]? = nil
    ) {
        self.path = path
        self.displayName = displayName
        self.pbxURL = pbxURL
        self.pbxClientID = pbxClientID
        self.pbxSecret = pbxSecret
        self.redirectURI = redirectURI
        self.sbcDomain = sbcDomain
        self.users = users
    }
}

/// JSON files read by secret references, parsed once per version of the file (its modification time
/// and size): a credentials file listing thousands of PBXs is not parsed again for every call.
final class JSONFiles: @unchecked Sendable {
    static let shared = JSONFiles()
    private let lock = NSLock()
    private var cache: [String: (stamp: String, document: Any)] = [:]

    func document(_ path: String) -> Any? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        let stamp = "\((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)/\(attributes[.size] ?? 0)"
        lock.lock()
        if let cached = cache[path], cached.stamp == stamp {
            lock.unlock()
            return cached.document
        }
        lock.unlock()
        guard let data = FileManager.default.contents(atPath: path),
            let document = try? JSONSerialization.jsonObject(with: data)
        else { return nil }
        lock.lock()
        cache[path] = (stamp, document)
        lock.unlock()
        return document
    }
}
