import Foundation

/// Microsoft Graph v1.0 for the Teams and Microsoft 365 paths: domains (with DNS TXT verification),
/// users, licences, subscribed SKUs, and the tenant's app-management policy. Called with the world locked.
extension Simulator {
    func directory(
        _ request: SimRequest, segments: [String], caller: Caller, error: (Int, String, String) -> SimResponse,
        require: (Set<String>) -> SimResponse?
    ) -> SimResponse? {
        let tenant = caller.tenant
        let method = request.method
        switch (segments.first ?? "", segments.count) {
        case ("domains", 1):
            if method == "GET" {
                if let denied = require(["Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All"]) {
                    return denied
                }
                return .json(
                    200,
                    JSONValue.object([
                        "value": .array(tenant.domains.values.sorted { $0.name < $1.name }.map(domainJSON))
                    ]).text)
            }
            guard method == "POST" else { return error(405, "Request_BadRequest", "Method not allowed.") }
            if let denied = require(["Domain.ReadWrite.All"]) { return denied }
            guard let body = JSONValue.parse(request.body)?.object, let name = body["id"]?.string?.lowercased() else {
                return error(400, "Request_BadRequest", "Required property 'id' is missing.")
            }
            for key in body.keys where key != "id" {
                return error(400, "Request_BadRequest", "Property '\(key)' is read-only and cannot be set.")
            }
            guard name.wholeMatch(of: /([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}/) != nil else {
                return error(400, "Request_BadRequest", "Invalid domain name.")
            }
            guard tenant.domains[name] == nil else { return error(400, "Request_BadRequest", "Domain already exists.") }
            var random = SystemRandomNumberGenerator()
            let code = "MS=ms\(UInt32.random(in: 10_000_000...99_999_999, using: &random))"
            let domain = SimDomain(
                name: name, isVerified: false, isDefault: false, isInitial: false, verificationCode: code)
            tenant.domains[name] = domain
            return .json(201, domainJSON(domain).text)
        case ("domains", 2), ("domains", 3):
            let name = segments[1].lowercased()
            guard let domain = tenant.domains[name] else {
                return error(
                    404, "Request_ResourceNotFound",
                    "Resource '\(name)' does not exist or one of its queried reference-property objects are not present."
                )
            }
            if segments.count == 2 {
                if let denied = require(["Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All"]) {
                    return denied
                }
                return .json(200, domainJSON(domain).text)
            }
            switch (method, segments[2]) {
            case ("GET", "verificationDnsRecords"):
                if let denied = require(["Domain.Read.All", "Domain.ReadWrite.All"]) { return denied }
                let record = JSONValue.object([
                    "@odata.type": .string("#microsoft.graph.domainDnsTxtRecord"),
                    "id": .string("aceff52c-06a5-447f-ac5f-256ad243cc5c"),
                    "isOptional": .bool(false), "label": .string(name), "recordType": .string("Txt"),
                    "supportedService": .string("Email"), "ttl": .number(3600),
                    "text": .string(domain.verificationCode),
                ])
                return .json(200, JSONValue.object(["value": .array(domain.isVerified ? [] : [record])]).text)
            case ("POST", "verify"):
                if let denied = require(["Domain.ReadWrite.All"]) { return denied }
                guard !domain.isVerified else { return .json(200, domainJSON(domain).text) }
                guard txtRecords(name).contains(domain.verificationCode) else {
                    return error(
                        400, "Request_BadRequest",
                        "Domain verification failed: the TXT record \(domain.verificationCode) was not found in the DNS of \(name)."
                    )
                }
                tenant.domains[name]?.isVerified = true
                return .json(200, domainJSON(tenant.domains[name]!).text)
            default:
                return error(400, "BadRequest", "Resource not found for the segment '\(segments[2])'.")
            }
        case ("users", 1):
            if method == "GET" {
                if let denied = require(["User.Read.All", "User.ReadWrite.All", "Directory.Read.All"]) {
                    return denied
                }
                var users = tenant.users.values.sorted { $0.userPrincipalName < $1.userPrincipalName }
                if let filter = request.query["$filter"] {
                    guard let match = filter.wholeMatch(of: /userPrincipalName eq '((?:[^']|'')*)'/) else {
                        return error(
                            400, "Request_UnsupportedQuery",
                            "Unsupported or invalid query filter clause specified for property '\(filter)' of resource 'User'."
                        )
                    }
                    let upn = String(match.output.1).replacingOccurrences(of: "''", with: "'").lowercased()
                    users = users.filter { $0.userPrincipalName.lowercased() == upn }
                }
                return page(users.map(userJSON), collection: "users", request: request)
            }
            guard method == "POST" else { return error(405, "Request_BadRequest", "Method not allowed.") }
            if let denied = require(["User.ReadWrite.All", "Directory.ReadWrite.All"]) { return denied }
            guard let body = JSONValue.parse(request.body)?.object else {
                return error(400, "BadRequest", "Unable to read JSON request payload.")
            }
            for required in ["accountEnabled", "displayName", "mailNickname", "passwordProfile", "userPrincipalName"]
            where body[required] == nil {
                return error(400, "Request_BadRequest", "Property '\(required)' is required when creating the entity.")
            }
            let upn = body["userPrincipalName"]?.string ?? ""
            let domain = upn.split(separator: "@").last.map { String($0).lowercased() } ?? ""
            guard upn.contains("@"), tenant.domains[domain]?.isVerified == true else {
                return error(
                    400, "Request_BadRequest",
                    "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization."
                )
            }
            guard tenant.user(upn) == nil else {
                return error(
                    400, "Request_BadRequest",
                    "Another object with the same value for property userPrincipalName already exists.")
            }
            let user = SimUser(
                id: UUID(), userPrincipalName: upn, displayName: body["displayName"]?.string ?? "",
                usageLocation: body["usageLocation"]?.string, accountEnabled: body["accountEnabled"] == .bool(true))
            tenant.users[user.id] = user
            return .json(201, userJSON(user).text)
        case ("users", 2), ("users", 3):
            guard let user = tenant.user(segments[1]) else {
                return error(
                    404, "Request_ResourceNotFound",
                    "Resource '\(segments[1])' does not exist or one of its queried reference-property objects are not present."
                )
            }
            if segments.count == 2 {
                switch method {
                case "GET":
                    if let denied = require(["User.Read.All", "User.ReadWrite.All", "Directory.Read.All"]) {
                        return denied
                    }
                    return .json(200, userJSON(user).text)
                case "PATCH":
                    if let denied = require(["User.ReadWrite.All"]) { return denied }
                    if let location = JSONValue.parse(request.body)?["usageLocation"]?.string {
                        user.usageLocation = location
                    }
                    return SimResponse(status: 204)
                default:
                    return error(405, "Request_BadRequest", "Method not allowed.")
                }
            }
            switch (method, segments[2]) {
            case ("POST", "assignLicense"):
                if let denied = require([
                    "User.ReadWrite.All", "LicenseAssignment.ReadWrite.All", "Directory.ReadWrite.All",
                ]) {
                    return denied
                }
                guard user.usageLocation != nil else {
                    return error(
                        400, "Request_BadRequest",
                        "License assignment cannot be done for user with invalid usage location.")
                }
                let body = JSONValue.parse(request.body)
                for add in body?["addLicenses"]?.array ?? [] {
                    guard let skuID = add["skuId"]?.string.flatMap(UUID.init(uuidString:)),
                        let sku = tenant.skus.first(where: { $0.id == skuID })
                    else {
                        return error(
                            400, "Request_BadRequest",
                            "License \(add["skuId"]?.string ?? "") does not correspond to a valid company License.")
                    }
                    let used = tenant.users.values.filter { $0.skuIDs.contains(skuID) }.count
                    guard user.skuIDs.contains(skuID) || used < sku.enabledUnits else {
                        return error(
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
                return .json(200, userJSON(user).text)
            case ("GET", "licenseDetails"):
                if let denied = require(["User.Read.All", "User.ReadWrite.All", "Directory.Read.All"]) {
                    return denied
                }
                let details = user.skuIDs.compactMap { id in tenant.skus.first { $0.id == id } }.map(skuJSON)
                return .json(200, JSONValue.object(["value": .array(details)]).text)
            default:
                return error(400, "BadRequest", "Resource not found for the segment '\(segments[2])'.")
            }
        case ("subscribedSkus", 1):
            if let denied = require(["Organization.Read.All", "Directory.Read.All", "LicenseAssignment.Read.All"]) {
                return denied
            }
            return .json(
                200,
                JSONValue.object([
                    "value": .array(
                        tenant.skus.map { sku in
                            var object = skuJSON(sku).object ?? [:]
                            object["capabilityStatus"] = .string("Enabled")
                            object["consumedUnits"] = .number(
                                Double(tenant.users.values.filter { $0.skuIDs.contains(sku.id) }.count))
                            object["prepaidUnits"] = .object([
                                "enabled": .number(Double(sku.enabledUnits)), "suspended": .number(0),
                                "warning": .number(0),
                            ])
                            return .object(object)
                        })
                ]).text)
        case ("policies", 2) where segments[1] == "defaultAppManagementPolicy":
            // Real Graph wants Policy.Read.All here, which the partner app's role set does not include.
            if let denied = require(["Policy.Read.All", "Policy.Read.ApplicationConfiguration"]) { return denied }
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
            return .json(
                200,
                JSONValue.object([
                    "id": .string(tenant.id.uuidString.lowercased()),
                    "isEnabled": .bool(tenant.maxPasswordLifetimeDays != nil || tenant.forbidsPasswords),
                    "displayName": .string("Default app management tenant policy"),
                    "applicationRestrictions": .object([
                        "passwordCredentials": .array(restrictions), "keyCredentials": .array([]),
                    ]),
                ]).text)
        default:
            return nil
        }
    }

    func domainJSON(_ domain: SimDomain) -> JSONValue {
        .object([
            "id": .string(domain.name), "isVerified": .bool(domain.isVerified), "isDefault": .bool(domain.isDefault),
            "isInitial": .bool(domain.isInitial), "authenticationType": .string("Managed"), "isRoot": .bool(true),
            "supportedServices": .array(
                domain.isVerified ? [.string("Email"), .string("OfficeCommunicationsOnline")] : []),
        ])
    }

    func userJSON(_ user: SimUser) -> JSONValue {
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

    func skuJSON(_ sku: SimSku) -> JSONValue {
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
