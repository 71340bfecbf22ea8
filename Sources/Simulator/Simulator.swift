import Crypto
import Foundation
import Synchronization

/// The local stand-in for Entra ID (and, issue by issue, Microsoft Graph and the PBX): a world of tenants
/// behind a real HTTP server on loopback. Start it in-process (tests) or with `onboarder-sim`.
///
/// Sendable: the world is only touched under `lock`.
public final class Simulator: Sendable {
    public let world: World
    private let lock = Mutex(())
    private let stats = Mutex([String: Int]())
    /// Signs the access tokens it issues (RS256), as Entra's own keys do.
    private let signingKey: PrivateKey
    private let verificationKey: PublicKey
    /// Tokens already verified, with their claims: a client reuses its token for an hour, and an RSA
    /// verification per request would make the simulator a benchmark's bottleneck.
    private let verifiedTokens = Mutex([String: AccessClaims]())

    /// One formatter for every timestamp (creating one costs more than most requests).
    nonisolated(unsafe) static let iso8601 = ISO8601DateFormatter()
    private let server: Mutex<SimHTTPServer?> = Mutex(nil)
    let faultState = Mutex(FaultState())
    let dnsState = Mutex(SimDNSState())
    private let servingScheme = Mutex("http")
    /// `https` when serving TLS: the scheme of the links the simulator hands out.
    var scheme: String { servingScheme.withLock { $0 } }
    private let journal: Journal

    /// `journal`: a file to write every request and response to, as JSON lines (secrets redacted).
    public init(world: World, journal: String? = nil) throws {
        self.world = world
        self.signingKey = try PrivateKey.generateRSA(bits: 2048)
        self.verificationKey = try signingKey.publicKey
        self.journal = try Journal(path: journal)
    }

    /// Replaces the fault settings (and reseeds their generator).
    public func setFaults(_ faults: Faults) {
        faultState.withLock { state in
            state.faults = faults
            state.random = SeededRandom(seed: faults.seed)
            state.windows = [:]
        }
    }

    public var faults: Faults { faultState.withLock { $0.faults } }

    /// Whether an object created at `created` is visible yet under the replication-lag setting.
    func visible(_ created: Date) -> Bool {
        let lag = faultState.withLock { $0.faults.replicationLag }
        return lag <= 0 || Date().timeIntervalSince(created) >= lag
    }

    /// Whether a credential added at `added` is accepted yet under the propagation setting.
    func propagated(_ added: Date) -> Bool {
        let delay = faultState.withLock { $0.faults.propagation }
        return delay <= 0 || Date().timeIntervalSince(added) >= delay
    }

    /// Serves on 127.0.0.1:`port` (0: any free port); returns the base URL.
    /// Serves on 127.0.0.1:`port` (0: any free port), over HTTPS when `tls` is given; returns the base URL
    /// (`https://localhost:…` with TLS, so the certificate's name matches).
    public func start(port: UInt16 = 0, tls: TLSServerContext? = nil) throws -> String {
        let server = try SimHTTPServer(port: port, tls: tls) { [self] request in self.handle(request) }
        self.server.withLock { $0 = server }
        servingScheme.withLock { $0 = tls == nil ? "http" : "https" }
        return tls == nil ? "http://127.0.0.1:\(server.port)" : "https://localhost:\(server.port)"
    }

    public func stop() async {
        let server = self.server.withLock { server in
            defer { server = nil }
            return server
        }
        await server?.stop()
    }

    /// Requests served per endpoint (`POST token`, …).
    public var requestCounts: [String: Int] { stats.withLock { $0 } }

    /// Uploads a certificate to the partner app (what an MSP does once in its own tenant).
    public func addPartnerCertificate(_ certificate: Certificate) throws {
        let key = KeyCredential(
            keyID: UUID(), displayName: certificate.commonName ?? "certificate", certificate: certificate,
            sha1Thumbprint: try certificate.sha1Thumbprint, sha256Thumbprint: try certificate.sha256Thumbprint)
        lock.withLock { _ in world.partnerApp.keys.append(key) }
    }

    // MARK: Routing

    func handle(_ request: SimRequest) -> SimReply {
        if request.path.hasPrefix("/_sim/") { return .respond(admin(request), delay: .zero) }
        if request.path.hasPrefix("/client/v4/") { return .respond(dns(request), delay: .zero) }
        if request.path.hasPrefix("/pbx/") {
            let response = withWorld { world in pbx(request, world: world) }
            journal.record(request, status: response.status, response: response.body, latency: 0)
            return .respond(response, delay: .zero)
        }
        let segments = request.path.split(separator: "/").map(String.init)
        let isToken =
            request.method == "POST" && segments.count == 4 && segments[1] == "oauth2" && segments[3] == "token"
        let isGraph = request.path.hasPrefix("/v1.0/")
        guard isToken || isGraph else {
            return .respond(
                .json(
                    404,
                    #"{"error":{"code":"UnknownEndpoint","message":"The simulator does not serve \#(request.method) \#(request.path)."}}"#
                ), delay: .zero)
        }
        let started = Date()
        let write = request.method != "GET"
        let throttling =
            isGraph && write
            && faultState.withLock { $0.faults.throttleWrites > 0 || $0.faults.throttleTenantWrites > 0 }
        let caller = throttling ? Self.unverifiedCaller(request) : nil
        // Every fault decision comes from one seeded generator, in request order: a run replays.
        let (injected, lost, delay, throttled, again) = faultState.withLock {
            state -> (Int?, Bool, Duration, (Int, String)?, Bool) in
            let f = state.faults
            var injected: Int?
            if f.errorRate > 0, state.roll() < f.errorRate {
                let statuses =
                    f.errorStatuses.flatMap { $0.isEmpty ? nil : $0 }
                    ?? (write && isGraph ? [429, 500, 502, 503, 504, 507] : [429, 500, 502, 503, 504])
                injected = statuses[Int(state.random.next() % UInt64(statuses.count))]
            }
            var throttled: (Int, String)?
            var again = false
            if injected == nil, isGraph, write, let caller {
                // Two of Graph's identity limits: per app and tenant, and per tenant for all apps together.
                let now = Date()
                let tenantKey = String(caller.prefix { $0 != "/" })
                let buckets = [
                    (caller, f.throttleWrites, f.throttleWindowS, "Tenant_Application/ReadWrite/\(caller)"),
                    (
                        "tenant:" + tenantKey, f.throttleTenantWrites, f.throttleTenantWindowS,
                        "Tenant/ReadWrite/\(tenantKey)"
                    ),
                ]
                for (key, limit, window, scope) in buckets where limit > 0 && throttled == nil {
                    var bucket = state.windows[key] ?? (start: now, writes: 0)
                    if now.timeIntervalSince(bucket.start) >= TimeInterval(window) { bucket = (now, 0) }
                    bucket.writes += 1
                    state.windows[key] = bucket
                    if bucket.writes > limit {
                        // A second 429 in one window: the client came back before the Retry-After it was given.
                        again = bucket.writes > limit + 1
                        throttled = (
                            max(1, Int((TimeInterval(window) - now.timeIntervalSince(bucket.start)).rounded(.up))),
                            scope
                        )
                    }
                }
            }
            let lost = isGraph && write && f.lostResponseRate > 0 && state.roll() < f.lostResponseRate
            let jitter = f.jitterMs > 0 ? Int(state.random.next() % UInt64(f.jitterMs + 1)) : 0
            return (injected, lost, .milliseconds(f.latencyMs + jitter), throttled, again)
        }
        let clientRequestID = request.headers["client-request-id"] ?? UUID().uuidString.lowercased()
        let response: SimResponse
        if let status = injected {
            count("injected \(status)")
            let retryAfter = status == 429 || status == 503 ? [("Retry-After", "2")] : []
            response =
                isToken
                ? entraError(
                    status, "temporarily_unavailable", 50196, "The server is temporarily unavailable (injected fault).")
                : withRetryAfter(
                    odataError(
                        status, status == 429 ? "TooManyRequests" : "ServiceUnavailable",
                        status == 429
                            ? "Too many requests (injected fault)."
                            : "The service is temporarily unavailable (injected fault).",
                        clientRequestID: clientRequestID), retryAfter)
        } else if let (seconds, scope) = throttled {
            count("throttled")
            if again { count("throttled again") }
            response = withRetryAfter(
                odataError(429, "TooManyRequests", "Too many requests", clientRequestID: clientRequestID),
                [
                    ("Retry-After", String(seconds)),
                    ("x-ms-throttle-scope", scope),
                ])
        } else if isToken {
            count("POST token")
            response = token(tenantKey: segments[0], request: request)
        } else {
            response = graph(request)
        }
        if lost && injected == nil && throttled == nil {
            count("lost response")
            journal.record(request, status: nil, response: response.body, latency: Date().timeIntervalSince(started))
            return .drop
        }
        journal.record(
            request, status: response.status, response: response.body, latency: Date().timeIntervalSince(started))
        return .respond(response, delay: delay)
    }

    private func withRetryAfter(_ response: SimResponse, _ headers: [(String, String)]) -> SimResponse {
        var response = response
        response.headers += headers
        return response
    }

    /// "tenant/app" from a bearer token's claims, unverified: only a throttling bucket's key.
    static func unverifiedCaller(_ request: SimRequest) -> String? {
        guard let header = request.headers["authorization"], header.hasPrefix("Bearer ") else { return nil }
        let parts = header.dropFirst(7).split(separator: ".")
        guard parts.count == 3, let bytes = Base64URL.decode(String(parts[1])),
            let claims = try? JSONDecoder().decode([String: JSONValue].self, from: Data(bytes)),
            let tenant = claims["tid"]?.string, let app = claims["appid"]?.string
        else { return nil }
        return "\(tenant)/\(app)"
    }

    /// `/_sim/…`: statistics, faults, and a tenant's full state (never a secret).
    func admin(_ request: SimRequest) -> SimResponse {
        switch (request.method, request.path) {
        case ("GET", "/_sim/stats"):
            let body = stats.withLock { counts in
                "{" + counts.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
            }
            return .json(200, body)
        case ("GET", "/_sim/faults"):
            return .json(200, String(decoding: (try? JSONEncoder().encode(faults)) ?? Data(), as: UTF8.self))
        case ("PUT", "/_sim/faults"):
            guard let faults = try? JSONDecoder().decode(Faults.self, from: Data(request.body)) else {
                return .json(400, #"{"error":"the body is not a faults document"}"#)
            }
            setFaults(faults)
            return .json(200, String(decoding: (try? JSONEncoder().encode(faults)) ?? Data(), as: UTF8.self))
        default:
            if request.method == "PATCH", request.path.hasPrefix("/_sim/tenants/") {
                // What a customer's admin would fix: consent, subscriptions, the password-lifetime policy.
                //   {"consent": "full", "sku": "E5", "max_password_lifetime_days": 365 | null, "forbid_passwords": false}
                let key = String(request.path.dropFirst("/_sim/tenants/".count))
                guard let body = JSONValue.parse(request.body)?.object else {
                    return .json(400, #"{"error":"the body is not a JSON object"}"#)
                }
                return withWorld { world in
                    guard let tenant = world.tenant(key) else { return .json(404, #"{"error":"no such tenant"}"#) }
                    if let text = body["consent"]?.string {
                        guard let consent = WorldDescription.Consent(rawValue: text) else {
                            return .json(400, #"{"error":"consent is full, partial or none"}"#)
                        }
                        world.setConsent(consent, in: tenant)
                    }
                    if let text = body["sku"]?.string {
                        guard let sku = WorldDescription.Sku(rawValue: text) else {
                            return .json(400, #"{"error":"sku is E5, E3 or none"}"#)
                        }
                        tenant.skus = sku.catalogue
                    }
                    if case .bool(let forbid)? = body["forbid_passwords"] { tenant.forbidsPasswords = forbid }
                    if let days = body["max_password_lifetime_days"] {
                        tenant.maxPasswordLifetimeDays = days.number.map { Int($0) }
                    }
                    return .json(200, inspection(tenant).text)
                }
            }
            if request.method == "GET", request.path.hasPrefix("/_sim/tenants/") {
                let key = String(request.path.dropFirst("/_sim/tenants/".count))
                return withWorld { world in
                    guard let tenant = world.tenant(key) else { return .json(404, #"{"error":"no such tenant"}"#) }
                    return .json(200, inspection(tenant).text)
                }
            }
            return .json(404, #"{"error":"unknown simulator endpoint"}"#)
        }
    }

    /// Everything about a tenant a test or an operator may check: ids, key ids and thumbprints, never secrets.
    func inspection(_ tenant: SimTenant) -> JSONValue {
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
            "oauth2PermissionGrants": .array(tenant.permissionGrants.map(grantRepresentation)),
            "pbx": world.pbxes.values.first { $0.tenantID == tenant.id }.map { pbx in
                .object([
                    "name": .string(pbx.name), "microsoft365Integration": .object(pbx.microsoft365),
                    "teamsIntegration": .object(pbx.teams.filter { $0.key != "SbcPrivateKey" }),
                ])
            } ?? .null,
            "domains": .array(tenant.domains.values.sorted { $0.name < $1.name }.map(domainJSON)),
            "users": .array(
                tenant.users.values.sorted { $0.userPrincipalName < $1.userPrincipalName }.map { user in
                    .object([
                        "userPrincipalName": .string(user.userPrincipalName),
                        "skuIds": .array(user.skuIDs.map { .string($0.uuidString.lowercased()) }),
                    ])
                }),
            "partnerAppRoles": .array(
                (tenant.servicePrincipals[world.partnerApp.appID].map { Array($0).sorted() } ?? []).map { .string($0) }),
        ])
    }

    /// Runs `body` with the world locked.
    public func withWorld<T>(_ body: (World) -> T) -> T {
        lock.withLock { _ in body(world) }
    }

    /// The claims of a token this simulator issued, verified once and then remembered.
    func verifiedClaims(_ token: String) -> AccessClaims? {
        if let known = verifiedTokens.withLock({ $0[token] }) { return known }
        guard let (_, claims) = try? JWT.verify(token, key: verificationKey, as: AccessClaims.self) else { return nil }
        verifiedTokens.withLock { cache in
            if cache.count > 100_000 { cache.removeAll() }
            cache[token] = claims
        }
        return claims
    }

    func count(_ endpoint: String) {
        stats.withLock { $0[endpoint, default: 0] += 1 }
    }

    // MARK: Entra token endpoint

    /// `POST /{tenant}/oauth2/v2.0/token`, client credentials with a secret or a certificate assertion.
    func token(tenantKey: String, request: SimRequest) -> SimResponse {
        var form = Self.parseForm(request.bodyText)
        // client_secret_basic: the client id and secret in an HTTP Basic header instead of the form.
        if let header = request.headers["authorization"], header.hasPrefix("Basic "),
            let decoded = Data(base64Encoded: String(header.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }),
            let colon = decoded.firstIndex(of: ":")
        {
            let decode = { (s: Substring) in String(s).removingPercentEncoding ?? String(s) }
            form["client_id"] = form["client_id"] ?? decode(decoded[..<colon])
            form["client_secret"] = decode(decoded[decoded.index(after: colon)...])
        }
        return lock.withLock { _ in
            guard let tenant = world.tenant(tenantKey) else {
                return entraError(
                    400, "invalid_request", 90002,
                    "Tenant '\(tenantKey)' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
                )
            }
            guard form["grant_type"] == "client_credentials" else {
                return entraError(
                    400, "unsupported_grant_type", 70003,
                    "The app requested an unsupported grant type '\(form["grant_type"] ?? "")'.")
            }
            guard let scope = form["scope"], scope.hasSuffix("/.default") else {
                return entraError(
                    400, "invalid_scope", 1002012,
                    "The provided value for scope \(form["scope"] ?? "") is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                )
            }
            guard let clientText = form["client_id"], let clientID = UUID(uuidString: clientText) else {
                return entraError(
                    400, "invalid_request", 900144,
                    "The request body must contain the following parameter: 'client_id'.")
            }
            // A tenant's own app, or a multi-tenant app with a service principal here.
            let app: SimApplication
            if let local = tenant.application(appID: clientID) {
                app = local
            } else if clientID == world.partnerApp.appID, tenant.servicePrincipals[clientID] != nil {
                app = world.partnerApp
            } else {
                return entraError(
                    400, "unauthorized_client", 700016,
                    "Application with identifier '\(clientText)' was not found in the directory '\(tenant.displayName)'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
                )
            }
            if let secret = form["client_secret"] {
                guard let hash = try? Digest.sha256(Array(secret.utf8)),
                    let password = app.passwords.first(where: { $0.secretHash == hash })
                else {
                    return entraError(
                        401, "invalid_client", 7000215,
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '\(clientText)'."
                    )
                }
                if !propagated(password.start) {
                    return entraError(
                        401, "invalid_client", 7000215,
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '\(clientText)'."
                    )
                }
                if password.end < Date() {
                    return entraError(
                        401, "invalid_client", 7000222,
                        "The provided client secret keys for app '\(clientText)' are expired. Visit the Azure portal to create new keys for your app."
                    )
                }
            } else if let assertion = form["client_assertion"] {
                guard form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" else {
                    return entraError(400, "invalid_request", 50027, "Invalid client_assertion_type.")
                }
                if let failure = verifyAssertion(
                    assertion, app: app, clientID: clientText, tenantKey: tenantKey, host: request.headers["host"])
                {
                    return failure
                }
            } else {
                return entraError(
                    401, "invalid_client", 7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
            }
            let roles = tenant.roles(appID: app.appID)
            let now = Int(Date().timeIntervalSince1970)
            let claims = AccessTokenClaims(
                aud: String(scope.dropLast("/.default".count)),
                iss: "https://sts.windows.net/\(tenant.id.uuidString.lowercased())/",
                tid: tenant.id.uuidString.lowercased(), appid: app.appID.uuidString.lowercased(), roles: roles,
                iat: now, nbf: now, exp: now + 3599)
            guard
                let token = try? JWT.sign(claims: claims, header: JWT.Header(alg: .rs256, kid: "sim"), key: signingKey)
            else {
                return entraError(500, "server_error", 50000, "There was an error issuing a token.")
            }
            return .json(
                200, #"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"\#(token)"}"#)
        }
    }

    /// Checks a client assertion as Entra does: a certificate the app has (by `x5t#S256` or `x5t`), its
    /// signature, `aud` = this token endpoint, `iss` = `sub` = the client id, and the time window.
    private func verifyAssertion(
        _ assertion: String, app: SimApplication, clientID: String, tenantKey: String, host: String?
    ) -> SimResponse? {
        guard let header = try? JWT.decodeHeader(assertion) else {
            return entraError(400, "invalid_request", 50027, "Invalid JWT token. The token is not in a valid format.")
        }
        let key = app.keys.first { key in
            (header.x5tS256.map { Base64URL.decode($0) == key.sha256Thumbprint } ?? false)
                || (header.x5t.map { Base64URL.decode($0) == key.sha1Thumbprint } ?? false)
        }
        guard let key, propagated(key.added), let publicKey = try? key.certificate.publicKey,
            let (_, claims) = try? JWT.verify(assertion, key: publicKey, as: AssertionClaims.self)
        else {
            let thumbprint = header.x5tS256 ?? header.x5t ?? "(none)"
            return entraError(
                401, "invalid_client", 700027,
                "Client assertion failed signature validation. (Reason - The key was not found., Thumbprint of key used by client: '\(thumbprint)'.)"
            )
        }
        let expectedAudience = host.map { "http://\($0)/\(tenantKey)/oauth2/v2.0/token" }
        guard
            claims.aud == expectedAudience
                || claims.aud.hasSuffix("/\(tenantKey)/oauth2/v2.0/token") && expectedAudience == nil
        else {
            return entraError(
                400, "invalid_client", 700212,
                "No matching federated identity record found for presented assertion audience '\(claims.aud)'.")
        }
        guard claims.iss == clientID, claims.sub == clientID else {
            return entraError(
                400, "invalid_client", 700023, "Client assertion audience claim does not match Realm issuer.")
        }
        let now = Int(Date().timeIntervalSince1970)
        guard claims.exp > now else {
            return entraError(400, "invalid_client", 700024, "Client assertion is not within its valid time range.")
        }
        if let nbf = claims.nbf, nbf > now + 300 {
            return entraError(400, "invalid_client", 700024, "Client assertion is not within its valid time range.")
        }
        return nil
    }

    struct AssertionClaims: Decodable {
        var aud: String
        var iss: String
        var sub: String
        var exp: Int
        var nbf: Int?
    }

    struct AccessTokenClaims: Encodable {
        var aud: String
        var iss: String
        var tid: String
        var appid: String
        var roles: [String]
        var iat: Int
        var nbf: Int
        var exp: Int
    }

    /// Entra's error shape: `error`, `error_description` starting with the AADSTS code, `error_codes`, …
    func entraError(_ status: Int, _ error: String, _ code: Int, _ message: String) -> SimResponse {
        let trace = UUID().uuidString.lowercased()
        let correlation = UUID().uuidString.lowercased()
        let timestamp = Simulator.iso8601.string(from: Date())
        let description =
            "AADSTS\(code): \(message)\r\nTrace ID: \(trace)\r\nCorrelation ID: \(correlation)\r\nTimestamp: \(timestamp)"
        let body: [String: Any] = [
            "error": error, "error_description": description, "error_codes": [code], "timestamp": timestamp,
            "trace_id": trace, "correlation_id": correlation,
            "error_uri": "https://login.microsoftonline.com/error?code=\(code)",
        ]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        return SimResponse(
            status: status, headers: [("Content-Type", "application/json; charset=utf-8")], body: [UInt8](data))
    }

    static func parseForm(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (s: Substring) in
                String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s)
            }
            fields[decode(kv[0])] = kv.count > 1 ? decode(kv[1]) : ""
        }
        return fields
    }
}
