import Foundation

/// A world as a file (`onboarder-sim --world FILE`):
///
///     {"seed": 1,
///      "tenants": [{"domain": "contoso.onmicrosoft.com", "display_name": "Contoso",
///                   "consent": "full", "sku": "E5", "max_password_lifetime_days": 365,
///                   "users": ["alice", "bob"], "pbx": "contoso"}]}
///
/// `consent`: full | partial (every role but Domain.ReadWrite.All) | none; `sku`: E5 (with Phone
/// System) | E3 | none; `id` (a GUID) is optional; users get `@domain`, the first one licensed, the third
/// without a usage location; `pbx` names the PBX at `/pbx/{name}` (default: the domain's first label);
/// `entra_id_premium` (default true): the tenant has Entra ID P1/P2, which the sign-in reports need;
/// `audit_log_consent` (default true): the partner app's consent includes AuditLog.Read.All;
/// `partner` (default `msp`): the MSP whose customer the tenant is, whose partner app `consent` is for.
/// Top-level `partners` (optional): further MSPs, each with its own tenant (`<msp>.onmicrosoft.com`) and
/// partner app: `[{"msp": "acme", "display_name": "Acme IT", "cloud": "global"}]`. The default MSP `msp`
/// is always there.
public struct WorldDescription: Codable, Sendable {
    public enum Consent: String, Codable, Sendable { case full, partial, none }
    public enum Sku: String, Codable, Sendable {
        case e5 = "E5"
        case e3 = "E3"
        /// No subscription at all (no licence to assign).
        case none

        var catalogue: [SimSku] {
            switch self {
            case .e5: [SimCatalogue.e5]
            case .e3: [SimCatalogue.e3]
            case .none: []
            }
        }
    }

    public struct Tenant: Codable, Sendable {
        public var id: UUID?
        public var domain: String
        public var displayName: String?
        public var consent: Consent
        public var sku: Sku
        public var maxPasswordLifetimeDays: Int?
        public var users: [String]?
        public var pbx: String?
        public var forbidPasswords: Bool?
        public var entraIDPremium: Bool?
        public var auditLogConsent: Bool?
        public var partner: String?

        public init(
            id: UUID? = nil, domain: String, displayName: String? = nil, consent: Consent = .full, sku: Sku = .e5,
            maxPasswordLifetimeDays: Int? = nil, users: [String]? = nil, pbx: String? = nil,
            forbidPasswords: Bool? = nil, entraIDPremium: Bool? = nil, auditLogConsent: Bool? = nil,
            partner: String? = nil
        ) {
            self.partner = partner
            self.entraIDPremium = entraIDPremium
            self.auditLogConsent = auditLogConsent
            self.forbidPasswords = forbidPasswords
            self.id = id
            self.domain = domain
            self.displayName = displayName
            self.consent = consent
            self.sku = sku
            self.maxPasswordLifetimeDays = maxPasswordLifetimeDays
            self.users = users
            self.pbx = pbx
        }

        enum CodingKeys: String, CodingKey {
            case id, domain, consent, sku, users, pbx, partner
            case displayName = "display_name", maxPasswordLifetimeDays = "max_password_lifetime_days"
            case forbidPasswords = "forbid_passwords"
            case entraIDPremium = "entra_id_premium", auditLogConsent = "audit_log_consent"
        }
    }

    /// An MSP of the world besides the default one.
    public struct Partner: Codable, Sendable {
        public var msp: String
        public var displayName: String?
        public var cloud: String?

        public init(msp: String, displayName: String? = nil, cloud: String? = nil) {
            self.msp = msp
            self.displayName = displayName
            self.cloud = cloud
        }

        enum CodingKeys: String, CodingKey {
            case msp, cloud
            case displayName = "display_name"
        }
    }

    public var seed: UInt64
    public var tenants: [Tenant]
    public var partners: [Partner]?

    public init(seed: UInt64, tenants: [Tenant], partners: [Partner]? = nil) {
        self.seed = seed
        self.tenants = tenants
        self.partners = partners
    }

    /// Every tenth customer not consented, the next one partly, the rest fully; every third with E5;
    /// every fifth with a one-year password cap.
    public static func generated(customers: Int, seed: UInt64) -> WorldDescription {
        WorldDescription(
            seed: seed,
            tenants: (0..<customers).map { index in
                Tenant(
                    id: nil, domain: "customer\(index + 1).onmicrosoft.com", displayName: "Customer \(index + 1)",
                    consent: index % 10 == 0 ? .none : index % 10 == 1 ? .partial : .full,
                    sku: index % 3 == 0 ? .e5 : .e3,
                    maxPasswordLifetimeDays: index % 5 == 2 ? 365 : nil, users: nil, pbx: "customer\(index + 1)")
            })
    }

    /// `tenants[0].consent` from a decoding path.
    static func place(_ path: [any CodingKey]) -> String {
        path.reduce("") { text, key in
            if let index = key.intValue { return text + "[\(index)]" }
            return text.isEmpty ? key.stringValue : text + "." + key.stringValue
        }
    }

    /// Reads a world file; errors name the file and what is wrong.
    public static func load(_ path: String) throws -> WorldDescription {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SimServerError("cannot read the world file \(path)")
        }
        do {
            let description = try JSONDecoder().decode(WorldDescription.self, from: data)
            var seen = Set<String>()
            for (index, tenant) in description.tenants.enumerated() {
                guard seen.insert(tenant.domain.lowercased()).inserted else {
                    throw SimServerError("\(path): tenants[\(index)].domain \(tenant.domain) appears twice")
                }
            }
            return description
        } catch let error as DecodingError {
            switch error {
            case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
                throw SimServerError("\(path): \(Self.place(context.codingPath)): \(context.debugDescription)")
            case .keyNotFound(let key, let context):
                throw SimServerError("\(path): \(Self.place(context.codingPath)) \(key.stringValue) is missing")
            @unknown default:
                throw SimServerError("\(path): \(error)")
            }
        }
    }
}
