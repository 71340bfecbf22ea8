import Graph

/// Admin consent as a diff: the application roles and delegated scopes the app should hold in Microsoft
/// Graph's service principal (`resource`), against what Graph shows.
struct ConsentPlan: Equatable {
    enum GrantChange: Equatable {
        case none
        /// No grant for this client and resource yet: create one with these scopes.
        case create(scopes: [String])
        /// The grant lacks some scopes: set it to these (what it had, and what it lacks).
        case update(id: String, scopes: [String])
    }

    /// Role ids to assign, sorted.
    var rolesToAssign: [String]
    var grant: GrantChange

    /// The changes that give `wantedRoles` (ids) and `wantedScopes` (names), given the principal's role
    /// assignments and permission grants as Graph lists them.
    static func diff(
        wantedRoles: Set<String>, wantedScopes: Set<String>, resource: String, assignments: [GraphAppRoleAssignment],
        grants: [GraphPermissionGrant]
    ) -> ConsentPlan {
        let granted = grantedRoles(assignments, resource: resource)
        let roles = wantedRoles.map { $0.lowercased() }
        let change: GrantChange
        if wantedScopes.isEmpty {
            change = .none
        } else if let existing = grant(grants, resource: resource) {
            change =
                wantedScopes.isSubset(of: existing.scopes)
                ? .none : .update(id: existing.id, scopes: existing.scopes.union(wantedScopes).sorted())
        } else {
            change = .create(scopes: wantedScopes.sorted())
        }
        return ConsentPlan(rolesToAssign: Set(roles).subtracting(granted).sorted(), grant: change)
    }

    /// What is still missing on read-back: nil when Graph shows every role and scope.
    static func missing(
        wantedRoles: Set<String>, wantedScopes: Set<String>, resource: String, assignments: [GraphAppRoleAssignment],
        grants: [GraphPermissionGrant]
    ) -> String? {
        let roles = Set(wantedRoles.map { $0.lowercased() }).subtracting(grantedRoles(assignments, resource: resource))
        let grantOK =
            wantedScopes.isEmpty
            || (grant(grants, resource: resource).map { wantedScopes.isSubset(of: $0.scopes) } ?? false)
        guard !roles.isEmpty || !grantOK else { return nil }
        return
            "consent not visible yet: \(roles.count) application role(s) and \(grantOK ? "no" : "the") delegated grant missing on read-back"
    }

    private static func grantedRoles(_ assignments: [GraphAppRoleAssignment], resource: String) -> Set<String> {
        Set(assignments.filter { $0.resourceId.lowercased() == resource }.map { $0.appRoleId.lowercased() })
    }

    /// The tenant-wide (AllPrincipals) grant for `resource`.
    private static func grant(_ grants: [GraphPermissionGrant], resource: String) -> GraphPermissionGrant? {
        grants.first { $0.resourceId.lowercased() == resource && $0.consentType == "AllPrincipals" }
    }
}
