import Foundation

/// A customer tenant's GDAP relationship with its MSP, as the MSP's partner tenant lists it
/// (`/tenantRelationships/delegatedAdminRelationships`). A tenant without one described has the default:
/// active for two years from the world's start, holding `SimGDAPRelationship.defaultRoles`.
public struct SimGDAPRelationship: Sendable, Equatable {
    /// `delegatedAdminRelationshipStatus`, as the vendored Graph schema enumerates it.
    public static let statuses: Set<String> = [
        "activating", "active", "approvalPending", "approved", "created", "expired", "expiring", "terminated",
        "terminating", "terminationRequested",
    ]

    /// Entra built-in role template ids (Microsoft's "Microsoft Entra built-in roles" reference). The
    /// default relationship holds Privileged Role Administrator, the role that may consent to Microsoft
    /// Graph application permissions for the MSP's partner app (Microsoft's "Grant tenant-wide admin
    /// consent" page), and the ones an MSP's technicians usually ask for beside it.
    public static let privilegedRoleAdministrator = "e8611ab8-c189-46e8-94e1-60213ab1f814"
    public static let cloudApplicationAdministrator = "158c047a-c907-4556-b7ef-446551a6b5f7"
    public static let userAdministrator = "fe930be7-5e62-47db-91af-98c3a49a38b1"
    public static let teamsAdministrator = "69091246-20e8-4a56-aa4d-066075b2a7a8"
    public static let defaultRoles = [
        privilegedRoleAdministrator, cloudApplicationAdministrator, userAdministrator, teamsAdministrator,
    ]

    public var status: String
    public var roles: [String]
    public var created: Date
    public var end: Date?

    public init(status: String = "active", roles: [String] = defaultRoles, created: Date, end: Date?) {
        self.status = status
        self.roles = roles
        self.created = created
        self.end = end
    }

    /// The default one: active, two years long (Microsoft's longest), begun `created`.
    public static func standard(created: Date) -> SimGDAPRelationship {
        SimGDAPRelationship(created: created, end: created.addingTimeInterval(730 * 86_400))
    }
}

/// What a customer tenant's world file says of its GDAP relationship (`"gdap"`).
public enum SimGDAP: Sendable, Equatable {
    /// Not described: the default relationship.
    case standard
    /// `{"status": "none"}`: the MSP has no GDAP relationship with this customer.
    case none
    case described(SimGDAPRelationship)
}

extension SimGDAP {
    /// Why a world file's `"gdap"` cannot be read, or nil.
    static func problem(_ description: WorldDescription.GDAP) -> String? {
        if let status = description.status, status != "none", !SimGDAPRelationship.statuses.contains(status) {
            return "status \(status) is none or one of \(SimGDAPRelationship.statuses.sorted().joined(separator: ", "))"
        }
        if let end = description.end, Timestamp.date(end) == nil { return "end \(end) is not an ISO 8601 date-time" }
        if let bad = description.roles?.first(where: { UUID(uuidString: $0) == nil }) {
            return "role \(bad) is not a role definition id (a GUID)"
        }
        return nil
    }

    /// The world file's description made a relationship (nil: the default one).
    public init(_ description: WorldDescription.GDAP?) {
        guard let description else {
            self = .standard
            return
        }
        if description.status == "none" {
            self = .none
            return
        }
        let standard = SimGDAPRelationship.standard(created: World.gdapStart)
        self = .described(
            SimGDAPRelationship(
                status: description.status ?? standard.status,
                roles: (description.roles ?? standard.roles).map { $0.lowercased() }, created: standard.created,
                end: description.end.flatMap(Timestamp.date) ?? standard.end))
    }
}

extension World {
    /// When default relationships began: a month before the simulator started, so they are current.
    static let gdapStart = Date(timeIntervalSinceNow: -30 * 86_400)

    /// The customers whose GDAP relationships `tenant` lists: its MSP's customers when it is an MSP's
    /// own (partner) tenant, nobody's in a customer tenant.
    func gdapCustomers(of tenant: SimTenant) -> [SimTenant] {
        guard let partner = partner(homeTenant: tenant) else { return [] }
        return customers.filter { $0.partnerMSP == partner.msp }
    }
}
