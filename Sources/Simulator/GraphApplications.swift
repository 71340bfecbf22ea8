import Crypto
import Foundation

/// Microsoft Graph v1.0: authentication from the access token, `/organization`, and `/applications`
/// (create, get, list with `$filter` / `$top` and `@odata.nextLink`, the `uniqueName` upsert, PATCH with
/// `keyCredentials` replace semantics, delete, `addPassword` returning `secretText` once, `removePassword`).
extension Simulator {
    struct Caller {
        let tenant: SimTenant
        let roles: Set<String>
    }

    struct AccessClaims: Decodable {
        var tid: String
        var roles: [String]?
        var aud: String
        var exp: Int
    }

    static let applicationProperties: Set<String> = [
        "displayName", "signInAudience", "web", "requiredResourceAccess", "uniqueName", "tags", "notes", "description",
        "keyCredentials", "passwordCredentials", "identifierUris", "api", "spa", "publicClient", "info",
    ]
    static let audiences: Set<String> = [
        "AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount",
    ]

    /// Routes `/v1.0/…`. Called under no lock; takes the world lock itself.
    func graph(_ request: SimRequest) -> SimResponse {
        let clientRequestID = request.headers["client-request-id"] ?? UUID().uuidString.lowercased()
        func error(_ status: Int, _ code: String, _ message: String) -> SimResponse {
            odataError(status, code, message, clientRequestID: clientRequestID)
        }
        guard let caller = authenticate(request) else {
            return error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        }
        let path = String(request.path.dropFirst("/v1.0/".count))
        let segments = path.split(separator: "/").map(String.init)
        func require(_ allowed: Set<String>) -> SimResponse? {
            caller.roles.isDisjoint(with: allowed)
                ? error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.") : nil
        }
        let read: Set<String> = ["Application.Read.All", "Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"]
        let write: Set<String> = ["Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"]
        count(
            // One key per collection: `servicePrincipals(appId='…')` counts as `servicePrincipals`.
            "\(request.method) \(segments.first.map { $0.split(separator: "(").first.map(String.init) ?? $0 } ?? "")"
        )

        return withWorld { _ in
            let first = segments.first ?? ""
            let second = segments.count > 1 ? segments[1] : ""
            let third = segments.count > 2 ? segments[2] : ""
            switch (request.method, segments.count, first) {
            case (_, _, let key) where ["domains", "users", "subscribedSkus", "policies"].contains(key):
                return directory(request, segments: segments, caller: caller, error: error, require: require)
                    ?? error(400, "BadRequest", "Resource not found for the segment '\(key)'.")
            case (_, _, let key) where key == "servicePrincipals" || key.hasPrefix("servicePrincipals("):
                return servicePrincipals(request, segments: segments, caller: caller, error: error, require: require)
            case (_, 1, "oauth2PermissionGrants"):
                return permissionGrants(request, caller: caller, error: error, require: require)
            case ("GET", 1, "organization"):
                if let denied = require(["Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All"]) {
                    return denied
                }
                let tenant = caller.tenant
                return .json(
                    200,
                    JSONValue.object([
                        "@odata.context": .string("https://graph.microsoft.com/v1.0/$metadata#organization"),
                        "value": .array([
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
                        ]),
                    ]).text)
            case ("POST", 1, "applications"):
                if let denied = require(write) { return denied }
                guard case .object(let body)? = JSONValue.parse(request.body) else {
                    return error(400, "BadRequest", "Unable to read JSON request payload.")
                }
                return createApplication(body, in: caller.tenant, error: error)
            case ("GET", 1, "applications"):
                if let denied = require(read) { return denied }
                return listApplications(caller.tenant, request: request, error: error)
            case (_, 1, let key) where key.hasPrefix("applications(uniqueName="):
                let name = String(key.dropFirst("applications(uniqueName='".count).dropLast(2)).replacingOccurrences(
                    of: "''", with: "'")
                let existing = caller.tenant.applications.values.first { $0.properties["uniqueName"]?.string == name }
                if request.method == "GET" {
                    if let denied = require(read) { return denied }
                    return existing.map { .json(200, representation($0).text) }
                        ?? error(
                            404, "Request_ResourceNotFound",
                            "Resource '\(name)' does not exist or one of its queried reference-property objects are not present."
                        )
                }
                guard request.method == "PATCH" else { return error(405, "Request_BadRequest", "Method not allowed.") }
                if let denied = require(write) { return denied }
                guard case .object(var body)? = JSONValue.parse(request.body) else {
                    return error(400, "BadRequest", "Unable to read JSON request payload.")
                }
                if let existing { return updateApplication(existing, body, error: error) }
                guard request.headers["prefer"]?.contains("create-if-missing") == true else {
                    return error(
                        404, "Request_ResourceNotFound",
                        "Resource '\(name)' does not exist or one of its queried reference-property objects are not present."
                    )
                }
                body["uniqueName"] = .string(name)
                return createApplication(body, in: caller.tenant, error: error)
            case (let method, 2, "applications"):
                let id = second
                guard let objectID = UUID(uuidString: id) else {
                    return error(400, "Request_BadRequest", "Invalid object identifier '\(id)'.")
                }
                guard let app = caller.tenant.applications[objectID], visible(app.createdDateTime) else {
                    return error(
                        404, "Request_ResourceNotFound",
                        "Resource '\(id)' does not exist or one of its queried reference-property objects are not present."
                    )
                }
                switch method {
                case "GET":
                    if let denied = require(read) { return denied }
                    return .json(200, representation(app).text)
                case "PATCH":
                    if let denied = require(write) { return denied }
                    guard case .object(let body)? = JSONValue.parse(request.body) else {
                        return error(400, "BadRequest", "Unable to read JSON request payload.")
                    }
                    return updateApplication(app, body, error: error)
                case "DELETE":
                    if let denied = require(write) { return denied }
                    caller.tenant.applications[objectID] = nil
                    return SimResponse(status: 204)
                default:
                    return error(405, "Request_BadRequest", "Method not allowed.")
                }
            case ("POST", 3, "applications") where third == "addPassword" || third == "removePassword":
                let id = second
                let action = third
                if let denied = require(write) { return denied }
                guard let objectID = UUID(uuidString: id), let app = caller.tenant.applications[objectID],
                    visible(app.createdDateTime)
                else {
                    return error(
                        404, "Request_ResourceNotFound",
                        "Resource '\(id)' does not exist or one of its queried reference-property objects are not present."
                    )
                }
                let body = JSONValue.parse(request.body)
                return action == "addPassword"
                    ? (caller.tenant.forbidsPasswords
                        ? error(
                            400, "CredentialTypeNotAllowedAsPerAppPolicy",
                            "Credential type not allowed as per assigned policy.")
                        : addPassword(app, body, maxDays: caller.tenant.maxPasswordLifetimeDays, error: error))
                    : removePassword(app, body, error: error)
            default:
                return error(400, "BadRequest", "Resource not found for the segment '\(segments.first ?? "")'.")
            }
        }
    }

    /// The caller's tenant and roles, from a token this simulator issued and that has not expired.
    func authenticate(_ request: SimRequest) -> Caller? {
        guard let header = request.headers["authorization"], header.hasPrefix("Bearer "),
            let claims = verifiedClaims(String(header.dropFirst(7))),
            claims.exp > Int(Date().timeIntervalSince1970), claims.aud.hasPrefix("https://graph.microsoft.com"),
            let tenantID = UUID(uuidString: claims.tid), let tenant = withWorld({ _ in world.tenants[tenantID] })
        else { return nil }
        return Caller(tenant: tenant, roles: Set(claims.roles ?? []))
    }

    func createApplication(
        _ body: [String: JSONValue], in tenant: SimTenant, error: (Int, String, String) -> SimResponse
    ) -> SimResponse {
        for key in body.keys.sorted() where !Self.applicationProperties.contains(key) && !key.hasPrefix("@odata") {
            return error(
                400, "Request_BadRequest",
                "Property '\(key)' does not exist as a declared property or extension property.")
        }
        guard let name = body["displayName"]?.string, !name.isEmpty else {
            return error(400, "Request_BadRequest", "Required property 'displayName' is missing.")
        }
        if let problem = validate(body) { return error(400, "Request_BadRequest", problem) }
        if let passwords = body["passwordCredentials"]?.array, !passwords.isEmpty {
            return error(
                400, "Request_BadRequest",
                "Adding passwordCredentials when creating an application is not supported: use addPassword.")
        }
        let app = SimApplication(id: UUID(), appID: UUID(), displayName: name)
        var properties = body
        properties["displayName"] = nil
        properties["keyCredentials"] = nil
        properties["passwordCredentials"] = nil
        if properties["signInAudience"] == nil { properties["signInAudience"] = .string("AzureADMyOrg") }
        app.properties = properties
        tenant.applications[app.id] = app
        return .json(
            201, representation(app).text,
            headers: [
                (
                    "Location",
                    "https://graph.microsoft.com/v2/\(tenant.id.uuidString.lowercased())/directoryObjects/\(app.id.uuidString.lowercased())/Microsoft.DirectoryServices.Application"
                )
            ])
    }

    func updateApplication(
        _ app: SimApplication, _ body: [String: JSONValue], error: (Int, String, String) -> SimResponse
    ) -> SimResponse {
        for key in body.keys.sorted() where !Self.applicationProperties.contains(key) {
            return error(
                400, "Request_BadRequest",
                "Property '\(key)' does not exist as a declared property or extension property.")
        }
        if let problem = validate(body) { return error(400, "Request_BadRequest", problem) }
        if case .array(let entries)? = body["keyCredentials"] {
            // PATCH replaces the whole list: certificates not sent again are gone.
            var keys: [KeyCredential] = []
            for entry in entries {
                if let base64 = entry["key"]?.string {
                    guard let der = Data(base64Encoded: base64), let certificate = try? Certificate(der: [UInt8](der)),
                        let sha1 = try? certificate.sha1Thumbprint, let sha256 = try? certificate.sha256Thumbprint
                    else {
                        return error(
                            400, "Request_BadRequest",
                            "Invalid value specified for property 'key' of resource 'KeyCredential'.")
                    }
                    let keyID = entry["keyId"]?.string.flatMap(UUID.init(uuidString:)) ?? UUID()
                    keys.append(
                        KeyCredential(
                            keyID: keyID, displayName: entry["displayName"]?.string ?? "", certificate: certificate,
                            sha1Thumbprint: sha1, sha256Thumbprint: sha256))
                } else {
                    return error(
                        400, "Request_BadRequest",
                        "Invalid value specified for property 'key' of resource 'KeyCredential': the key is required.")
                }
            }
            app.keys = keys
        }
        for (key, value) in body where key != "keyCredentials" && key != "passwordCredentials" {
            if key == "displayName", let name = value.string {
                app.displayName = name
            } else {
                app.properties[key] = value
            }
        }
        return SimResponse(status: 204)
    }

    func validate(_ body: [String: JSONValue]) -> String? {
        if let audience = body["signInAudience"], !(audience.string.map(Self.audiences.contains) ?? false) {
            return "Invalid value specified for property 'signInAudience' of resource 'Application'."
        }
        for uri in body["web"]?["redirectUris"]?.array ?? [] {
            guard let text = uri.string, let url = URL(string: text), let scheme = url.scheme?.lowercased() else {
                return "Invalid value specified for property 'web.redirectUris' of resource 'Application'."
            }
            let localhost = scheme == "http" && (url.host == "localhost" || url.host == "127.0.0.1")
            if scheme != "https" && !localhost {
                return "Invalid value specified for property 'web.redirectUris' of resource 'Application'."
            }
        }
        return nil
    }

    func listApplications(_ tenant: SimTenant, request: SimRequest, error: (Int, String, String) -> SimResponse)
        -> SimResponse
    {
        // Lists omit what has not replicated yet.
        var apps = tenant.applications.values.filter { visible($0.createdDateTime) }.sorted {
            $0.createdDateTime < $1.createdDateTime
        }
        if let filter = request.query["$filter"] {
            guard let match = filter.wholeMatch(of: /(displayName|appId|uniqueName) eq '((?:[^']|'')*)'/) else {
                return error(
                    400, "Request_UnsupportedQuery",
                    "Unsupported or invalid query filter clause specified for property '\(filter)' of resource 'Application'."
                )
            }
            let value = String(match.output.2).replacingOccurrences(of: "''", with: "'")
            apps = apps.filter { app in
                switch match.output.1 {
                case "displayName": app.displayName == value
                case "appId": app.appID.uuidString.lowercased() == value.lowercased()
                default: app.properties["uniqueName"]?.string == value
                }
            }
        }
        return page(apps.map(representation), collection: "applications", request: request)
    }

    /// One page of a collection: `$top` (default 100, at most 999) and an `@odata.nextLink` carrying a
    /// `$skiptoken` while more remain.
    func page(_ items: [JSONValue], collection: String, request: SimRequest) -> SimResponse {
        let top = max(1, min(Int(request.query["$top"] ?? "100") ?? 100, 999))
        let skip = Int(request.query["$skiptoken"] ?? "0") ?? 0
        var document: [String: JSONValue] = [
            "@odata.context": .string("https://graph.microsoft.com/v1.0/$metadata#\(collection)"),
            "value": .array(Array(items.dropFirst(skip).prefix(top))),
        ]
        if skip + top < items.count {
            var query = request.query
            query["$skiptoken"] = String(skip + top)
            let queryText = query.sorted { $0.key < $1.key }
                .map {
                    "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0.value)"
                }
                .joined(separator: "&")
            let host = request.headers["host"].map { "\(scheme)://\($0)" } ?? ""
            document["@odata.nextLink"] = .string("\(host)/v1.0/\(collection)?\(queryText)")
        }
        return .json(200, JSONValue.object(document).text)
    }

    func addPassword(
        _ app: SimApplication, _ body: JSONValue?, maxDays: Int?, error: (Int, String, String) -> SimResponse
    ) -> SimResponse {
        let credential = body?["passwordCredential"]
        let end =
            credential?["endDateTime"]?.string.flatMap { Simulator.iso8601.date(from: $0) }
            ?? Date(timeIntervalSinceNow: 2 * 365 * 86_400)
        if let maxDays, end.timeIntervalSinceNow > TimeInterval(maxDays) * 86_400 + 60 {
            // The tenant's app-management policy caps password lifetimes.
            return error(
                400, "Request_BadRequest", "Credential lifetime exceeds the max value allowed as per assigned policy.")
        }
        var random = SystemRandomNumberGenerator()
        let secret = String(
            (0..<40).map { _ in
                Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789~_.-")[
                    Int.random(in: 0..<66, using: &random)]
            })
        guard let hash = try? Digest.sha256(Array(secret.utf8)) else {
            return error(500, "InternalServerError", "hashing failed")
        }
        let password = PasswordCredential(
            keyID: UUID(), displayName: credential?["displayName"]?.string ?? "", secretHash: hash,
            hint: String(secret.prefix(3)), start: Date(), end: end)
        app.passwords.append(password)
        var representation = passwordRepresentation(password)
        representation["secretText"] = .string(secret)  // the only time it is ever shown
        return .json(200, JSONValue.object(representation).text)
    }

    func removePassword(_ app: SimApplication, _ body: JSONValue?, error: (Int, String, String) -> SimResponse)
        -> SimResponse
    {
        guard let keyID = body?["keyId"]?.string.flatMap(UUID.init(uuidString:)),
            app.passwords.contains(where: { $0.keyID == keyID })
        else {
            return error(
                400, "Request_BadRequest", "No password credential with the given keyId exists on the application.")
        }
        app.passwords.removeAll { $0.keyID == keyID }
        return SimResponse(status: 204)
    }

    func representation(_ app: SimApplication) -> JSONValue {
        var object = app.properties
        object["id"] = .string(app.id.uuidString.lowercased())
        object["appId"] = .string(app.appID.uuidString.lowercased())
        object["displayName"] = .string(app.displayName)
        object["createdDateTime"] = .string(Simulator.iso8601.string(from: app.createdDateTime))
        object["passwordCredentials"] = .array(app.passwords.map { .object(passwordRepresentation($0)) })
        object["keyCredentials"] = .array(
            app.keys.map { key in
                .object([
                    "keyId": .string(key.keyID.uuidString.lowercased()), "displayName": .string(key.displayName),
                    "type": .string("AsymmetricX509Cert"), "usage": .string("Verify"),
                    "customKeyIdentifier": .string(key.sha1Thumbprint.map { String(format: "%02X", $0) }.joined()),
                    "endDateTime": .string(Simulator.iso8601.string(from: key.certificate.notAfter)), "key": .null,
                ])
            })
        return .object(object)
    }

    func passwordRepresentation(_ password: PasswordCredential) -> [String: JSONValue] {
        [
            "keyId": .string(password.keyID.uuidString.lowercased()), "displayName": .string(password.displayName),
            "hint": .string(password.hint),
            "startDateTime": .string(Simulator.iso8601.string(from: password.start)),
            "endDateTime": .string(Simulator.iso8601.string(from: password.end)), "secretText": .null,
            "customKeyIdentifier": .null,
        ]
    }

    /// Graph's error body.
    func odataError(_ status: Int, _ code: String, _ message: String, clientRequestID: String) -> SimResponse {
        let body = JSONValue.object([
            "error": .object([
                "code": .string(code), "message": .string(message),
                "innerError": .object([
                    "date": .string(Simulator.iso8601.string(from: Date())),
                    "request-id": .string(UUID().uuidString.lowercased()),
                    "client-request-id": .string(clientRequestID),
                ]),
            ])
        ])
        return .json(status, body.text, headers: [("client-request-id", clientRequestID)])
    }
}
