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
    private let server: Mutex<SimHTTPServer?> = Mutex(nil)

    public init(world: World) throws {
        self.world = world
        self.signingKey = try PrivateKey.generateRSA(bits: 2048)
    }

    /// Serves on 127.0.0.1:`port` (0: any free port); returns the base URL.
    public func start(port: UInt16 = 0) throws -> String {
        let server = try SimHTTPServer(port: port) { [self] request in self.handle(request) }
        self.server.withLock { $0 = server }
        return "http://127.0.0.1:\(server.port)"
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
        let segments = request.path.split(separator: "/").map(String.init)
        if request.method == "POST", segments.count == 4, segments[1] == "oauth2", segments[2] == "v2.0",
            segments[3] == "token"
        {
            count("POST token")
            return .respond(token(tenantKey: segments[0], request: request), delay: .zero)
        }
        if request.path.hasPrefix("/v1.0/") {
            return .respond(graph(request), delay: .zero)
        }
        if request.method == "GET", request.path == "/_sim/stats" {
            let body = stats.withLock { counts in
                "{" + counts.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
            }
            return .respond(.json(200, body), delay: .zero)
        }
        return .respond(
            .json(
                404,
                #"{"error":{"code":"UnknownEndpoint","message":"The simulator does not serve \#(request.method) \#(request.path)."}}"#
            ), delay: .zero)
    }

    /// Runs `body` with the world locked.
    func withWorld<T>(_ body: (World) -> T) -> T {
        lock.withLock { _ in body(world) }
    }

    func signingPublicKey() throws -> PublicKey { try signingKey.publicKey }

    func count(_ endpoint: String) {
        stats.withLock { $0[endpoint, default: 0] += 1 }
    }

    // MARK: Entra token endpoint

    /// `POST /{tenant}/oauth2/v2.0/token`, client credentials with a secret or a certificate assertion.
    func token(tenantKey: String, request: SimRequest) -> SimResponse {
        let form = Self.parseForm(request.bodyText)
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
        guard let key, let publicKey = try? key.certificate.publicKey,
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
        let timestamp = ISO8601DateFormatter().string(from: Date())
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
