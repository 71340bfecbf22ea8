import Foundation

/// Admin consent: application roles (`appRoleAssignments`) and delegated scopes (`oauth2PermissionGrants`).
extension GraphClient {
    /// The application roles granted to `principalID` (of every resource).
    public func appRoleAssignments(principalID: String, context: FailureContext = FailureContext()) async throws
        -> [GraphAppRoleAssignment]
    {
        try await items(
            GraphAppRoleAssignment.self, "/servicePrincipals/\(principalID)/appRoleAssignments", context: context)
    }

    /// Grants `appRoleID` of `resourceID` to `principalID`. `context` marks a just-created principal.
    public func assignAppRole(
        principalID: String, resourceID: String, appRoleID: String, context: FailureContext = FailureContext()
    ) async throws {
        struct Body: Encodable, Sendable {
            var principalId: String
            var resourceId: String
            var appRoleId: String
        }
        _ = try await sendRaw(
            "POST", "/servicePrincipals/\(resourceID)/appRoleAssignedTo",
            body: Body(principalId: principalID, resourceId: resourceID, appRoleId: appRoleID), context: context)
    }

    /// The delegated-permission grants of the client `clientID` (a service principal's object id).
    public func permissionGrants(clientID: String, context: FailureContext = FailureContext()) async throws
        -> [GraphPermissionGrant]
    {
        try await items(
            GraphPermissionGrant.self, "/oauth2PermissionGrants", filter: .equals("clientId", clientID),
            context: context)
    }

    /// Admin consent for delegated `scopes` for every user.
    public func grantDelegated(
        clientID: String, resourceID: String, scopes: [String], context: FailureContext = FailureContext()
    ) async throws {
        struct Body: Encodable, Sendable {
            var clientId: String
            var consentType = "AllPrincipals"
            var resourceId: String
            var scope: String
        }
        _ = try await sendRaw(
            "POST", "/oauth2PermissionGrants",
            body: Body(clientId: clientID, resourceId: resourceID, scope: scopes.joined(separator: " ")),
            context: context)
    }

    /// Replaces the scopes of an existing grant.
    public func updateGrant(id: String, scopes: [String], context: FailureContext = FailureContext()) async throws {
        struct Body: Encodable, Sendable { var scope: String }
        _ = try await sendRaw(
            "PATCH", "/oauth2PermissionGrants/\(id)", body: Body(scope: scopes.joined(separator: " ")),
            context: context)
    }
}
