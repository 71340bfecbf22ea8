import Crypto
import Foundation
import Synchronization

/// Entra ID's token endpoint, `POST /{tenant}/oauth2/v2.0/token`: client credentials with a secret (in the
/// form or HTTP Basic) or a certificate assertion, for a tenant's own app or a multi-tenant app consented
/// there; access tokens signed RS256 with the roles the app holds. It also serves the OpenID Connect
/// discovery a client reads first (`EntraDiscovery`), and verifies the tokens it issued, for Graph.
final class EntraTokenService: Sendable {
    private let directory: DirectoryStore
    private let faults: FaultController
    private let counter: RequestCounter
    /// Signs the access tokens it issues (RS256), as Entra's own keys do.
    private let signingKey: PrivateKey
    private let verificationKey: PublicKey
    /// The signing key's self-signed certificate, published in the key set (`x5c`, `x5t` = `kid`).
    private let signingCertificate: Certificate
    private let keyID: String
    /// `http` or `https`, as the server was started: the token endpoint an assertion must name.
    private let scheme: @Sendable () -> String
    /// Tokens already verified, with their claims: a client reuses its token for an hour, and an RSA
    /// verification per request would make the simulator a benchmark's bottleneck.
    private let verifiedTokens = Mutex([String: AccessClaims]())

    init(
        directory: DirectoryStore, faults: FaultController, counter: RequestCounter,
        scheme: @escaping @Sendable () -> String
    ) throws {
        self.directory = directory
        self.faults = faults
        self.counter = counter
        self.scheme = scheme
        signingKey = try PrivateKey.generateRSA(bits: 2048)
        verificationKey = try signingKey.publicKey
        signingCertificate = try Certificate.issue(.init(commonName: "onboarder-sim token signing"), for: signingKey)
        keyID = Base64URL.encode(try signingCertificate.sha1Thumbprint)
    }

    typealias Call = ServiceCall<EntraTokenService>

    /// The token endpoint and the discovery documents; anything else under `/{tenant}/oauth2/` (and the v1
    /// discovery, whose token endpoint the simulator does not serve) is the simulator's 404.
    private static let table = RouteTable<Call>([
        Route("POST", "/{tenant}/oauth2/{version}/token") { $0.service.token($0) },
        Route("GET", "/{tenant}/v2.0/.well-known/openid-configuration") { $0.service.configuration($0) },
        Route("GET", "/{tenant}/discovery/v2.0/keys") { $0.service.keys($0) },
    ])

    /// Where the client reached the simulator, from the scheme it serves and the request's `Host`.
    private func base(_ request: SimRequest) -> String {
        "\(scheme())://\(request.headers["host"] ?? "localhost")"
    }

    /// The tenant a discovery path names: its id (nil for `common` and the other multi-tenant authorities),
    /// or Entra's AADSTS90002 when there is no such tenant.
    private func discoveryTenant(_ key: String) -> Result<String?, DiscoveryRefusal> {
        if EntraDiscovery.multiTenantAuthorities.contains(key.lowercased()) { return .success(nil) }
        guard let id = directory.withWorld({ $0.tenant(key)?.id }) else {
            return .failure(
                DiscoveryRefusal(
                    response: EntraErrors.response(
                        400, "invalid_tenant", 90002,
                        "Tenant '\(key)' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
                    )))
        }
        return .success(id.uuidString.lowercased())
    }

    struct DiscoveryRefusal: Error {
        let response: SimResponse
    }

    /// `GET /{tenant}/v2.0/.well-known/openid-configuration`: the URLs name the tenant by its id, however
    /// the request named it, as Entra's do.
    private func configuration(_ call: Call) -> SimResponse {
        switch discoveryTenant(call["tenant"]) {
        case .failure(let refusal): return refusal.response
        case .success(let id):
            let discovery = EntraDiscovery(base: base(call.request))
            return EntraDiscovery.json(
                discovery.configuration(segment: id ?? call["tenant"].lowercased(), tenantID: id))
        }
    }

    /// `GET /{tenant}/discovery/v2.0/keys`: the key the access tokens are signed with.
    private func keys(_ call: Call) -> SimResponse {
        switch discoveryTenant(call["tenant"]) {
        case .failure(let refusal): return refusal.response
        case .success(let id):
            guard let keys = try? EntraDiscovery(base: base(call.request)).keys([signingCertificate], tenantID: id)
            else { return EntraErrors.response(500, "server_error", 50000, "There was an error reading the keys.") }
            return EntraDiscovery.json(keys)
        }
    }

    func handle(_ request: SimRequest) -> SimResponse {
        guard case .found(let route, let parameters) = Self.table.resolve(request) else {
            return .unknownEndpoint(request)
        }
        return route.handle(Call(service: self, request: request, parameters: parameters))
    }

    /// The claims Graph reads from an access token.
    struct AccessClaims: Decodable {
        var tid: String
        var roles: [String]?
        var aud: String
        var exp: Int
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

    /// `POST /{tenant}/oauth2/v2.0/token`, client credentials with a secret or a certificate assertion.
    private func token(_ call: Call) -> SimResponse {
        counter.count("POST token")
        return issue(call.request, tenantKey: call["tenant"])
    }

    /// The token endpoint's answer to `request` (a token request for `tenantKey`): every check Entra makes
    /// and the sign-in activity it records. A simulated PBX signs in through this too, so what it holds
    /// meets the same checks (propagation, expiry, removal) as any client's credentials.
    func issue(_ request: SimRequest, tenantKey: String) -> SimResponse {
        var form = FormBody.parse(request.bodyText)
        // client_secret_basic: the client id and secret in an HTTP Basic header instead of the form.
        if let header = request.headers["authorization"], header.hasPrefix("Basic "),
            let decoded = Data(base64Encoded: String(header.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }),
            let colon = decoded.firstIndex(of: ":")
        {
            let decode = { (s: Substring) in String(s).removingPercentEncoding ?? String(s) }
            form["client_id"] = form["client_id"] ?? decode(decoded[..<colon])
            form["client_secret"] = decode(decoded[decoded.index(after: colon)...])
        }
        return directory.withWorld { world in
            guard let tenant = world.tenant(tenantKey) else {
                return EntraErrors.response(
                    400, "invalid_request", 90002,
                    "Tenant '\(tenantKey)' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
                )
            }
            guard form["grant_type"] == "client_credentials" else {
                return EntraErrors.response(
                    400, "unsupported_grant_type", 70003,
                    "The app requested an unsupported grant type '\(form["grant_type"] ?? "")'.")
            }
            guard let scope = form["scope"], scope.hasSuffix("/.default") else {
                return EntraErrors.response(
                    400, "invalid_scope", 1002012,
                    "The provided value for scope \(form["scope"] ?? "") is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                )
            }
            guard let clientText = form["client_id"], let clientID = UUID(uuidString: clientText) else {
                return EntraErrors.response(
                    400, "invalid_request", 900144,
                    "The request body must contain the following parameter: 'client_id'.")
            }
            // A tenant's own app, or a multi-tenant app with a service principal here.
            let app: SimApplication
            if let local = tenant.application(appID: clientID) {
                app = local
            } else if let partner = world.partner(appID: clientID), tenant.servicePrincipals[clientID] != nil {
                // Some MSP's partner app, consented here (its service principal exists).
                app = partner.app
            } else {
                return EntraErrors.response(
                    400, "unauthorized_client", 700016,
                    "Application with identifier '\(clientText)' was not found in the directory '\(tenant.displayName)'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
                )
            }
            // The credential that signed in: its keyId, type, and validity, for the sign-in activity report.
            let used: (keyID: UUID, type: CredentialSignIn.KeyType, start: Date, end: Date)
            if let secret = form["client_secret"] {
                guard let hash = try? Digest.sha256(Array(secret.utf8)),
                    let password = app.passwords.first(where: { $0.secretHash == hash })
                else {
                    return EntraErrors.response(
                        401, "invalid_client", 7000215,
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '\(clientText)'."
                    )
                }
                if !faults.propagated(password.start) {
                    return EntraErrors.response(
                        401, "invalid_client", 7000215,
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '\(clientText)'."
                    )
                }
                if password.end < Date() {
                    return EntraErrors.response(
                        401, "invalid_client", 7000222,
                        "The provided client secret keys for app '\(clientText)' are expired. Visit the Azure portal to create new keys for your app."
                    )
                }
                used = (password.keyID, .clientSecret, password.start, password.end)
            } else if let assertion = form["client_assertion"] {
                guard form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" else {
                    return EntraErrors.response(400, "invalid_request", 50027, "Invalid client_assertion_type.")
                }
                let audiences = ClientAssertionAudience.accepted(
                    base: base(request), tenantNames: [tenantKey, tenant.id.uuidString, tenant.defaultDomain])
                switch verifyAssertion(assertion, app: app, clientID: clientText, audiences: audiences) {
                case .refused(let failure): return failure
                case .accepted(let key):
                    let certificate = key.certificate
                    used = (key.keyID, .certificate, certificate.notBefore, certificate.notAfter)
                }
            } else {
                return EntraErrors.response(
                    401, "invalid_client", 7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
            }
            let roles = tenant.roles(appID: app.appID)
            if world.partner(appID: app.appID) == nil {
                recordSignIn(in: tenant, app: app, credential: used)
            }
            tenant.tokensIssued[app.appID, default: 0] += 1
            let now = Int(Date().timeIntervalSince1970)
            let claims = AccessTokenClaims(
                aud: String(scope.dropLast("/.default".count)),
                iss: "https://sts.windows.net/\(tenant.id.uuidString.lowercased())/",
                tid: tenant.id.uuidString.lowercased(), appid: app.appID.uuidString.lowercased(), roles: roles,
                iat: now, nbf: now, exp: now + 3599)
            guard
                let token = try? JWT.sign(
                    claims: claims, header: JWT.Header(alg: .rs256, kid: keyID, x5t: keyID), key: signingKey)
            else {
                return EntraErrors.response(500, "server_error", 50000, "There was an error issuing a token.")
            }
            return .json(
                200, #"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"\#(token)"}"#)
        }
    }

    /// Entra's per-credential sign-in activity: the last successful sign-in with each credential of the
    /// tenant's own app (the partner app's credentials belong to the MSP's tenant, not this one).
    private func recordSignIn(
        in tenant: SimTenant, app: SimApplication,
        credential: (keyID: UUID, type: CredentialSignIn.KeyType, start: Date, end: Date)
    ) {
        let now = Date()
        if var known = tenant.credentialSignIns[credential.keyID] {
            known.lastSignIn = now
            known.lastRequestID = UUID()
            tenant.credentialSignIns[credential.keyID] = known
            return
        }
        tenant.credentialSignIns[credential.keyID] = CredentialSignIn(
            keyID: credential.keyID, keyType: credential.type, appID: app.appID, appObjectID: app.id,
            servicePrincipalID: tenant.principal(appID: app.appID)?.id, resourceID: tenant.graphPrincipal.id,
            credentialCreated: credential.start, credentialExpires: credential.end, lastSignIn: now,
            lastRequestID: UUID())
    }

    enum AssertionCheck {
        case accepted(KeyCredential)
        case refused(SimResponse)
    }

    /// Checks a client assertion as Entra does: a certificate the app has (by `x5t#S256` or `x5t`), its
    /// signature, `aud` = this token endpoint as served, `iss` = `sub` = the client id, and the time window
    /// (NumericDates, which may be fractional: MSAL sends them so).
    private func verifyAssertion(
        _ assertion: String, app: SimApplication, clientID: String, audiences: Set<String>
    ) -> AssertionCheck {
        guard let header = try? JWT.decodeHeader(assertion) else {
            return .refused(
                EntraErrors.response(
                    400, "invalid_request", 50027, "Invalid JWT token. The token is not in a valid format."))
        }
        let key = app.keys.first { key in
            (header.x5tS256.map { Base64URL.decode($0) == key.sha256Thumbprint } ?? false)
                || (header.x5t.map { Base64URL.decode($0) == key.sha1Thumbprint } ?? false)
        }
        guard let key, faults.propagated(key.added), let publicKey = try? key.certificate.publicKey,
            let (_, claimsObject) = try? JWT.verify(assertion, key: publicKey, as: [String: JSONValue].self)
        else {
            let thumbprint = header.x5tS256 ?? header.x5t ?? "(none)"
            return .refused(
                EntraErrors.response(
                    401, "invalid_client", 700027,
                    "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '\(thumbprint)']"
                ))
        }
        // Signed by a key the app has: what is wrong now is the content, which Entra names as such.
        guard let claims = AssertionClaims(claimsObject) else {
            return .refused(
                EntraErrors.response(
                    400, "invalid_client", 50027,
                    "JWT token is invalid or malformed: the assertion needs aud, iss and sub as strings and exp as a NumericDate."
                ))
        }
        guard audiences.contains(claims.aud.lowercased()) else {
            return .refused(
                EntraErrors.response(
                    400, "invalid_client", 700212,
                    "No matching federated identity record found for presented assertion audience '\(claims.aud)'."))
        }
        guard claims.iss == clientID, claims.sub == clientID else {
            return .refused(
                EntraErrors.response(
                    400, "invalid_client", 700023, "Client assertion audience claim does not match Realm issuer."))
        }
        let now = Date().timeIntervalSince1970
        guard claims.exp > now else {
            return .refused(
                EntraErrors.response(
                    400, "invalid_client", 700024, "Client assertion is not within its valid time range."))
        }
        if let nbf = claims.nbf, nbf > now + 300 {
            return .refused(
                EntraErrors.response(
                    400, "invalid_client", 700024, "Client assertion is not within its valid time range."))
        }
        return .accepted(key)
    }

    /// The claims an assertion is checked on; `exp` and `nbf` are NumericDates (RFC 7519 §2: seconds,
    /// possibly fractional).
    struct AssertionClaims {
        var aud: String
        var iss: String
        var sub: String
        var exp: Double
        var nbf: Double?

        init?(_ object: [String: JSONValue]) {
            guard let aud = object["aud"]?.string, let iss = object["iss"]?.string, let sub = object["sub"]?.string,
                let exp = object["exp"]?.number
            else { return nil }
            (self.aud, self.iss, self.sub, self.exp) = (aud, iss, sub, exp)
            if let nbf = object["nbf"] {
                guard let value = nbf.number else { return nil }
                self.nbf = value
            }
        }
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
}
