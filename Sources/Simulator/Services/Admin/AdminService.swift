import Foundation

/// `/_sim/…`, the simulator's own controls: request statistics, the fault settings, a tenant's full
/// state (never a secret), which a test or an operator may also change as a customer's admin would, and
/// a PBX's Microsoft 365 page as its technician uses it (`/_sim/pbx/{pbx}/m365/…`).
struct AdminService: Sendable {
    let directory: DirectoryStore
    let pbx: PBXService
    let faults: FaultController
    let counter: RequestCounter

    typealias Call = ServiceCall<AdminService>

    private static let table = RouteTable<Call>([
        Route("GET", "/_sim/stats") { call in
            let body = call.service.counter.snapshot.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }
            return .json(200, "{" + body.joined(separator: ",") + "}")
        },
        Route("GET", "/_sim/faults") { call in faultsDocument(call.service.faults.faults) },
        Route("PUT", "/_sim/faults") { call in
            guard let document = try? JSONDecoder().decode(Faults.self, from: Data(call.request.body)) else {
                return .json(400, #"{"error":"the body is not a faults document"}"#)
            }
            call.service.faults.set(document)
            return faultsDocument(document)
        },
        Route("GET", "/_sim/tenants/{tenant}") { call in call.service.tenant(call["tenant"]) },
        Route("PATCH", "/_sim/tenants/{tenant}") { call in call.service.patchTenant(call) },
        // The technician at a PBX's Microsoft 365 page, and what the PBX holds.
        Route("GET", "/_sim/pbx/{pbx}") { call in
            call.service.onPBX(call) { service, pbx in .json(200, service.state(pbx).text) }
        },
        Route("POST", "/_sim/pbx/{pbx}/m365/keypair") { call in
            call.service.onPBX(call) { service, pbx in service.generateKeyPair(pbx) }
        },
        Route("GET", "/_sim/pbx/{pbx}/m365/certificate") { call in
            call.service.onPBX(call) { service, pbx in service.certificate(pbx) }
        },
        Route("PUT", "/_sim/pbx/{pbx}/m365/secret") { call in
            call.service.onPBX(call) { service, pbx in service.pasteSecret(pbx, call.request.body) }
        },
        Route("POST", "/_sim/pbx/{pbx}/m365/signin") { call in
            call.service.onPBX(call) { service, pbx in
                service.signIn(pbx, host: call.request.headers["host"] ?? "localhost")
            }
        },
    ])

    /// `action` on the PBX the path names, or 404.
    private func onPBX(_ call: Call, _ action: (PBXService, SimPBX) -> SimResponse) -> SimResponse {
        guard let pbx = directory.world.pbxes[call["pbx"]] else { return .json(404, #"{"error":"no such PBX"}"#) }
        return action(self.pbx, pbx)
    }

    func handle(_ request: SimRequest) -> SimResponse {
        guard case .found(let route, let parameters) = Self.table.resolve(request) else {
            return .json(404, #"{"error":"unknown simulator endpoint"}"#)
        }
        return route.handle(Call(service: self, request: request, parameters: parameters))
    }

    private static func faultsDocument(_ faults: Faults) -> SimResponse {
        .json(200, String(decoding: (try? JSONEncoder().encode(faults)) ?? Data(), as: UTF8.self))
    }

    private func tenant(_ key: String) -> SimResponse {
        guard let id = directory.withWorld({ $0.tenant(key)?.id }) else {
            return .json(404, #"{"error":"no such tenant"}"#)
        }
        let pbx = pbx.inspection(tenantID: id)
        return directory.withWorld { world in
            guard let tenant = world.tenant(key) else { return .json(404, #"{"error":"no such tenant"}"#) }
            return .json(200, inspection(tenant, world: world, pbx: pbx).text)
        }
    }

    /// What a customer's admin would fix: consent, subscriptions, the password-lifetime policy.
    ///   {"consent": "full", "sku": "E5", "max_password_lifetime_days": 365 | null, "forbid_passwords": false,
    ///    "entra_id_premium": true, "audit_log_consent": true}
    private func patchTenant(_ call: Call) -> SimResponse {
        guard let body = JSONValue.parse(call.request.body)?.object else {
            return .json(400, #"{"error":"the body is not a JSON object"}"#)
        }
        let applied: SimResponse? = directory.withWorld { world in
            guard let tenant = world.tenant(call["tenant"]) else { return .json(404, #"{"error":"no such tenant"}"#) }
            if let text = body["consent"]?.string {
                guard let consent = WorldDescription.Consent(rawValue: text) else {
                    return .json(400, #"{"error":"consent is full, partial or none"}"#)
                }
                // `partner`: another MSP's app than the tenant's own partner's (a customer consenting to two).
                var partner: SimPartner?
                if let msp = body["partner"]?.string {
                    guard let named = world.partner(msp: msp) else {
                        return .json(400, #"{"error":"partner is not one of the world's MSPs"}"#)
                    }
                    partner = named
                }
                world.setConsent(consent, in: tenant, partner: partner)
            }
            if let text = body["sku"]?.string {
                guard let sku = WorldDescription.Sku(rawValue: text) else {
                    return .json(400, #"{"error":"sku is E5, E3 or none"}"#)
                }
                tenant.skus = sku.catalogue
            }
            if case .bool(let forbid)? = body["forbid_passwords"] { tenant.forbidsPasswords = forbid }
            if case .bool(let premium)? = body["entra_id_premium"] { tenant.entraIDPremium = premium }
            if case .bool(let auditLog)? = body["audit_log_consent"] {
                tenant.partnerAuditLog = auditLog
                let consent: WorldDescription.Consent =
                    tenant.servicePrincipals[(world.partner(msp: tenant.partnerMSP) ?? world.partners[0]).app.appID].map
                {
                    $0.contains("Domain.ReadWrite.All") ? .full : .partial
                } ?? .none
                world.setConsent(consent, in: tenant)
            }
            if let days = body["max_password_lifetime_days"] {
                tenant.maxPasswordLifetimeDays = days.number.map { Int($0) }
            }
            return nil
        }
        return applied ?? tenant(call["tenant"])
    }

    /// Everything about a tenant a test or an operator may check: ids, key ids and thumbprints, never secrets.
    private func inspection(_ tenant: SimTenant, world: World, pbx: JSONValue) -> JSONValue {
        .object([
            "id": .string(tenant.id.uuidString.lowercased()), "defaultDomain": .string(tenant.defaultDomain),
            "applications": .array(
                tenant.applications.values.sorted { $0.createdDateTime < $1.createdDateTime }.map { app in
                    .object([
                        "id": .string(app.id.uuidString.lowercased()),
                        "appId": .string(app.appID.uuidString.lowercased()),
                        "displayName": .string(app.displayName), "uniqueName": app.properties["uniqueName"] ?? .null,
                        "signInAudience": app.properties["signInAudience"] ?? .null,
                        "redirectUris": app.properties["web"]?["redirectUris"] ?? .array([]),
                        "requiredResourceAccess": app.properties["requiredResourceAccess"] ?? .array([]),
                        "passwordKeyIds": .array(app.passwords.map { .string($0.keyID.uuidString.lowercased()) }),
                        "certificateThumbprints": .array(
                            app.keys.map { .string($0.sha1Thumbprint.map { String(format: "%02X", $0) }.joined()) }),
                    ])
                }),
            "servicePrincipals": .array(
                tenant.principals.values.sorted { $0.displayName < $1.displayName }.map { principal in
                    .object([
                        "id": .string(principal.id.uuidString.lowercased()),
                        "appId": .string(principal.appID.uuidString.lowercased()),
                        "displayName": .string(principal.displayName),
                    ])
                }),
            "appRoleAssignments": .array(
                tenant.appRoleAssignments.map { assignment in
                    .object([
                        "principalId": .string(assignment.principalID.uuidString.lowercased()),
                        "resourceId": .string(assignment.resourceID.uuidString.lowercased()),
                        "appRoleId": .string(assignment.appRoleID.uuidString.lowercased()),
                    ])
                }),
            "oauth2PermissionGrants": .array(tenant.permissionGrants.map(ServicePrincipalsService.grantRepresentation)),
            "pbx": pbx,
            "domains": .array(tenant.domains.values.sorted { $0.name < $1.name }.map(DirectoryService.domainJSON)),
            "users": .array(
                tenant.users.values.sorted { $0.userPrincipalName < $1.userPrincipalName }.map { user in
                    .object([
                        "userPrincipalName": .string(user.userPrincipalName),
                        "skuIds": .array(user.skuIDs.map { .string($0.uuidString.lowercased()) }),
                    ])
                }),
            // Deleted items (restorable for 30 days): object ids, and the unique names they hold.
            "deletedApplications": .array(
                tenant.deletedApplications.values.sorted { $0.deleted < $1.deleted }.map { entry in
                    .object([
                        "id": .string(entry.app.id.uuidString.lowercased()),
                        "appId": .string(entry.app.appID.uuidString.lowercased()),
                        "uniqueName": entry.app.properties["uniqueName"] ?? .null,
                    ])
                }),
            "deletedUsers": .array(
                tenant.deletedUsers.values.sorted { $0.deleted < $1.deleted }.map {
                    .string($0.user.userPrincipalName)
                }),
            "partnerAppRoles": .array(
                (tenant.servicePrincipals[(world.partner(msp: tenant.partnerMSP) ?? world.partners[0]).app.appID].map {
                    Array($0).sorted()
                } ?? []).map { .string($0) }),
            "partner": .string(tenant.partnerMSP),
            // Client-credentials tokens issued here, per app id: which partner app signed in.
            "tokensIssued": .object(
                Dictionary(
                    uniqueKeysWithValues: tenant.tokensIssued.map {
                        ($0.key.uuidString.lowercased(), .number(Double($0.value)))
                    })),
        ])
    }
}
