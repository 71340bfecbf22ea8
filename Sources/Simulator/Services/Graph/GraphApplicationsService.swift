import Crypto
import Foundation

/// Microsoft Graph v1.0 `/applications`: create, get, list with `$filter` / `$top` and `@odata.nextLink`,
/// the `uniqueName` upsert, PATCH with `keyCredentials` replace semantics, delete, `addPassword` returning
/// `secretText` once (within the tenant's password policy), `removePassword`. Objects are subject to
/// replication lag. A deleted application goes to Deleted applications (`SimTenant.softDelete`).
struct GraphApplicationsService: Sendable {
    let faults: FaultController

    static let applicationProperties: Set<String> = [
        "displayName", "signInAudience", "web", "requiredResourceAccess", "uniqueName", "tags", "notes", "description",
        "keyCredentials", "passwordCredentials", "identifierUris", "api", "spa", "publicClient", "info",
    ]
    static let audiences: Set<String> = [
        "AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount",
    ]
    static let read: Set<String> = [
        "Application.Read.All", "Application.ReadWrite.All", "Application.ReadWrite.OwnedBy",
    ]
    static let write: Set<String> = ["Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"]

    var routes: [Route<GraphCall>] {
        [
            Route("POST", "/v1.0/applications") { call in
                if let denied = call.require(Self.write) { return denied }
                guard let body = call.jsonObject else { return call.unreadableBody }
                return createApplication(body, call)
            },
            Route("GET", "/v1.0/applications") { call in
                if let denied = call.require(Self.read) { return denied }
                return listApplications(call)
            },
            Route("GET", "/v1.0/applications(uniqueName='{name}')") { call in
                if let denied = call.require(Self.read) { return denied }
                let name = uniqueName(call)
                return byUniqueName(name, call).map { single($0, call) } ?? call.notFound(name)
            },
            Route("PATCH", "/v1.0/applications(uniqueName='{name}')") { call in
                if let denied = call.require(Self.write) { return denied }
                guard var body = call.jsonObject else { return call.unreadableBody }
                let name = uniqueName(call)
                if let existing = byUniqueName(name, call) { return updateApplication(existing, body, call) }
                guard call.request.headers["prefer"]?.contains("create-if-missing") == true else {
                    return call.notFound(name)
                }
                body["uniqueName"] = .string(name)
                return createApplication(body, call)
            },
            Route("GET", "/v1.0/applications/{id}") { call in
                application(call) { app in
                    if let denied = call.require(Self.read) { return denied }
                    return single(app, call)
                }
            },
            Route("PATCH", "/v1.0/applications/{id}") { call in
                application(call) { app in
                    if let denied = call.require(Self.write) { return denied }
                    guard let body = call.jsonObject else { return call.unreadableBody }
                    return updateApplication(app, body, call)
                }
            },
            Route("DELETE", "/v1.0/applications/{id}") { call in
                application(call) { app in
                    if let denied = call.require(Self.write) { return denied }
                    call.tenant.softDelete(app)
                    return SimResponse(status: 204)
                }
            },
            Route("POST", "/v1.0/applications/{id}/addPassword") { call in
                if let denied = call.require(Self.write) { return denied }
                guard let app = visibleApplication(call) else { return call.notFound(call["id"]) }
                if call.tenant.forbidsPasswords {
                    return call.error(
                        400, "CredentialTypeNotAllowedAsPerAppPolicy",
                        "Credential type not allowed as per assigned policy.")
                }
                return addPassword(
                    app, JSONValue.parse(call.request.body), maxDays: call.tenant.maxPasswordLifetimeDays, call)
            },
            Route("POST", "/v1.0/applications/{id}/removePassword") { call in
                if let denied = call.require(Self.write) { return denied }
                guard let app = visibleApplication(call) else { return call.notFound(call["id"]) }
                return removePassword(app, JSONValue.parse(call.request.body), call)
            },
        ]
    }

    /// `applications(uniqueName='…')`: the key unquoted.
    private func uniqueName(_ call: GraphCall) -> String { call["name"].replacingOccurrences(of: "''", with: "'") }

    private func byUniqueName(_ name: String, _ call: GraphCall) -> SimApplication? {
        call.tenant.applications.values.first { $0.properties["uniqueName"]?.string == name }
    }

    /// A single-object GET: the one answer that shows the certificates' `key`, and only when `$select` names
    /// `keyCredentials` (Graph's rule; everywhere else `key` is null).
    private func single(_ app: SimApplication, _ call: GraphCall) -> SimResponse {
        call.entity(200, Self.representation(app, keys: call.selects("keyCredentials")), set: "applications")
    }

    private func visibleApplication(_ call: GraphCall) -> SimApplication? {
        guard let objectID = UUID(uuidString: call["id"]), let app = call.tenant.applications[objectID],
            faults.visible(app.createdDateTime)
        else { return nil }
        return app
    }

    /// `/applications/{id}`: 400 for an id that is not a GUID, 404 for one not there (yet), else `body`.
    private func application(_ call: GraphCall, _ body: (SimApplication) -> SimResponse) -> SimResponse {
        guard UUID(uuidString: call["id"]) != nil else {
            return call.error(400, "Request_BadRequest", "Invalid object identifier '\(call["id"])'.")
        }
        guard let app = visibleApplication(call) else { return call.notFound(call["id"]) }
        return body(app)
    }

    func createApplication(_ body: [String: JSONValue], _ call: GraphCall) -> SimResponse {
        let tenant = call.tenant
        if let unknown = Self.undeclaredProperty(body) { return unknown(call) }
        guard let name = body["displayName"]?.string, !name.isEmpty else {
            return call.error(400, "Request_BadRequest", "Required property 'displayName' is missing.")
        }
        if let problem = Self.validate(body) { return call.error(400, "Request_BadRequest", problem) }
        if let name = body["uniqueName"]?.string, tenant.uniqueNameTaken(name) {
            // Also by an application in Deleted applications: the name is free again once it is purged
            // (or restored and renamed), not when it is deleted.
            return call.error(
                400, "Request_BadRequest", "Another object with the same value for property uniqueName already exists.")
        }
        if let passwords = body["passwordCredentials"]?.array, !passwords.isEmpty {
            return call.error(
                400, "Request_BadRequest",
                "Adding passwordCredentials when creating an application is not supported: use addPassword.")
        }
        let app = SimApplication(id: UUID(), appID: UUID(), displayName: name)
        var properties = body.filter { !ODataAnnotation.isAnnotation($0.key) }
        properties["displayName"] = nil
        properties["keyCredentials"] = nil
        properties["passwordCredentials"] = nil
        if properties["signInAudience"] == nil { properties["signInAudience"] = .string("AzureADMyOrg") }
        app.properties = properties
        tenant.applications[app.id] = app
        return call.entity(
            201, Self.representation(app), set: "applications",
            headers: [
                (
                    "Location",
                    "https://graph.microsoft.com/v2/\(tenant.id.uuidString.lowercased())/directoryObjects/\(app.id.uuidString.lowercased())/Microsoft.DirectoryServices.Application"
                )
            ])
    }

    func updateApplication(_ app: SimApplication, _ body: [String: JSONValue], _ call: GraphCall) -> SimResponse {
        if let unknown = Self.undeclaredProperty(body) { return unknown(call) }
        if let problem = Self.validate(body) { return call.error(400, "Request_BadRequest", problem) }
        if case .array(let entries)? = body["keyCredentials"] {
            // PATCH replaces the whole list: certificates not sent again are gone.
            var keys: [KeyCredential] = []
            for entry in entries {
                switch Self.keyCredential(entry) {
                case .success(let key): keys.append(key)
                case .failure(let problem): return call.error(400, "Request_BadRequest", problem.message)
                }
            }
            app.keys = keys
        }
        for (key, value) in body
        where key != "keyCredentials" && key != "passwordCredentials" && !ODataAnnotation.isAnnotation(key) {
            if key == "displayName", let name = value.string {
                app.displayName = name
            } else {
                app.properties[key] = value
            }
        }
        return SimResponse(status: 204)
    }

    /// Graph's 400 for the first property of `body` an application does not declare.
    static func undeclaredProperty(_ body: [String: JSONValue]) -> ((GraphCall) -> SimResponse)? {
        guard
            let key = body.keys.sorted().first(where: {
                !applicationProperties.contains($0) && !ODataAnnotation.isAnnotation($0)
            })
        else { return nil }
        return { call in
            call.error(
                400, "Request_BadRequest",
                "Property '\(key)' does not exist as a declared property or extension property.")
        }
    }

    struct InvalidValue: Error { let message: String }

    /// One `keyCredentials` entry of a PATCH: the certificate (`key`, base64 DER, required), its
    /// `customKeyIdentifier` (Edm.Binary; Graph's default is the SHA-1 thumbprint), `keyId`, and dates that
    /// must be Edm.DateTimeOffset when given.
    static func keyCredential(_ entry: JSONValue) -> Result<KeyCredential, InvalidValue> {
        func invalid(_ property: String, _ detail: String = "") -> Result<KeyCredential, InvalidValue> {
            .failure(
                InvalidValue(
                    message: "Invalid value specified for property '\(property)' of resource 'KeyCredential'\(detail).")
            )
        }
        guard let base64 = entry["key"]?.string else { return invalid("key", ": the key is required") }
        guard let der = EdmBinary.bytes(base64), let certificate = try? Certificate(der: der),
            let sha1 = try? certificate.sha1Thumbprint, let sha256 = try? certificate.sha256Thumbprint
        else { return invalid("key") }
        var identifier: [UInt8]?
        if let value = entry["customKeyIdentifier"], value != .null {
            guard let text = value.string, let bytes = EdmBinary.bytes(text) else {
                return invalid("customKeyIdentifier")
            }
            identifier = bytes
        }
        var keyID = UUID()
        if let value = entry["keyId"], value != .null {
            guard let id = value.string.flatMap(UUID.init(uuidString:)) else { return invalid("keyId") }
            keyID = id
        }
        for property in ["startDateTime", "endDateTime"] {
            if let value = entry[property], value != .null, value.string.flatMap(Timestamp.date) == nil {
                return invalid(property)
            }
        }
        var key = KeyCredential(
            keyID: keyID, displayName: entry["displayName"]?.string ?? "", certificate: certificate,
            sha1Thumbprint: sha1, sha256Thumbprint: sha256)
        key.customKeyIdentifier = identifier
        return .success(key)
    }

    static func validate(_ body: [String: JSONValue]) -> String? {
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

    func listApplications(_ call: GraphCall) -> SimResponse {
        let tenant = call.tenant
        let request = call.request
        // Lists omit what has not replicated yet.
        var apps = tenant.applications.values.filter { faults.visible($0.createdDateTime) }.sorted {
            $0.createdDateTime < $1.createdDateTime
        }
        if let filter = request.query["$filter"] {
            guard let match = filter.wholeMatch(of: /(displayName|appId|uniqueName) eq '((?:[^']|'')*)'/) else {
                return call.error(
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
        return call.page(apps.map { Self.representation($0) }, collection: "applications")
    }

    func addPassword(_ app: SimApplication, _ body: JSONValue?, maxDays: Int?, _ call: GraphCall) -> SimResponse {
        let credential = body?["passwordCredential"]
        // Absent dates take Graph's defaults (now; start + 2 years); a date that is there must parse.
        var dates: [String: Date] = [:]
        for property in ["startDateTime", "endDateTime"] {
            guard let value = credential?[property], value != .null else { continue }
            guard let date = value.string.flatMap(Timestamp.date) else {
                return call.error(
                    400, "Request_BadRequest",
                    "Invalid value specified for property '\(property)' of resource 'PasswordCredential'.")
            }
            dates[property] = date
        }
        let start = dates["startDateTime"] ?? Date()
        let end = dates["endDateTime"] ?? start.addingTimeInterval(2 * 365 * 86_400)
        if let maxDays, end.timeIntervalSinceNow > TimeInterval(maxDays) * 86_400 + 60 {
            // The tenant's app-management policy caps password lifetimes.
            return call.error(
                400, "Request_BadRequest", "Credential lifetime exceeds the max value allowed as per assigned policy.")
        }
        var random = SystemRandomNumberGenerator()
        let secret = String(
            (0..<40).map { _ in
                Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789~_.-")[
                    Int.random(in: 0..<66, using: &random)]
            })
        guard let hash = try? Digest.sha256(Array(secret.utf8)) else {
            return call.error(500, "InternalServerError", "hashing failed")
        }
        let password = PasswordCredential(
            keyID: UUID(), displayName: credential?["displayName"]?.string ?? "", secretHash: hash,
            hint: String(secret.prefix(3)), start: start, end: end)
        app.passwords.append(password)
        var representation = Self.passwordRepresentation(password)
        representation["secretText"] = .string(secret)  // the only time it is ever shown
        return call.value(200, representation, type: "microsoft.graph.passwordCredential")
    }

    func removePassword(_ app: SimApplication, _ body: JSONValue?, _ call: GraphCall) -> SimResponse {
        guard let keyID = body?["keyId"]?.string.flatMap(UUID.init(uuidString:)),
            app.passwords.contains(where: { $0.keyID == keyID })
        else {
            return call.error(
                400, "Request_BadRequest", "No password credential with the given keyId exists on the application.")
        }
        app.passwords.removeAll { $0.keyID == keyID }
        return SimResponse(status: 204)
    }

    /// The application as Graph shows it; the certificates' DER in `key` only when `keys`.
    static func representation(_ app: SimApplication, keys: Bool = false) -> JSONValue {
        var object = app.properties
        object["id"] = .string(app.id.uuidString.lowercased())
        object["appId"] = .string(app.appID.uuidString.lowercased())
        object["displayName"] = .string(app.displayName)
        object["createdDateTime"] = .string(Timestamp.string(app.createdDateTime))
        object["passwordCredentials"] = .array(app.passwords.map { .object(Self.passwordRepresentation($0)) })
        object["keyCredentials"] = .array(
            app.keys.map { key in
                .object([
                    "keyId": .string(key.keyID.uuidString.lowercased()), "displayName": .string(key.displayName),
                    "type": .string("AsymmetricX509Cert"), "usage": .string("Verify"),
                    "customKeyIdentifier": .string(EdmBinary.text(key.keyIdentifier)),
                    "startDateTime": .string(Timestamp.string(key.certificate.notBefore)),
                    "endDateTime": .string(Timestamp.string(key.certificate.notAfter)),
                    "key": keys ? (try? key.certificate.der).map { .string(EdmBinary.text($0)) } ?? .null : .null,
                ])
            })
        return .object(object)
    }

    static func passwordRepresentation(_ password: PasswordCredential) -> [String: JSONValue] {
        [
            "keyId": .string(password.keyID.uuidString.lowercased()), "displayName": .string(password.displayName),
            "hint": .string(password.hint),
            "startDateTime": .string(Timestamp.string(password.start)),
            "endDateTime": .string(Timestamp.string(password.end)), "secretText": .null,
            "customKeyIdentifier": .null,
        ]
    }
}
