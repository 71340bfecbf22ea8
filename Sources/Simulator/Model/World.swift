import Crypto
import Foundation
import Synchronization

/// Everything the simulator knows. Built from a seed; its tenants change only under `DirectoryStore`'s lock,
/// and its PBXs' settings under the PBX service's.
public final class World: @unchecked Sendable {
    /// The roles the partner app needs in a customer tenant (AuditLog.Read.All: the credential sign-in
    /// report that shows which secret the PBX signs in with).
    public static let partnerRoles: Set<String> = [
        "Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All",
        "Domain.ReadWrite.All", "User.ReadWrite.All", "Organization.Read.All", "AuditLog.Read.All",
    ]

    /// Every MSP's own tenant and multi-tenant partner app; the first is the default MSP, `msp`.
    public private(set) var partners: [SimPartner] = []
    /// The default MSP's tenant, partner app and its client secret (the first partner).
    public var partnerTenant: SimTenant { partners[0].tenant }
    public var partnerApp: SimApplication { partners[0].app }
    public var partnerSecret: String { partners[0].secret }
    public private(set) var tenants: [UUID: SimTenant] = [:]
    /// One PBX per customer, by name (`customer7`), served at `/pbx/{name}`.
    public private(set) var pbxes: [String: SimPBX] = [:]
    private var byDomain: [String: UUID] = [:]

    /// `customers` generated tenants from `seed` (see `WorldDescription.generated`).
    public convenience init(customers: Int, seed: UInt64) throws {
        try self.init(WorldDescription.generated(customers: customers, seed: seed))
    }

    /// The world a description gives; the seed fixes every id and secret.
    public init(_ description: WorldDescription) throws {
        var random = SeededRandom(seed: description.seed)
        // The default MSP first, drawn from the seed as it always was, so every id of an existing world file stays.
        try addPartner(
            msp: SimPartner.defaultMSP, displayName: "The MSP", cloud: "global", domain: "msp.onmicrosoft.com",
            random: &random)
        // Other MSPs draw their ids from a seed of their own: adding one does not change the customers' ids.
        for spec in description.partners ?? [] where spec.msp != SimPartner.defaultMSP {
            guard partner(msp: spec.msp) == nil else { throw SimServerError("partners: \(spec.msp) is listed twice") }
            var own = SeededRandom(seed: description.seed &+ Self.seedOffset(spec.msp))
            try addPartner(
                msp: spec.msp, displayName: spec.displayName ?? spec.msp, cloud: spec.cloud ?? "global",
                domain: "\(spec.msp.lowercased()).onmicrosoft.com", random: &own)
        }
        for spec in description.tenants {
            let tenant = SimTenant(
                id: spec.id ?? random.uuid(), defaultDomain: spec.domain.lowercased(),
                displayName: spec.displayName ?? spec.domain,
                graphPrincipalID: random.uuid())
            tenant.skus = spec.sku.catalogue
            tenant.maxPasswordLifetimeDays = spec.maxPasswordLifetimeDays
            tenant.forbidsPasswords = spec.forbidPasswords ?? false
            tenant.entraIDPremium = spec.entraIDPremium ?? true
            tenant.partnerAuditLog = spec.auditLogConsent ?? true
            let msp = spec.partner ?? SimPartner.defaultMSP
            guard partner(msp: msp) != nil else {
                throw SimServerError("tenant \(spec.domain): partner \(msp) is not one of the world's partners")
            }
            tenant.partnerMSP = msp
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

    /// The partner app's consent in `tenant`, as an admin (or the MSP through GDAP) would leave it. Consent
    /// makes what Entra makes: the app's service principal in the tenant (none without consent) and one
    /// app-role assignment from Microsoft Graph per application permission granted, so Graph lists them.
    public func setConsent(_ consent: WorldDescription.Consent, in tenant: SimTenant, partner: SimPartner? = nil) {
        let partnerApp = (partner ?? self.partner(msp: tenant.partnerMSP) ?? partners[0]).app
        let withheld: Set<String> = tenant.partnerAuditLog ? [] : ["AuditLog.Read.All"]
        let roles: Set<String>? =
            switch consent {
            case .none: nil
            case .partial: World.partnerRoles.subtracting(withheld.union(["Domain.ReadWrite.All"]))
            case .full: World.partnerRoles.subtracting(withheld)
            }
        tenant.servicePrincipals[partnerApp.appID] = roles
        let existing = tenant.principal(appID: partnerApp.appID)
        if let existing {
            tenant.appRoleAssignments.removeAll {
                $0.principalID == existing.id && $0.resourceID == tenant.graphPrincipal.id
            }
        }
        guard let roles else {
            if let existing { tenant.principals[existing.id] = nil }
            return
        }
        let principal =
            existing
            ?? SimServicePrincipal(
                id: Self.derivedID(tenant.id, partnerApp.appID), appID: partnerApp.appID,
                displayName: partnerApp.displayName)
        tenant.principals[principal.id] = principal
        for name in roles.sorted() {
            guard let role = GraphPermissionCatalogue.microsoftGraph.appRole(named: name),
                let roleID = UUID(uuidString: role.id)
            else { continue }
            tenant.appRoleAssignments.append(
                SimAppRoleAssignment(
                    id: Self.derivedID(principal.id, roleID), principalID: principal.id,
                    resourceID: tenant.graphPrincipal.id, appRoleID: roleID, created: principal.created))
        }
    }

    /// An id fixed by the ids it belongs to, so a world built from a seed lists the same ids on every run.
    static func derivedID(_ first: UUID, _ second: UUID) -> UUID {
        let digest = (try? Digest.sha256(Array((first.uuidString + second.uuidString).utf8))) ?? []
        var bytes = Array(digest.prefix(16)) + [UInt8](repeating: 0, count: max(0, 16 - digest.count))
        bytes[6] = (bytes[6] & 0x0F) | 0x40  // RFC 9562 layout: version 4, variant 10
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
                bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }

    /// The partner whose app this is (a multi-tenant app of some MSP), if any.
    public func partner(appID: UUID) -> SimPartner? { partners.first { $0.app.appID == appID } }

    /// The MSP's partner by its id (`msp` for the default one).
    public func partner(msp: String) -> SimPartner? { partners.first { $0.msp == msp } }

    /// The partner that owns `tenant` as its own (home) tenant.
    public func partner(homeTenant tenant: SimTenant) -> SimPartner? { partners.first { $0.tenant === tenant } }

    private func addPartner(
        msp: String, displayName: String, cloud: String, domain: String, random: inout SeededRandom
    ) throws {
        let tenant = SimTenant(
            id: random.uuid(), defaultDomain: domain, displayName: displayName, graphPrincipalID: random.uuid())
        let app = SimApplication(
            id: random.uuid(), appID: random.uuid(),
            displayName: msp == SimPartner.defaultMSP
                ? "MSP onboarding partner app" : "\(displayName) onboarding partner app")
        app.multiTenant = true
        let secret = "sim~" + Base64URL.encode((0..<24).map { _ in UInt8.random(in: 0...255, using: &random) })
        app.passwords.append(
            PasswordCredential(
                keyID: random.uuid(), displayName: "partner", secretHash: try Digest.sha256(Array(secret.utf8)),
                hint: String(secret.prefix(3)), start: .distantPast, end: .distantFuture))
        tenant.applications[app.id] = app
        tenant.servicePrincipals[app.appID] = []
        tenant.partnerMSP = msp
        partners.append(SimPartner(msp: msp, cloud: cloud, tenant: tenant, app: app, secret: secret))
        add(tenant)
    }

    /// A seed offset from an MSP id (FNV-1a), stable across runs and platforms.
    static func seedOffset(_ msp: String) -> UInt64 {
        msp.utf8.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
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
        let own = Set(partners.map(\.tenant.id))
        return tenants.values.filter { !own.contains($0.id) }.sorted {
            $0.defaultDomain.localizedStandardCompare($1.defaultDomain) == .orderedAscending
        }
    }
}

/// The Entra directory's objects (tenants, their applications, service principals, grants, users, domains)
/// under one lock. The token endpoint, Graph's applications, service principals and directory all read and
/// write the same objects (a token needs an app's credentials and its service principal's roles), so they
/// share this lock rather than each keeping a part; the PBX and DNS services keep their own state apart.
final class DirectoryStore: Sendable {
    let world: World
    private let lock = Mutex(())

    init(world: World) { self.world = world }

    /// Runs `body` with the directory locked. Not reentrant: a handler already inside must not call it again.
    func withWorld<T>(_ body: (World) -> T) -> T { lock.withLock { _ in body(world) } }
}

/// An MSP as the simulator knows it: its own tenant, where its multi-tenant partner app is registered, and
/// that app's client secret (known to whoever set the world up, as an MSP knows its own).
public final class SimPartner: @unchecked Sendable {
    /// The default MSP of every world (the only one of a world file without `partners`).
    public static let defaultMSP = "msp"
    /// The MSP's id in Onboarder (`onboarder.msps.id`).
    public let msp: String
    /// `global`, `usgov` or `china`: informational (the simulator serves one directory for all).
    public let cloud: String
    public let tenant: SimTenant
    public let app: SimApplication
    public let secret: String

    init(msp: String, cloud: String, tenant: SimTenant, app: SimApplication, secret: String) {
        self.msp = msp
        self.cloud = cloud
        self.tenant = tenant
        self.app = app
        self.secret = secret
    }
}
