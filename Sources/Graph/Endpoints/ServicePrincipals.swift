import Foundation

/// `/servicePrincipals`: the app's own service principal in the tenant, and Microsoft Graph's.
extension GraphClient {
    /// The service principal of `appID`, when the tenant lists one.
    public func servicePrincipal(appID: String, context: FailureContext = FailureContext()) async throws
        -> GraphServicePrincipal?
    {
        try await items(
            GraphServicePrincipal.self, "/servicePrincipals", filter: .equals("appId", appID), select: ["id", "appId"],
            context: context
        ).first
    }

    /// Creates the service principal of `appID` (a 409 when it exists already).
    public func createServicePrincipal(appID: String, context: FailureContext = FailureContext()) async throws
        -> GraphServicePrincipal
    {
        struct Body: Encodable, Sendable { var appId: String }
        return try await send(
            GraphServicePrincipal.self, "POST", "/servicePrincipals", body: Body(appId: appID), context: context)
    }

    /// Microsoft Graph's service principal in this tenant, with its app roles and scopes: where permission
    /// names are resolved to ids, by value. The roles and scopes are the ones this process last read from this
    /// Graph endpoint (`remembered` says so: `GraphPermissionMemory`), read afresh when it has none or when
    /// `fresh` — what a caller asks for when a name or id is not in remembered lists.
    public func microsoftGraphServicePrincipal(context: FailureContext = FailureContext(), fresh: Bool = false)
        async throws -> GraphServicePrincipal
    {
        let path = "/servicePrincipals(appId='\(KnownGraphPermissions.resourceAppID)')"
        if !fresh, let known = await GraphPermissionMemory.shared.lists(for: baseURL) {
            var principal = try await send(
                GraphServicePrincipal.self, "GET", path, query: [("$select", "id,appId")], context: context)
            principal.appRoles = known.appRoles
            principal.oauth2PermissionScopes = known.scopes
            principal.remembered = true
            return principal
        }
        let principal = try await send(
            GraphServicePrincipal.self, "GET", path, query: [("$select", "id,appId,appRoles,oauth2PermissionScopes")],
            context: context)
        if let roles = principal.appRoles, let scopes = principal.oauth2PermissionScopes, !roles.isEmpty {
            await GraphPermissionMemory.shared.remember(.init(appRoles: roles, scopes: scopes), for: baseURL)
        }
        return principal
    }
}
