import Crypto
import Foundation
import Synchronization

/// Everything the simulator knows. Built from a seed; its tenants change only under `DirectoryStore`'s lock,
/// and its PBXs' settings under the PBX service's.
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
