import Foundation

/// Microsoft Graph v1.0 for the Teams and Microsoft 365 paths: the organization, domains (verified by a DNS
/// TXT record the DNS service publishes), users, licences, subscribed SKUs, and the tenant's app-management
/// policy.
struct DirectoryService: Sendable {
    let dns: DNSService

    static let readDomains: Set<String> = ["Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All"]
    static let readUsers: Set<String> = ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All"]

    var routes: [Route<GraphCall>] {
        [
            Route("GET", "/v1.0/organization") { call in
                if let denied = call.require([
                    "Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All",
                ]) {
                    return denied
                }
                let tenant = call.tenant
                return call.collection(
                    [
                        .object([
                            "id": .string(tenant.id.uuidString.lowercased()),
                            "displayName": .string(tenant.displayName),
                            "verifiedDomains": .array([
                                .object([
                                    "name": .string(tenant.defaultDomain), "isDefault": .bool(true),
                                    "isInitial": .bool(true),
                                ])
                            ]),
                        ])
                    ], path: "organization")
            },
            Route("GET", "/v1.0/domains") { call in
                if let denied = call.require(Self.readDomains) { return denied }
                let tenant = call.tenant
                return call.collection(
                    tenant.domains.values.sorted { $0.name < $1.name }.map(Self.domainJSON), path: "domains")
            },
            Route("POST", "/v1.0/domains") { call in createDomain(call) },
            Route("GET", "/v1.0/domains/{name}") { call in
                domain(call) { domain in
                    if let denied = call.require(Self.readDomains) { return denied }
                    return call.entity(200, Self.domainJSON(domain), set: "domains")
                }
            },
            Route("GET", "/v1.0/domains/{name}/verificationDnsRecords") { call in
                domain(call) { domain in
                    if let denied = call.require(["Domain.Read.All", "Domain.ReadWrite.All"]) { return denied }
                    let name = domain.name
                    let record = JSONValue.object([
                        "@odata.type": .string("#microsoft.graph.domainDnsTxtRecord"),
                        "id": .string("aceff52c-06a5-447f-ac5f-256ad243cc5c"),
                        "isOptional": .bool(false), "label": .string(name), "recordType": .string("Txt"),
                        "supportedService": .string("Email"), "ttl": .number(3600),
                        "text": .string(domain.verificationCode),
                    ])
                    return call.collection(
                        domain.isVerified ? [] : [record], path: "domains('\(name)')/verificationDnsRecords")
                }
            },
            Route("POST", "/v1.0/domains/{name}/verify") { call in
                domain(call) { domain in
                    if let denied = call.require(["Domain.ReadWrite.All"]) { return denied }
                    let name = domain.name
                    let tenant = call.tenant
                    guard !domain.isVerified else {
                        return call.value(200, Self.domainJSON(domain).object ?? [:], type: "microsoft.graph.domain")
                    }
                    guard dns.txtRecords(name).contains(domain.verificationCode) else {
                        return call.error(
                            400, "Request_BadRequest",
                            "Domain verification failed: the TXT record \(domain.verificationCode) was not found in the DNS of \(name)."
                        )
                    }
                    tenant.domains[name]?.isVerified = true
                    return call.value(
                        200, Self.domainJSON(tenant.domains[name]!).object ?? [:], type: "microsoft.graph.domain")
                }
            },
            Route("GET", "/v1.0/users") { call in
                if let denied = call.require(Self.readUsers) { return denied }
                let tenant = call.tenant
                var users = tenant.users.values.sorted { $0.userPrincipalName < $1.userPrincipalName }
                if let filter = call.request.query["$filter"] {
                    guard let match = filter.wholeMatch(of: /userPrincipalName eq '((?:[^']|'')*)'/) else {
                        return call.error(
                            400, "Request_UnsupportedQuery",
                            "Unsupported or invalid query filter clause specified for property '\(filter)' of resource 'User'."
                        )
                    }
                    let upn = String(match.output.1).replacingOccurrences(of: "''", with: "'").lowercased()
                    users = users.filter { $0.userPrincipalName.lowercased() == upn }
                }
                return call.page(users.map(Self.userJSON), collection: "users")
            },
            Route("POST", "/v1.0/users") { call in createUser(call) },
            Route("GET", "/v1.0/users/{id}") { call in
                user(call) { user in
                    if let denied = call.require(Self.readUsers) { return denied }
                    return call.entity(200, Self.userJSON(user), set: "users")
                }
            },
            Route("PATCH", "/v1.0/users/{id}") { call in
                user(call) { user in
                    if let denied = call.require(["User.ReadWrite.All"]) { return denied }
                    let body = JSONValue.parse(call.request.body)
                    if let upn = body?["userPrincipalName"]?.string,
                        upn.lowercased() != user.userPrincipalName.lowercased()
                    {
                        if let refused = Self.refusal(ofUserPrincipalName: upn, call) { return refused }
                        user.userPrincipalName = upn
                    }
                    if let location = body?["usageLocation"]?.string {
                        user.usageLocation = location
                    }
                    return SimResponse(status: 204)
                }
            },
            Route("POST", "/v1.0/users/{id}/assignLicense") { call in
                user(call) { user in
                    if let denied = call.require([
                        "User.ReadWrite.All", "LicenseAssignment.ReadWrite.All", "Directory.ReadWrite.All",
                    ]) {
                        return denied
                    }
                    let tenant = call.tenant
                    guard user.usageLocation != nil else {
                        return call.error(
                            400, "Request_BadRequest",
                            "License assignment cannot be done for user with invalid usage location.")
                    }
                    let body = JSONValue.parse(call.request.body)
                    for add in body?["addLicenses"]?.array ?? [] {
                        guard let skuID = add["skuId"]?.string.flatMap(UUID.init(uuidString:)),
                            let sku = tenant.skus.first(where: { $0.id == skuID })
                        else {
                            return call.error(
                                400, "Request_BadRequest",
                                "License \(add["skuId"]?.string ?? "") does not correspond to a valid company License.")
                        }
                        let used = tenant.users.values.filter { $0.skuIDs.contains(skuID) }.count
                        guard user.skuIDs.contains(skuID) || used < sku.enabledUnits else {
                            return call.error(
                                400, "Request_BadRequest",
                                "License assignment failed because of insufficient licenses for \(sku.partNumber).")
                        }
                        if !user.skuIDs.contains(skuID) { user.skuIDs.append(skuID) }
                    }
                    for remove in body?["removeLicenses"]?.array ?? [] {
                        if let skuID = remove.string.flatMap(UUID.init(uuidString:)) {
                            user.skuIDs.removeAll { $0 == skuID }
                        }
                    }
                    return call.value(200, Self.userJSON(user).object ?? [:], type: "microsoft.graph.user")
                }
            },
            Route("GET", "/v1.0/users/{id}/licenseDetails") { call in
                user(call) { user in
                    if let denied = call.require(Self.readUsers) { return denied }
                    let tenant = call.tenant
                    let details = user.skuIDs.compactMap { id in tenant.skus.first { $0.id == id } }.map(Self.skuJSON)
                    return call.collection(details, path: "users('\(call["id"])')/licenseDetails")
                }
            },
            Route("GET", "/v1.0/subscribedSkus") { call in
                if let denied = call.require([
                    "Organization.Read.All", "Directory.Read.All", "LicenseAssignment.Read.All",
                ]) {
                    return denied
                }
                let tenant = call.tenant
                return call.collection(
                    tenant.skus.map { sku in
                        var object = Self.skuJSON(sku).object ?? [:]
                        object["capabilityStatus"] = .string("Enabled")
                        object["consumedUnits"] = .number(
                            Double(tenant.users.values.filter { $0.skuIDs.contains(sku.id) }.count))
                        object["prepaidUnits"] = .object([
                            "enabled": .number(Double(sku.enabledUnits)), "suspended": .number(0),
                            "warning": .number(0),
                        ])
                        return .object(object)
                    }, path: "subscribedSkus")
            },
            Route("GET", "/v1.0/policies/defaultAppManagementPolicy") { call in
                // Real Graph wants Policy.Read.All here, which the partner app's role set does not include.
                if let denied = call.require(["Policy.Read.All", "Policy.Read.ApplicationConfiguration"]) {
                    return denied
                }
                let tenant = call.tenant
                var restrictions: [JSONValue] = []
                if tenant.forbidsPasswords {
                    restrictions.append(
                        .object([
                            "restrictionType": .string("passwordAddition"), "maxLifetime": .null,
                            "restrictForAppsCreatedAfterDateTime": .string("2020-01-01T00:00:00Z"),
                        ]))
                }
                if let days = tenant.maxPasswordLifetimeDays {
                    restrictions.append(
                        .object([
                            "restrictionType": .string("passwordLifetime"), "maxLifetime": .string("P\(days)D"),
                            "restrictForAppsCreatedAfterDateTime": .string("2020-01-01T00:00:00Z"),
                        ]))
                }
                return call.entity(
                    200,
                    .object([
                        "id": .string(tenant.id.uuidString.lowercased()),
                        "isEnabled": .bool(tenant.maxPasswordLifetimeDays != nil || tenant.forbidsPasswords),
                        "displayName": .string("Default app management tenant policy"),
                        "applicationRestrictions": .object([
                            "passwordCredentials": .array(restrictions), "keyCredentials": .array([]),
                        ]),
                    ]), set: "policies/defaultAppManagementPolicy")
            },
        ]
    }

    /// `/domains/{name}/…`: 404 for a domain the tenant does not have, else `body`.
    private func domain(_ call: GraphCall, _ body: (SimDomain) -> SimResponse) -> SimResponse {
        let name = call["name"].lowercased()
        guard let domain = call.tenant.domains[name] else { return call.notFound(name) }
        return body(domain)
    }

    /// `/users/{id or userPrincipalName}/…`: 404 for a user not there, else `body`.
    private func user(_ call: GraphCall, _ body: (SimUser) -> SimResponse) -> SimResponse {
        guard let user = call.tenant.user(call["id"]) else { return call.notFound(call["id"]) }
        return body(user)
    }

    private func createDomain(_ call: GraphCall) -> SimResponse {
        if let denied = call.require(["Domain.ReadWrite.All"]) { return denied }
        let tenant = call.tenant
        guard let body = JSONValue.parse(call.request.body)?.object, let name = body["id"]?.string?.lowercased() else {
            return call.error(400, "Request_BadRequest", "Required property 'id' is missing.")
        }
        for key in body.keys where key != "id" && !ODataAnnotation.isAnnotation(key) {
            return call.error(400, "Request_BadRequest", "Property '\(key)' is read-only and cannot be set.")
        }
        guard name.wholeMatch(of: /([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}/) != nil else {
            return call.error(400, "Request_BadRequest", "Invalid domain name.")
        }
        guard tenant.domains[name] == nil else {
            return call.error(400, "Request_BadRequest", "Domain already exists.")
        }
        var random = SystemRandomNumberGenerator()
        let code = "MS=ms\(UInt32.random(in: 10_000_000...99_999_999, using: &random))"
        let domain = SimDomain(
            name: name, isVerified: false, isDefault: false, isInitial: false, verificationCode: code)
        tenant.domains[name] = domain
        return call.entity(201, Self.domainJSON(domain), set: "domains")
    }

    /// Entra's answer to a user name (a new user's, or a rename's) that is not on a verified domain of the
    /// tenant, or that someone else has; nil when it may be taken.
    static func refusal(ofUserPrincipalName upn: String, _ call: GraphCall) -> SimResponse? {
        let domain = upn.split(separator: "@").last.map { String($0).lowercased() } ?? ""
        guard upn.contains("@"), call.tenant.domains[domain]?.isVerified == true else {
            return call.error(
                400, "Request_BadRequest",
                "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization."
            )
        }
        guard call.tenant.user(upn) == nil else {
            return call.error(
                400, "Request_BadRequest",
                "Another object with the same value for property userPrincipalName already exists.")
        }
        return nil
    }

    private func createUser(_ call: GraphCall) -> SimResponse {
        if let denied = call.require(["User.ReadWrite.All", "Directory.ReadWrite.All"]) { return denied }
        let tenant = call.tenant
        guard let body = JSONValue.parse(call.request.body)?.object else {
            return call.error(400, "BadRequest", "Unable to read JSON request payload.")
        }
        for required in ["accountEnabled", "displayName", "mailNickname", "passwordProfile", "userPrincipalName"]
        where body[required] == nil {
            return call.error(400, "Request_BadRequest", "Property '\(required)' is required when creating the entity.")
        }
        let upn = body["userPrincipalName"]?.string ?? ""
        if let refused = Self.refusal(ofUserPrincipalName: upn, call) { return refused }
        let user = SimUser(
            id: UUID(), userPrincipalName: upn, displayName: body["displayName"]?.string ?? "",
            usageLocation: body["usageLocation"]?.string, accountEnabled: body["accountEnabled"] == .bool(true))
        tenant.users[user.id] = user
        return call.entity(201, Self.userJSON(user), set: "users")
    }

    static func domainJSON(_ domain: SimDomain) -> JSONValue {
        .object([
            "id": .string(domain.name), "isVerified": .bool(domain.isVerified), "isDefault": .bool(domain.isDefault),
            "isInitial": .bool(domain.isInitial), "authenticationType": .string("Managed"), "isRoot": .bool(true),
            "supportedServices": .array(
                domain.isVerified ? [.string("Email"), .string("OfficeCommunicationsOnline")] : []),
        ])
    }

    static func userJSON(_ user: SimUser) -> JSONValue {
        .object([
            "id": .string(user.id.uuidString.lowercased()), "userPrincipalName": .string(user.userPrincipalName),
            "displayName": .string(user.displayName), "accountEnabled": .bool(user.accountEnabled),
            "usageLocation": user.usageLocation.map { .string($0) } ?? .null,
            "assignedLicenses": .array(
                user.skuIDs.map {
                    .object(["skuId": .string($0.uuidString.lowercased()), "disabledPlans": .array([])])
                }),
        ])
    }

    static func skuJSON(_ sku: SimSku) -> JSONValue {
        .object([
            "id": .string(sku.id.uuidString.lowercased()), "skuId": .string(sku.id.uuidString.lowercased()),
            "skuPartNumber": .string(sku.partNumber),
            "servicePlans": .array(
                sku.servicePlans.map { plan in
                    .object([
                        "servicePlanId": .string(plan.id.uuidString.lowercased()),
                        "servicePlanName": .string(plan.name),
                        "provisioningStatus": .string("Success"), "appliesTo": .string("User"),
                    ])
                }),
        ])
    }
}
