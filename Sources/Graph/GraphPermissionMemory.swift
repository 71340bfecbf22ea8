import Foundation

/// Microsoft Graph's permissions as its service principal lists them (`appRoles`, `oauth2PermissionScopes`),
/// remembered per Graph endpoint for the life of the process.
///
/// They are Microsoft's, not the tenant's: every tenant of a cloud lists the same roles under the same ids
/// (the permissions reference gives one id per permission); only the service principal's own id differs
/// from tenant to tenant. The lists are about 1,500 roles and scopes with their names, and reading them for each
/// customer was 7 % of the worker's CPU in `scripts/bench e2e` (and writing them a share of the simulator's).
/// So they are read in full once, and after that each tenant's service principal with `$select=id,appId`.
/// Microsoft adds permissions, and a worker runs for weeks: a name or an id the remembered lists do not know
/// sends the caller back for a full read (`microsoftGraphServicePrincipal(fresh: true)`), which replaces them.
actor GraphPermissionMemory {
    static let shared = GraphPermissionMemory()

    struct Lists: Sendable {
        var appRoles: [GraphAppRole]
        var scopes: [GraphAppRole]
    }

    private var lists: [String: Lists] = [:]

    /// The lists last read from `endpoint` (a Graph base URL), or nil.
    func lists(for endpoint: String) -> Lists? { lists[endpoint] }

    func remember(_ lists: Lists, for endpoint: String) { self.lists[endpoint] = lists }
}
