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
    /// names are resolved to ids, by value.
    public func microsoftGraphServicePrincipal(context: FailureContext = FailureContext()) async throws
        -> GraphServicePrincipal
    {
        try await send(
            GraphServicePrincipal.self, "GET", "/servicePrincipals(appId='\(KnownGraphPermissions.resourceAppID)')",
            query: [("$select", "id,appId,appRoles,oauth2PermissionScopes")], context: context)
    }
}
