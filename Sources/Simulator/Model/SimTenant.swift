import Foundation

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
    /// Deleted items (Entra's recycle bin, restorable for 30 days): deleted applications keep their
    /// `uniqueName` taken, deleted users keep referencing their UPN's domain. By object id, with when deleted.
    public var deletedApplications: [UUID: (app: SimApplication, deleted: Date)] = [:]
    public var deletedUsers: [UUID: (user: SimUser, deleted: Date)] = [:]
    public var skus: [SimSku] = []
    /// The default app-management policy's password lifetime cap, if the tenant set one.
    public var maxPasswordLifetimeDays: Int?
    /// The default app-management policy forbids new client secrets (`passwordAddition`).
    public var forbidsPasswords = false
    /// The tenant has Microsoft Entra ID P1 or P2: the sign-in reports need it.
    public var entraIDPremium = true
    /// The partner app's consent here includes AuditLog.Read.All (the sign-in reports).
    public var partnerAuditLog = true
    /// The MSP whose customer this tenant is (`SimPartner.msp`): whose partner app its consent is for. A
    /// partner's own tenant names itself.
    public var partnerMSP = SimPartner.defaultMSP
    /// Client-credentials tokens issued here, per app id: which partner app signed in to this tenant.
    public var tokensIssued: [UUID: Int] = [:]
    /// Per credential of this tenant's own apps (by keyId): its last successful client-credentials sign-in.
    public var credentialSignIns: [UUID: CredentialSignIn] = [:]
    /// Its GDAP relationship with its MSP, listed in the MSP's partner tenant (`Services/GDAP`).
    public var gdap: SimGDAP = .standard

    init(id: UUID, defaultDomain: String, displayName: String, graphPrincipalID: UUID) {
        self.id = id
        self.defaultDomain = defaultDomain
        self.displayName = displayName
        graphPrincipal = SimServicePrincipal(
            id: graphPrincipalID, appID: UUID(uuidString: GraphPermissionCatalogue.resourceAppID)!,
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
            for assignment in appRoleAssignments
            where assignment.principalID == principal.id && assignment.resourceID == graphPrincipal.id {
                if let role = GraphPermissionCatalogue.microsoftGraph.appRole(id: assignment.appRoleID) {
                    names.insert(role.value)
                }
            }
        }
        return names.sorted()
    }

    func application(appID: UUID) -> SimApplication? { applications.values.first { $0.appID == appID } }

    /// Deletes an application as Entra does: it moves to Deleted applications, and its service principal
    /// here goes with it, and with the principal every application permission granted to it and its delegated
    /// grants (consent). Tokens for the app are refused from then on (it is no longer in `applications`).
    func softDelete(_ app: SimApplication) {
        applications[app.id] = nil
        deletedApplications[app.id] = (app, Date())
        if let principal = principal(appID: app.appID) {
            principals[principal.id] = nil
            appRoleAssignments.removeAll { $0.principalID == principal.id }
            permissionGrants.removeAll { $0.clientID == principal.id }
        }
        tokensIssued[app.appID] = nil
    }

    /// Whether an application, live or in Deleted applications, holds `uniqueName`.
    func uniqueNameTaken(_ name: String) -> Bool {
        applications.values.contains { $0.properties["uniqueName"]?.string == name }
            || deletedApplications.values.contains { $0.app.properties["uniqueName"]?.string == name }
    }

    /// The objects whose names use `domain` (or a subdomain of it): users, and deleted users too.
    func references(toDomain domain: String) -> [String] {
        let all = users.values.map(\.userPrincipalName) + deletedUsers.values.map(\.user.userPrincipalName)
        return all.filter { upn in
            let host = upn.split(separator: "@").last.map { String($0).lowercased() } ?? ""
            return host == domain || host.hasSuffix("." + domain)
        }.sorted()
    }
}
