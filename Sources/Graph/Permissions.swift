import Foundation

/// The Graph permissions an app registration asks for, by name (`User.Read.All` as an application role,
/// `User.Read` as a delegated scope), resolved to ids.
public struct ResolvedPermissions: Sendable, Equatable {
    /// Application roles: name → id.
    public var roles: [String: String]
    /// Delegated scopes: name → id.
    public var scopes: [String: String]

    public init(roles: [String: String], scopes: [String: String]) {
        self.roles = roles
        self.scopes = scopes
    }

    /// `requiredResourceAccess` for Microsoft Graph, roles as `Role` and scopes as `Scope`.
    public var requiredResourceAccess: [RequiredResourceAccess] {
        let access =
            roles.sorted { $0.key < $1.key }.map { RequiredResourceAccess.Access(id: $0.value, type: "Role") }
            + scopes.sorted { $0.key < $1.key }.map { RequiredResourceAccess.Access(id: $0.value, type: "Scope") }
        return [RequiredResourceAccess(resourceAppId: KnownGraphPermissions.resourceAppID, resourceAccess: access)]
    }
}

public struct PermissionError: Error, Sendable, CustomStringConvertible, Equatable {
    public let description: String
}

extension GraphClient {
    /// Resolves `roles` and `scopes` by value against this tenant's Microsoft Graph service principal,
    /// and checks the ids against the cross-checked list. A name the tenant does not
    /// know — like the vendor page's `Domain.Read` or `UserReadWrite.All` — is an error that names it.
    public func resolvePermissions(roles: [String], scopes: [String]) async throws -> ResolvedPermissions {
        try await resolvePermissions(
            roles: roles, scopes: scopes, offeredBy: try await microsoftGraphServicePrincipal())
    }

    /// Resolves against `graph` (Microsoft Graph's service principal as read already); when its lists are the
    /// remembered ones and a name is not in them, against a fresh read — a permission Microsoft added since
    /// they were read.
    public func resolvePermissions(roles: [String], scopes: [String], offeredBy graph: GraphServicePrincipal)
        async throws -> ResolvedPermissions
    {
        do {
            return try Self.resolve(roles: roles, scopes: scopes, offeredBy: graph)
        } catch is PermissionError where graph.remembered {
            return try Self.resolve(
                roles: roles, scopes: scopes, offeredBy: try await microsoftGraphServicePrincipal(fresh: true))
        }
    }

    /// Resolves `roles` and `scopes` against what Microsoft Graph's service principal `graph` offers.
    public static func resolve(roles: [String], scopes: [String], offeredBy graph: GraphServicePrincipal) throws
        -> ResolvedPermissions
    {
        func byValue(_ roles: [GraphAppRole]?) -> [String: String] {
            Dictionary(
                (roles ?? []).compactMap { role in role.value.map { ($0, role.id) } },
                uniquingKeysWith: { first, _ in first })
        }
        return try resolve(
            roles: roles, scopes: scopes, availableRoles: byValue(graph.appRoles),
            availableScopes: byValue(graph.oauth2PermissionScopes))
    }

    /// Microsoft Graph's application roles by id → name, from `graph` (its service principal as read already);
    /// when its lists are the remembered ones and one of `assignments` to it has an id they lack, from a fresh
    /// read — a role Microsoft added since they were read. Returns the service principal the names came from.
    public func appRoleNames(
        naming assignments: [GraphAppRoleAssignment], offeredBy graph: GraphServicePrincipal,
        context: FailureContext = FailureContext()
    ) async throws -> (names: [String: String], graph: GraphServicePrincipal) {
        func names(_ graph: GraphServicePrincipal) -> [String: String] {
            Dictionary(
                (graph.appRoles ?? []).compactMap { role in role.value.map { (role.id, $0) } },
                uniquingKeysWith: { first, _ in first })
        }
        let known = names(graph)
        guard graph.remembered,
            assignments.contains(where: { $0.resourceId == graph.id && known[$0.appRoleId] == nil })
        else { return (known, graph) }
        let fresh = try await microsoftGraphServicePrincipal(context: context, fresh: true)
        return (names(fresh), fresh)
    }

    /// The pure part of `resolvePermissions`.
    public static func resolve(
        roles: [String], scopes: [String], availableRoles: [String: String], availableScopes: [String: String]
    ) throws -> ResolvedPermissions {
        var problems: [String] = []
        var resolved = ResolvedPermissions(roles: [:], scopes: [:])
        for name in roles {
            guard let id = availableRoles[name] else {
                let hint = availableScopes[name] != nil ? " (it is a delegated scope, not an application role)" : ""
                problems.append("Microsoft Graph has no application role \(name)\(hint)")
                continue
            }
            if let known = KnownGraphPermissions.appRoles[name], known != id.lowercased() {
                problems.append("the tenant gives \(name) the id \(id), not the published \(known)")
            }
            resolved.roles[name] = id.lowercased()
        }
        for name in scopes {
            guard let id = availableScopes[name] else {
                problems.append("Microsoft Graph has no delegated scope \(name)")
                continue
            }
            if let known = KnownGraphPermissions.scopes[name], known != id.lowercased() {
                problems.append("the tenant gives scope \(name) the id \(id), not the published \(known)")
            }
            resolved.scopes[name] = id.lowercased()
        }
        guard problems.isEmpty else { throw PermissionError(description: problems.joined(separator: "; ")) }
        return resolved
    }
}
