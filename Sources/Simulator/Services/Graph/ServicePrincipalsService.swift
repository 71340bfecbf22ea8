import Crypto
import Foundation

/// Microsoft Graph v1.0: service principals, application-permission grants (`appRoleAssignedTo`) and
/// delegated grants (`oauth2PermissionGrants`) — consent. Microsoft Graph's own service principal lists every
/// app role and delegated scope of the vendored permission catalogue, and a grant must name one of them.
struct ServicePrincipalsService: Sendable {
    let faults: FaultController

    static let readSP: Set<String> = ["Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All"]

    var routes: [Route<GraphCall>] {
        [
            Route("GET", "/v1.0/servicePrincipals(appId='{appId}')") { call in
                if let denied = call.require(Self.readSP) { return denied }
                let text = call["appId"]
                guard let appID = UUID(uuidString: text), let principal = call.tenant.principal(appID: appID),
                    isVisible(principal)
                else { return call.notFound(text) }
                return call.entity(200, Self.representation(principal, in: call.tenant), set: "servicePrincipals")
            },
            Route("GET", "/v1.0/servicePrincipals") { call in listPrincipals(call) },
            Route("POST", "/v1.0/servicePrincipals") { call in createPrincipal(call) },
            Route("GET", "/v1.0/servicePrincipals/{id}") { call in
                principal(call) { principal in
                    if let denied = call.require(Self.readSP) { return denied }
                    return call.entity(200, Self.representation(principal, in: call.tenant), set: "servicePrincipals")
                }
            },
            Route("GET", "/v1.0/servicePrincipals/{id}/appRoleAssignments") { call in
                // The same grants seen from the client's side.
                principal(call) { principal in
                    if let denied = call.require(Self.readSP) { return denied }
                    return assignments(call, "appRoleAssignments") { $0.principalID == principal.id }
                }
            },
            Route("GET", "/v1.0/servicePrincipals/{id}/appRoleAssignedTo") { call in
                principal(call) { principal in
                    if let denied = call.require(Self.readSP) { return denied }
                    return assignments(call, "appRoleAssignedTo") { $0.resourceID == principal.id }
                }
            },
            Route("POST", "/v1.0/servicePrincipals/{id}/appRoleAssignedTo") { call in
                principal(call) { principal in assign(principal, call) }
            },
            // Revoking an application permission, from the resource's side (what the Entra admin center's
            // "Revoke admin consent" and Remove-MgServicePrincipalAppRoleAssignedTo send) or the client's.
            Route("DELETE", "/v1.0/servicePrincipals/{id}/appRoleAssignedTo/{assignment}") { call in
                principal(call) { principal in unassign(call) { $0.resourceID == principal.id } }
            },
            Route("DELETE", "/v1.0/servicePrincipals/{id}/appRoleAssignments/{assignment}") { call in
                principal(call) { principal in unassign(call) { $0.principalID == principal.id } }
            },
            Route("GET", "/v1.0/oauth2PermissionGrants") { call in listGrants(call) },
            Route("POST", "/v1.0/oauth2PermissionGrants") { call in createGrant(call) },
            Route("PATCH", "/v1.0/oauth2PermissionGrants/{id}") { call in updateGrant(call) },
        ]
    }

    /// `/servicePrincipals/{id}/…`: 404 for one not there (yet), else `body`.
    private func principal(_ call: GraphCall, _ body: (SimServicePrincipal) -> SimResponse) -> SimResponse {
        guard let principalID = UUID(uuidString: call["id"]), let principal = call.tenant.principals[principalID],
            isVisible(principal)
        else { return call.notFound(call["id"]) }
        return body(principal)
    }

    private func assignments(
        _ call: GraphCall, _ navigation: String, _ filter: (SimAppRoleAssignment) -> Bool
    ) -> SimResponse {
        let tenant = call.tenant
        let value = tenant.appRoleAssignments.filter(filter).map { Self.assignmentRepresentation($0, in: tenant) }
        return call.collection(value, path: "servicePrincipals('\(call["id"])')/\(navigation)")
    }

    private func listPrincipals(_ call: GraphCall) -> SimResponse {
        if let denied = call.require(Self.readSP) { return denied }
        let tenant = call.tenant
        var principals = tenant.principals.values.filter(isVisible).sorted { $0.displayName < $1.displayName }
        if let filter = call.request.query["$filter"] {
            guard let appID = IDEqualityFilter.value(of: "appId", in: filter) else {
                return call.error(
                    400, "Request_UnsupportedQuery",
                    "Unsupported or invalid query filter clause specified for property '\(filter)' of resource 'ServicePrincipal'."
                )
            }
            principals = principals.filter { $0.appID.uuidString.lowercased() == appID.lowercased() }
        }
        return call.collection(principals.map { Self.representation($0, in: tenant) }, path: "servicePrincipals")
    }

    private func createPrincipal(_ call: GraphCall) -> SimResponse {
        if let denied = call.require(["Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"]) {
            return denied
        }
        let tenant = call.tenant
        guard let body = JSONValue.parse(call.request.body), let text = body["appId"]?.string else {
            return call.error(400, "Request_BadRequest", "Required property 'appId' is missing.")
        }
        guard let appID = UUID(uuidString: text), let app = tenant.application(appID: appID),
            faults.visible(app.createdDateTime)
        else {
            return call.error(
                400, "Request_BadRequest",
                "The appId '\(text)' of the service principal does not reference a valid application object.")
        }
        if tenant.principal(appID: appID) != nil {
            return call.error(
                409, "Request_MultipleObjectsWithSameKeyValue",
                "Another object with the same value for property servicePrincipalNames already exists.")
        }
        let principal = SimServicePrincipal(id: UUID(), appID: appID, displayName: app.displayName)
        tenant.principals[principal.id] = principal
        return call.entity(201, Self.representation(principal, in: tenant), set: "servicePrincipals")
    }

    /// `POST /servicePrincipals/{id}/appRoleAssignedTo`: grant an application permission of `principal`.
    private func assign(_ principal: SimServicePrincipal, _ call: GraphCall) -> SimResponse {
        let tenant = call.tenant
        if let denied = call.require(["AppRoleAssignment.ReadWrite.All"]) { return denied }
        guard let body = JSONValue.parse(call.request.body),
            let client = body["principalId"]?.string.flatMap(UUID.init(uuidString:)),
            let resource = body["resourceId"]?.string.flatMap(UUID.init(uuidString:)),
            let role = body["appRoleId"]?.string.flatMap(UUID.init(uuidString:))
        else {
            return call.error(400, "Request_BadRequest", "principalId, resourceId and appRoleId are required GUIDs.")
        }
        guard resource == principal.id else {
            return call.error(
                400, "Request_BadRequest", "resourceId must be the service principal the request addresses.")
        }
        guard let clientPrincipal = tenant.principals[client], isVisible(clientPrincipal) else {
            return call.error(400, "Request_BadRequest", "Not a valid reference update.")
        }
        guard
            principal.id != tenant.graphPrincipal.id || GraphPermissionCatalogue.microsoftGraph.appRole(id: role) != nil
        else {
            return call.error(
                400, "Request_BadRequest",
                "Permission being assigned was not found on application '\(principal.appID.uuidString.lowercased())'.")
        }
        if tenant.appRoleAssignments.contains(where: {
            $0.principalID == client && $0.resourceID == resource && $0.appRoleID == role
        }) {
            return call.error(400, "Request_BadRequest", "Permission being assigned already exists on the object")
        }
        let assignment = SimAppRoleAssignment(
            id: UUID(), principalID: client, resourceID: resource, appRoleID: role, created: Date())
        tenant.appRoleAssignments.append(assignment)
        return call.entity(
            201, Self.assignmentRepresentation(assignment, in: tenant),
            set: "servicePrincipals('\(principal.id.uuidString.lowercased())')/appRoleAssignedTo")
    }

    /// `DELETE …/appRoleAssignedTo/{id}` (or `…/appRoleAssignments/{id}`): 204 with no body; 404 for an id
    /// that is not one of the addressed principal's assignments (`belongs`).
    private func unassign(_ call: GraphCall, belongs: (SimAppRoleAssignment) -> Bool) -> SimResponse {
        if let denied = call.require(["AppRoleAssignment.ReadWrite.All"]) { return denied }
        let tenant = call.tenant
        guard
            let index = tenant.appRoleAssignments.firstIndex(where: {
                belongs($0) && Self.assignmentID($0) == call["assignment"]
            })
        else { return call.notFound(call["assignment"]) }
        tenant.appRoleAssignments.remove(at: index)
        return SimResponse(status: 204)
    }

    private func listGrants(_ call: GraphCall) -> SimResponse {
        if let denied = call.require(["DelegatedPermissionGrant.ReadWrite.All", "Directory.Read.All"]) {
            return denied
        }
        let tenant = call.tenant
        var grants = tenant.permissionGrants
        if let filter = call.request.query["$filter"] {
            guard let clientID = IDEqualityFilter.value(of: "clientId", in: filter) else {
                return call.error(
                    400, "Request_UnsupportedQuery",
                    "Unsupported or invalid query filter clause specified for property '\(filter)' of resource 'OAuth2PermissionGrant'."
                )
            }
            grants = grants.filter { $0.clientID.uuidString.lowercased() == clientID.lowercased() }
        }
        return call.collection(grants.map(Self.grantRepresentation), path: "oauth2PermissionGrants")
    }

    private func createGrant(_ call: GraphCall) -> SimResponse {
        if let denied = call.require(["DelegatedPermissionGrant.ReadWrite.All"]) { return denied }
        let tenant = call.tenant
        guard let body = JSONValue.parse(call.request.body),
            let client = body["clientId"]?.string.flatMap(UUID.init(uuidString:)),
            let resource = body["resourceId"]?.string.flatMap(UUID.init(uuidString:)),
            let consentType = body["consentType"]?.string, let scope = body["scope"]?.string
        else {
            return call.error(400, "Request_BadRequest", "clientId, resourceId, consentType and scope are required.")
        }
        guard consentType == "AllPrincipals" || consentType == "Principal" else {
            return call.error(
                400, "Request_BadRequest",
                "Invalid value specified for property 'consentType' of resource 'OAuth2PermissionGrant'.")
        }
        guard let clientPrincipal = tenant.principals[client], isVisible(clientPrincipal),
            tenant.principals[resource] != nil
        else {
            return call.error(400, "Request_BadRequest", "Not a valid reference update.")
        }
        if let problem = Self.unknownScope(scope, resource: resource, in: tenant) {
            return call.error(400, "Request_BadRequest", problem)
        }
        if tenant.permissionGrants.contains(where: {
            $0.clientID == client && $0.resourceID == resource && $0.consentType == consentType
        }) {
            return call.error(409, "Request_MultipleObjectsWithSameKeyValue", "Permission entry already exists.")
        }
        let grant = SimPermissionGrant(
            id: Base64URLID.make(), clientID: client, resourceID: resource, consentType: consentType, scope: scope)
        tenant.permissionGrants.append(grant)
        return call.entity(201, Self.grantRepresentation(grant), set: "oauth2PermissionGrants")
    }

    /// `PATCH /oauth2PermissionGrants/{id}`: the one property an update may change is `scope` (it replaces the
    /// granted scopes); 204 with no body, as Graph answers.
    private func updateGrant(_ call: GraphCall) -> SimResponse {
        if let denied = call.require(["DelegatedPermissionGrant.ReadWrite.All"]) { return denied }
        let tenant = call.tenant
        guard let index = tenant.permissionGrants.firstIndex(where: { $0.id == call["id"] }) else {
            return call.notFound(call["id"])
        }
        guard let body = call.jsonObject else { return call.unreadableBody }
        for key in body.keys.sorted() where key != "scope" && !ODataAnnotation.isAnnotation(key) {
            return call.error(
                400, "Request_BadRequest", "Property '\(key)' is read-only and cannot be set.")
        }
        guard let scope = body["scope"]?.string else { return SimResponse(status: 204) }
        if let problem = Self.unknownScope(scope, resource: tenant.permissionGrants[index].resourceID, in: tenant) {
            return call.error(400, "Request_BadRequest", problem)
        }
        tenant.permissionGrants[index].scope = scope
        return SimResponse(status: 204)
    }

    /// Graph's message for the first scope of `scope` that Microsoft Graph does not offer as a delegated
    /// permission (only Graph's own scopes are known here), or nil.
    static func unknownScope(_ scope: String, resource: UUID, in tenant: SimTenant) -> String? {
        guard resource == tenant.graphPrincipal.id else { return nil }
        for value in scope.split(separator: " ")
        where GraphPermissionCatalogue.microsoftGraph.scope(named: String(value)) == nil {
            return
                "Invalid value specified for property 'scope' of resource 'OAuth2PermissionGrant': '\(value)' is not a delegated permission of Microsoft Graph."
        }
        return nil
    }

    /// Service principals are subject to replication lag, except the ones every tenant always had.
    func isVisible(_ principal: SimServicePrincipal) -> Bool {
        principal.appID.uuidString.lowercased() == GraphPermissionCatalogue.resourceAppID
            || faults.visible(principal.created)
    }

    /// Microsoft Graph's `appRoles` and `oauth2PermissionScopes`, built once: every Graph service principal
    /// lists the same ones.
    static let graphAppRoles = JSONValue.array(
        GraphPermissionCatalogue.microsoftGraph.appRoles.map { role in
            .object([
                "id": .string(role.id), "value": .string(role.value), "displayName": .string(role.displayName),
                "allowedMemberTypes": .array([.string(role.type)]), "isEnabled": .bool(role.isEnabled),
            ])
        })
    static let graphScopes = JSONValue.array(
        GraphPermissionCatalogue.microsoftGraph.scopes.map { scope in
            .object([
                "id": .string(scope.id), "value": .string(scope.value), "type": .string(scope.type),
                "isEnabled": .bool(scope.isEnabled), "adminConsentDisplayName": .string(scope.displayName),
            ])
        })

    static func representation(_ principal: SimServicePrincipal, in tenant: SimTenant) -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(principal.id.uuidString.lowercased()),
            "appId": .string(principal.appID.uuidString.lowercased()),
            "displayName": .string(principal.displayName), "servicePrincipalType": .string("Application"),
            "appRoles": .array([]), "oauth2PermissionScopes": .array([]),
        ]
        if principal.id == tenant.graphPrincipal.id {
            object["appRoles"] = Self.graphAppRoles
            object["oauth2PermissionScopes"] = Self.graphScopes
        }
        return .object(object)
    }

    static func assignmentRepresentation(_ assignment: SimAppRoleAssignment, in tenant: SimTenant) -> JSONValue {
        .object([
            "id": .string(Self.assignmentID(assignment)),
            "principalId": .string(assignment.principalID.uuidString.lowercased()),
            "resourceId": .string(assignment.resourceID.uuidString.lowercased()),
            "appRoleId": .string(assignment.appRoleID.uuidString.lowercased()),
            "principalType": .string("ServicePrincipal"),
            "principalDisplayName": .string(tenant.principals[assignment.principalID]?.displayName ?? ""),
            "resourceDisplayName": .string(tenant.principals[assignment.resourceID]?.displayName ?? ""),
            "createdDateTime": .string(Timestamp.string(assignment.created)),
        ])
    }

    /// An assignment's id, the same in every answer (a DELETE names it): Graph's are 43 base64url characters,
    /// 32 bytes — here the client principal's object id and the assignment's own.
    static func assignmentID(_ assignment: SimAppRoleAssignment) -> String {
        var bytes: [UInt8] = []
        for id in [assignment.principalID, assignment.id] { withUnsafeBytes(of: id.uuid) { bytes += $0 } }
        return Base64URL.encode(bytes)
    }

    static func grantRepresentation(_ grant: SimPermissionGrant) -> JSONValue {
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
        return Base64URL.encode(bytes)
    }
}
