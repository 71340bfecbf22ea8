import Crypto
import Foundation
import Graph

/// A deterministic pseudo-random generator (SplitMix64), so a seed replays the same world.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func uuid() -> UUID {
        let a = next()
        let b = next()
        var bytes = withUnsafeBytes(of: a.bigEndian) { Array($0) } + withUnsafeBytes(of: b.bigEndian) { Array($0) }
        bytes[6] = bytes[6] & 0x0f | 0x40  // version 4
        bytes[8] = bytes[8] & 0x3f | 0x80  // RFC 4122 variant
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }
}

/// A client secret as Entra keeps it: only a hash of the text, which is shown once.
public struct PasswordCredential: Sendable {
    public var keyID: UUID
    public var displayName: String
    public var secretHash: [UInt8]
    public var hint: String
    public var start: Date
    public var end: Date
}

/// An uploaded certificate (`keyCredentials` entry).
public struct KeyCredential: Sendable {
    public var keyID: UUID
    public var displayName: String
    public var certificate: Certificate
    public var sha1Thumbprint: [UInt8]
    public var sha256Thumbprint: [UInt8]
    /// When it was uploaded (credential propagation counts from here).
    public var added = Date()
}

/// An application registration.
public final class SimApplication: @unchecked Sendable {
    public let id: UUID
    public let appID: UUID
    public var displayName: String
    public var passwords: [PasswordCredential] = []
    public var keys: [KeyCredential] = []
    /// Multi-tenant apps (the MSP's partner app) sign in to other tenants where they have a service principal.
    public var multiTenant = false
    /// Every other property as the client wrote it (signInAudience, web, requiredResourceAccess, …).
    public var properties: [String: JSONValue] = [:]
    public var createdDateTime = Date()

    init(id: UUID, appID: UUID, displayName: String) {
        self.id = id
        self.appID = appID
        self.displayName = displayName
    }
}

/// A service principal: an app's presence in one tenant, and the app roles granted to it.
public final class SimServicePrincipal: @unchecked Sendable {
    public let id: UUID
    public let appID: UUID
    public var displayName: String
    public let created = Date()
    init(id: UUID, appID: UUID, displayName: String) {
        self.id = id
        self.appID = appID
        self.displayName = displayName
    }
}

/// An application-permission grant (`appRoleAssignment`): `principal` may use `appRoleID` of `resource`.
public struct SimAppRoleAssignment: Sendable {
    public let id: UUID
    public let principalID: UUID
    public let resourceID: UUID
    public let appRoleID: UUID
    public let created: Date
}

/// A delegated-permission grant (`oauth2PermissionGrant`).
public struct SimPermissionGrant: Sendable {
    public let id: String
    public let clientID: UUID
    public let resourceID: UUID
    public let consentType: String
    public var scope: String
}

/// A domain in a tenant.
public struct SimDomain: Sendable {
    public var name: String
    public var isVerified: Bool
    public var isDefault: Bool
    public var isInitial: Bool
    /// The `MS=ms########` TXT value that proves ownership.
    public var verificationCode: String
    public var created = Date()
}

/// A user.
public final class SimUser: @unchecked Sendable {
    public let id: UUID
    public var userPrincipalName: String
    public var displayName: String
    public var usageLocation: String?
    public var accountEnabled: Bool
    public var skuIDs: [UUID] = []
    public let created = Date()
    init(id: UUID, userPrincipalName: String, displayName: String, usageLocation: String?, accountEnabled: Bool = true)
    {
        self.id = id
        self.userPrincipalName = userPrincipalName
        self.displayName = displayName
        self.usageLocation = usageLocation
        self.accountEnabled = accountEnabled
    }
}

/// A licence the tenant bought.
public struct SimSku: Sendable {
    public var id: UUID
    public var partNumber: String
    public var servicePlans: [(id: UUID, name: String)]
    public var enabledUnits: Int
}

/// The catalogue of SKUs the simulator hands out (ids as Microsoft publishes them).
public enum SimCatalogue {
    /// Phone System (Teams calling), the plan Direct Routing needs.
    public static let phoneSystem = (id: UUID(uuidString: "4828c8ec-dc2e-4779-b502-87ac9ce28ab7")!, name: "MCOEV")
    static let teams = (id: UUID(uuidString: "57ff2da0-773e-42df-b2af-ffb7a2317929")!, name: "TEAMS1")
    static let exchange = (id: UUID(uuidString: "efb87545-963c-4e0d-99df-69c6916d9eb0")!, name: "EXCHANGE_S_ENTERPRISE")
    /// Office 365 E5: includes Phone System.
    public static let e5 = SimSku(
        id: UUID(uuidString: "c7df2760-2c81-4ef7-b578-5b5392b571df")!, partNumber: "ENTERPRISEPREMIUM",
        servicePlans: [teams, exchange, phoneSystem], enabledUnits: 25)
    /// Office 365 E3: no Phone System.
    public static let e3 = SimSku(
        id: UUID(uuidString: "6fd2c87f-b296-42f0-b197-1e91e994b900")!, partNumber: "ENTERPRISEPACK",
        servicePlans: [teams, exchange], enabledUnits: 25)
}

/// One Entra tenant. Guarded by the world's lock.
public final class SimTenant: @unchecked Sendable {
    public let id: UUID
    public let defaultDomain: String
    public let displayName: String
    public var applications: [UUID: SimApplication] = [:]  // by object id
    /// App ids with a service principal here, and the Graph application roles granted to each, for apps
    /// consented from outside (the MSP's partner app).
    public var servicePrincipals: [UUID: Set<String>] = [:]
    /// Service principals created through Graph (and the Microsoft Graph one), by object id.
    public var principals: [UUID: SimServicePrincipal] = [:]
    public var appRoleAssignments: [SimAppRoleAssignment] = []
    public var permissionGrants: [SimPermissionGrant] = []
    /// Microsoft Graph's own service principal here: the resource of every permission.
    public let graphPrincipal: SimServicePrincipal
    public var domains: [String: SimDomain] = [:]
    public var users: [UUID: SimUser] = [:]
    public var skus: [SimSku] = []
    /// The default app-management policy's password lifetime cap, if the tenant set one.
    public var maxPasswordLifetimeDays: Int?
    /// The default app-management policy forbids new client secrets (`passwordAddition`).
    public var forbidsPasswords = false

    init(id: UUID, defaultDomain: String, displayName: String, graphPrincipalID: UUID) {
        self.id = id
        self.defaultDomain = defaultDomain
        self.displayName = displayName
        graphPrincipal = SimServicePrincipal(
            id: graphPrincipalID, appID: UUID(uuidString: KnownGraphPermissions.resourceAppID)!,
            displayName: "Microsoft Graph")
        principals[graphPrincipal.id] = graphPrincipal
        domains[defaultDomain] = SimDomain(
            name: defaultDomain, isVerified: true, isDefault: true, isInitial: true, verificationCode: "")
    }

    func user(_ key: String) -> SimUser? {
        if let id = UUID(uuidString: key) { return users[id] }
        return users.values.first { $0.userPrincipalName.lowercased() == key.lowercased() }
    }

    func principal(appID: UUID) -> SimServicePrincipal? { principals.values.first { $0.appID == appID } }

    /// The Graph application roles an app holds here: consented from outside, or assigned to its service
    /// principal through `appRoleAssignedTo`.
    func roles(appID: UUID) -> [String] {
        var names = servicePrincipals[appID] ?? []
        if let principal = principal(appID: appID) {
            let byID = Dictionary(uniqueKeysWithValues: KnownGraphPermissions.appRoles.map { ($0.value, $0.key) })
            for assignment in appRoleAssignments
            where assignment.principalID == principal.id && assignment.resourceID == graphPrincipal.id {
                if let name = byID[assignment.appRoleID.uuidString.lowercased()] { names.insert(name) }
            }
        }
        return names.sorted()
    }

    func application(appID: UUID) -> SimApplication? { applications.values.first { $0.appID == appID } }
}

/// Everything the simulator knows. Built from a seed; changed only under `Simulator`'s lock.
public final class World: @unchecked Sendable {
    /// The roles the partner app needs in a customer tenant (ARCHITECTURE §3).
    public static let partnerRoles: Set<String> = [
        "Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All",
        "Domain.ReadWrite.All", "User.ReadWrite.All", "Organization.Read.All",
    ]

    public let partnerTenant: SimTenant
    public let partnerApp: SimApplication
    /// The partner app's client secret, known to the operator who set the world up.
    public let partnerSecret: String
    public private(set) var tenants: [UUID: SimTenant] = [:]
    /// One PBX per customer, by name (`customer7`), served at `/pbx/{name}`.
    public private(set) var pbxes: [String: SimPBX] = [:]
    private var byDomain: [String: UUID] = [:]

    /// `customers` tenants from `seed`: a tenth without consent, a tenth with some roles missing.
    /// `customers` generated tenants from `seed` (see `WorldDescription.generated`).
    public convenience init(customers: Int, seed: UInt64) throws {
        try self.init(WorldDescription.generated(customers: customers, seed: seed))
    }

    /// The world a description gives; the seed fixes every id and secret.
    public init(_ description: WorldDescription) throws {
        var random = SeededRandom(seed: description.seed)
        partnerTenant = SimTenant(
            id: random.uuid(), defaultDomain: "msp.onmicrosoft.com", displayName: "The MSP",
            graphPrincipalID: random.uuid())
        partnerApp = SimApplication(id: random.uuid(), appID: random.uuid(), displayName: "MSP onboarding partner app")
        partnerApp.multiTenant = true
        partnerSecret = "sim~" + Base64URL.encode((0..<24).map { _ in UInt8.random(in: 0...255, using: &random) })
        partnerApp.passwords.append(
            PasswordCredential(
                keyID: random.uuid(), displayName: "partner", secretHash: try Digest.sha256(Array(partnerSecret.utf8)),
                hint: String(partnerSecret.prefix(3)), start: .distantPast, end: .distantFuture))
        partnerTenant.applications[partnerApp.id] = partnerApp
        partnerTenant.servicePrincipals[partnerApp.appID] = []
        add(partnerTenant)
        for spec in description.tenants {
            let tenant = SimTenant(
                id: spec.id ?? random.uuid(), defaultDomain: spec.domain.lowercased(),
                displayName: spec.displayName ?? spec.domain,
                graphPrincipalID: random.uuid())
            tenant.skus = spec.sku.catalogue
            tenant.maxPasswordLifetimeDays = spec.maxPasswordLifetimeDays
            tenant.forbidsPasswords = spec.forbidPasswords ?? false
            for (number, name) in (spec.users ?? ["user1", "user2", "user3"]).enumerated() {
                let user = SimUser(
                    id: random.uuid(), userPrincipalName: "\(name)@\(tenant.defaultDomain)",
                    displayName: name, usageLocation: number == 2 ? nil : "US")
                if number == 0, let sku = tenant.skus.first { user.skuIDs = [sku.id] }
                tenant.users[user.id] = user
            }
            setConsent(spec.consent, in: tenant)
            add(tenant)
            let pbxName = spec.pbx ?? String(tenant.defaultDomain.prefix { $0 != "." })
            pbxes[pbxName] = SimPBX(
                name: pbxName, tenantID: tenant.id,
                clientSecret: "pbx~" + Base64URL.encode((0..<18).map { _ in UInt8.random(in: 0...255, using: &random) })
            )
        }
    }

    /// The partner app's consent in `tenant`, as an admin (or the MSP through GDAP) would leave it.
    public func setConsent(_ consent: WorldDescription.Consent, in tenant: SimTenant) {
        switch consent {
        case .none: tenant.servicePrincipals[partnerApp.appID] = nil  // no service principal for the partner app
        case .partial:
            tenant.servicePrincipals[partnerApp.appID] = World.partnerRoles.subtracting(["Domain.ReadWrite.All"])
        case .full: tenant.servicePrincipals[partnerApp.appID] = World.partnerRoles
        }
    }

    private func add(_ tenant: SimTenant) {
        tenants[tenant.id] = tenant
        byDomain[tenant.defaultDomain.lowercased()] = tenant.id
    }

    /// A tenant by id (GUID) or domain, as the token endpoint's path names it.
    public func tenant(_ key: String) -> SimTenant? {
        if let id = UUID(uuidString: key) { return tenants[id] }
        return byDomain[key.lowercased()].flatMap { tenants[$0] }
    }

    /// The customers in creation order (for tests and the seed file).
    public var customers: [SimTenant] {
        tenants.values.filter { $0.id != partnerTenant.id }.sorted {
            $0.defaultDomain.localizedStandardCompare($1.defaultDomain) == .orderedAscending
        }
    }
}

/// A world as a file (`onboarder-sim --world FILE`):
///
///     {"seed": 1,
///      "tenants": [{"domain": "contoso.onmicrosoft.com", "display_name": "Contoso",
///                   "consent": "full", "sku": "E5", "max_password_lifetime_days": 365,
///                   "users": ["alice", "bob"], "pbx": "contoso"}]}
///
/// `consent`: full | partial (every role but Domain.ReadWrite.All) | none; `sku`: E5 (with Phone
/// System) | E3 | none; `id` (a GUID) is optional; users get `@domain`, the first one licensed, the third
/// without a usage location; `pbx` names the PBX at `/pbx/{name}` (default: the domain's first label).
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

        public init(
            id: UUID? = nil, domain: String, displayName: String? = nil, consent: Consent = .full, sku: Sku = .e5,
            maxPasswordLifetimeDays: Int? = nil, users: [String]? = nil, pbx: String? = nil,
            forbidPasswords: Bool? = nil
        ) {
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
            case id, domain, consent, sku, users, pbx
            case displayName = "display_name", maxPasswordLifetimeDays = "max_password_lifetime_days"
            case forbidPasswords = "forbid_passwords"
        }
    }

    public var seed: UInt64
    public var tenants: [Tenant]

    public init(seed: UInt64, tenants: [Tenant]) {
        self.seed = seed
        self.tenants = tenants
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
