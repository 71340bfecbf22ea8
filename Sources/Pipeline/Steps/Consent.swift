import Foundation
import Graph

extension Run {
    /// `consent`: admin consent for the resolved roles and scopes (`ConsentPlan`), then read back.
    mutating func consent() async throws {
        let graph = try graph()
        let principal = try require(facts.servicePrincipalID, "service principal id")
        let resource = try require(facts.graphServicePrincipalID, "Microsoft Graph's service principal id")
        let context = context(createdAt: facts.servicePrincipalAt ?? facts.appRegisteredAt)
        let roles = Set((facts.roleIDs ?? [:]).values)
        let scopes = Set((facts.scopeIDs ?? [:]).keys)

        let plan = ConsentPlan.diff(
            wantedRoles: roles, wantedScopes: scopes, resource: resource,
            assignments: try await graph.appRoleAssignments(principalID: principal, context: context),
            grants: scopes.isEmpty ? [] : try await graph.permissionGrants(clientID: principal, context: context))
        for role in plan.rolesToAssign {
            do {
                try await graph.assignAppRole(
                    principalID: principal, resourceID: resource, appRoleID: role, context: context)
            } catch let error as GraphError where error.message.contains("already exists") {
                // An earlier try's answer was lost; the assignment is there.
            }
        }
        switch plan.grant {
        case .none: break
        case .update(let id, let scopes): try await graph.updateGrant(id: id, scopes: scopes, context: context)
        case .create(let scopes):
            do {
                try await graph.grantDelegated(
                    clientID: principal, resourceID: resource, scopes: scopes, context: context)
            } catch let error as GraphError where error.status == 409 {
                // Made by an earlier try whose answer was lost.
            }
        }
        // Consent is what Graph shows, not what the requests said.
        if let missing = ConsentPlan.missing(
            wantedRoles: roles, wantedScopes: scopes, resource: resource,
            assignments: try await graph.appRoleAssignments(principalID: principal, context: context),
            grants: scopes.isEmpty ? [] : try await graph.permissionGrants(clientID: principal, context: context))
        {
            throw StepStop.retry(.replication, missing)
        }
    }
}
