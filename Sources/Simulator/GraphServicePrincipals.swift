import Foundation
import Graph

/// Microsoft Graph v1.0: service principals, application-permission grants (`appRoleAssignedTo`) and
/// delegated grants (`oauth2PermissionGrants`). Called with the world locked.
extension Simulator {
    func servicePrincipals(
        _ request: SimRequest, segments: [String], caller: Caller, error: (Int, String, String) -> SimResponse,
        require: (Set<String>) -> SimResponse?
    ) -> SimResponse {
        let tenant = caller.tenant
        let readSP: Set<String> = ["Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All"]
        func notFound(_ id: String) -> SimResponse {
            error(
                404, "Request_ResourceNotFound",
                "Resource '\(id)' does not exist or one of its queried reference-property objects are not present.")
        }
        let first = segments[0]
        // servicePrincipals(appId='…')
        if first.hasPrefix("servicePrincipals(appId=") {
            if let denied = require(readSP) { return denied }
            let text = String(first.dropFirst("servicePrincipals(appId='".count).dropLast(2))
            guard let appID = UUID(uuidString: text), let principal = tenant.principal(appID: appID),
                isVisible(principal)
            else {
                return notFound(text)
            }
            return .json(200, representation(principal, in: tenant).text)
        }
        if segments.count == 1 {
            switch request.method {
            case "GET":
                if let denied = require(readSP) { return denied }
                var principals = tenant.principals.values.filter(isVisible).sorted { $0.displayName < $1.displayName }
                if let filter = request.query["$filter"] {
                    guard let match = filter.wholeMatch(of: /appId eq '([0-9a-fA-F-]+)'/) else {
                        return error(
                            400, "Request_UnsupportedQuery",
                            "Unsupported or invalid query filter clause specified for property '\(filter)' of resource 'ServicePrincipal'."
                        )
                    }
                    principals = principals.filter { $0.appID.uuidString.lowercased() == match.output.1.lowercased() }
                }
                return .json(
                    200, JSONValue.object(["value": .array(principals.map { representation($0, in: tenant) })]).text)
            case "POST":
                if let denied = require(["Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"]) {
                    return denied
                }
                guard let body = JSONValue.parse(request.body), let text = body["appId"]?.string else {
                    return error(400, "Request_BadRequest", "Required property 'appId' is missing.")
                }
                guard let appID = UUID(uuidString: text), let app = tenant.application(appID: appID),
                    visible(app.createdDateTime)
                else {
                    return error(
                        400, "Request_BadRequest",
                        "The appId '\(text)' of the service principal does not reference a valid application object.")
                }
                if tenant.principal(appID: appID) != nil {
                    return error(
                        409, "Request_MultipleObjectsWithSameKeyValue",
                        "Another object with the same value for property servicePrincipalNames already exists.")
                }
                let principal = SimServicePrincipal(id: UUID(), appID: appID, displayName: app.displayName)
                tenant.principals[principal.id] = principal
                return .json(201, representation(principal, in: tenant).text)
            default:
                return error(405, "Request_BadRequest", "Method not allowed.")
            }
        }
        guard let principalID = UUID(uuidString: segments[1]), let principal = tenant.principals[principalID],
            isVisible(principal)
        else {
            return notFound(segments[1])
        }
        if segments.count == 2, request.method == "GET" {
            if let denied = require(readSP) { return denied }
            return .json(200, representation(principal, in: tenant).text)
        }
        if segments.count == 3, segments[2] == "appRoleAssignments", request.method == "GET" {
            // The same grants seen from the client's side.
            if let denied = require(readSP) { return denied }
            let assignments = tenant.appRoleAssignments.filter { $0.principalID == principal.id }
            return .json(
                200,
                JSONValue.object(["value": .array(assignments.map { assignmentRepresentation($0, in: tenant) })]).text)
        }
        guard segments.count == 3, segments[2] == "appRoleAssignedTo" else {
            return error(
                400, "BadRequest", "Resource not found for the segment '\(segments.dropFirst(2).first ?? "")'.")
        }
        if request.method == "GET" {
            if let denied = require(readSP) { return denied }
            let assignments = tenant.appRoleAssignments.filter { $0.resourceID == principal.id }
            return .json(
                200,
                JSONValue.object(["value": .array(assignments.map { assignmentRepresentation($0, in: tenant) })]).text)
        }
        guard request.method == "POST" else { return error(405, "Request_BadRequest", "Method not allowed.") }
        if let denied = require(["AppRoleAssignment.ReadWrite.All"]) { return denied }
        guard let body = JSONValue.parse(request.body),
            let client = body["principalId"]?.string.flatMap(UUID.init(uuidString:)),
            let resource = body["resourceId"]?.string.flatMap(UUID.init(uuidString:)),
            let role = body["appRoleId"]?.string.flatMap(UUID.init(uuidString:))
        else { return error(400, "Request_BadRequest", "principalId, resourceId and appRoleId are required GUIDs.") }
        guard resource == principal.id else {
            return error(400, "Request_BadRequest", "resourceId must be the service principal the request addresses.")
        }
        guard let clientPrincipal = tenant.principals[client], isVisible(clientPrincipal) else {
            return error(400, "Request_BadRequest", "Not a valid reference update.")
        }
        guard
            principal.id != tenant.graphPrincipal.id
                || KnownGraphPermissions.appRoles.values.contains(role.uuidString.lowercased())
        else {
            return error(
                400, "Request_BadRequest",
                "Permission being assigned was not found on application '\(principal.appID.uuidString.lowercased())'.")
        }
        if tenant.appRoleAssignments.contains(where: {
            $0.principalID == client && $0.resourceID == resource && $0.appRoleID == role
        }) {
            return error(400, "Request_BadRequest", "Permission being assigned already exists on the object")
        }
        let assignment = SimAppRoleAssignment(
            id: UUID(), principalID: client, resourceID: resource, appRoleID: role, created: Date())
        tenant.appRoleAssignments.append(assignment)
        return .json(201, assignmentRepresentation(assignment, in: tenant).text)
    }

    func permissionGrants(
        _ request: SimRequest, caller: Caller, error: (Int, String, String) -> SimResponse,
        require: (Set<String>) -> SimResponse?
    ) -> SimResponse {
        let tenant = caller.tenant
        switch request.method {
        case "GET":
            if let denied = require(["DelegatedPermissionGrant.ReadWrite.All", "Directory.Read.All"]) { return denied }
            var grants = tenant.permissionGrants
            if let filter = request.query["$filter"] {
                guard let match = filter.wholeMatch(of: /clientId eq '([0-9a-fA-F-]+)'/) else {
                    return error(
                        400, "Request_UnsupportedQuery",
                        "Unsupported or invalid query filter clause specified for property '\(filter)' of resource 'OAuth2PermissionGrant'."
                    )
                }
                grants = grants.filter { $0.clientID.uuidString.lowercased() == match.output.1.lowercased() }
            }
            return .json(200, JSONValue.object(["value": .array(grants.map(grantRepresentation))]).text)
        case "POST":
            if let denied = require(["DelegatedPermissionGrant.ReadWrite.All"]) { return denied }
            guard let body = JSONValue.parse(request.body),
                let client = body["clientId"]?.string.flatMap(UUID.init(uuidString:)),
                let resource = body["resourceId"]?.string.flatMap(UUID.init(uuidString:)),
                let consentType = body["consentType"]?.string, let scope = body["scope"]?.string
            else {
                return error(400, "Request_BadRequest", "clientId, resourceId, consentType and scope are required.")
            }
            guard consentType == "AllPrincipals" || consentType == "Principal" else {
                return error(
                    400, "Request_BadRequest",
                    "Invalid value specified for property 'consentType' of resource 'OAuth2PermissionGrant'.")
            }
            guard let clientPrincipal = tenant.principals[client], isVisible(clientPrincipal),
                tenant.principals[resource] != nil
            else {
                return error(400, "Request_BadRequest", "Not a valid reference update.")
            }
            for value in scope.split(separator: " ")
            where resource == tenant.graphPrincipal.id && KnownGraphPermissions.scopes[String(value)] == nil {
                return error(
                    400, "Request_BadRequest",
                    "Invalid value specified for property 'scope' of resource 'OAuth2PermissionGrant': '\(value)' is not a delegated permission of Microsoft Graph."
                )
            }
            if tenant.permissionGrants.contains(where: {
                $0.clientID == client && $0.resourceID == resource && $0.consentType == consentType
            }) {
                return error(409, "Request_MultipleObjectsWithSameKeyValue", "Permission entry already exists.")
            }
            let grant = SimPermissionGrant(
                id: Base64URLID.make(), clientID: client, resourceID: resource, consentType: consentType, scope: scope)
            tenant.permissionGrants.append(grant)
            return .json(201, grantRepresentation(grant).text)
        default:
            return error(405, "Request_BadRequest", "Method not allowed.")
        }
    }

    /// Service principals are subject to replication lag, except the ones every tenant always had.
    func isVisible(_ principal: SimServicePrincipal) -> Bool {
        principal.appID.uuidString.lowercased() == KnownGraphPermissions.resourceAppID || visible(principal.created)
    }

    func representation(_ principal: SimServicePrincipal, in tenant: SimTenant) -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(principal.id.uuidString.lowercased()),
            "appId": .string(principal.appID.uuidString.lowercased()),
            "displayName": .string(principal.displayName), "servicePrincipalType": .string("Application"),
            "appRoles": .array([]), "oauth2PermissionScopes": .array([]),
        ]
        if principal.id == tenant.graphPrincipal.id {
            object["appRoles"] = .array(
                KnownGraphPermissions.appRoles.sorted { $0.key < $1.key }.map { name, id in
                    .object([
                        "id": .string(id), "value": .string(name),
                        "allowedMemberTypes": .array([.string("Application")]),
                        "isEnabled": .bool(true), "displayName": .string(name),
                    ])
                })
            object["oauth2PermissionScopes"] = .array(
                KnownGraphPermissions.scopes.sorted { $0.key < $1.key }.map { name, id in
                    .object([
                        "id": .string(id), "value": .string(name), "type": .string("User"), "isEnabled": .bool(true),
                    ])
                })
        }
        return .object(object)
    }

    func assignmentRepresentation(_ assignment: SimAppRoleAssignment, in tenant: SimTenant) -> JSONValue {
        .object([
            "id": .string(Base64URLID.make()), "principalId": .string(assignment.principalID.uuidString.lowercased()),
            "resourceId": .string(assignment.resourceID.uuidString.lowercased()),
            "appRoleId": .string(assignment.appRoleID.uuidString.lowercased()),
            "principalType": .string("ServicePrincipal"),
            "principalDisplayName": .string(tenant.principals[assignment.principalID]?.displayName ?? ""),
            "resourceDisplayName": .string(tenant.principals[assignment.resourceID]?.displayName ?? ""),
            "createdDateTime": .string(Simulator.iso8601.string(from: assignment.created)),
        ])
    }

    func grantRepresentation(_ grant: SimPermissionGrant) -> JSONValue {
        .object([
            "id": .string(grant.id), "clientId": .string(grant.clientID.uuidString.lowercased()),
            "resourceId": .string(grant.resourceID.uuidString.lowercased()), "consentType": .string(grant.consentType),
            "principalId": .null, "scope": .string(grant.scope),
        ])
    }
}

/// Graph's grant and assignment ids are base64url strings, not GUIDs.
enum Base64URLID {
    static func make() -> String {
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<33).map { _ in UInt8.random(in: 0...255, using: &random) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(
            of: "/", with: "_")
    }
}
