import Crypto
import Foundation
import HTTP

/// An app-only access token.
public struct AccessToken: Sendable, CustomStringConvertible {
    public let value: String
    public let expiresAt: ContinuousClock.Instant

    public init(value: String, expiresAt: ContinuousClock.Instant) {
        self.value = value
        self.expiresAt = expiresAt
    }

    public var description: String { "AccessToken(<redacted>)" }
}

/// How the partner app (or a tenant's own app) proves who it is.
public enum ClientCredential: Sendable {
    case secret(String)
    /// A certificate assertion: the certificate Entra knows, and its private key.
    case certificate(Certificate, PrivateKey, preferred: SignatureAlgorithm)
}

/// The key a token is cached under.
public struct TokenKey: Hashable, Sendable {
    public let authority: String
    public let tenant: String
    public let clientID: String
    public let scope: String

    public init(authority: String, tenant: String, clientID: String, scope: String) {
        self.authority = authority
        self.tenant = tenant
        self.clientID = clientID
        self.scope = scope
    }
}

/// Caches tokens per (authority, tenant, client, scope) and refreshes them `refreshMargin` before expiry.
/// However many jobs ask at once, one request per key is in flight: the first asker fetches, the others
/// wait for its result (an error included, so a broken credential is not hammered).
public actor TokenCache {
    private enum Entry {
        case ready(AccessToken)
        case fetching([CheckedContinuation<AccessToken, any Error>])
    }

    private var entries: [TokenKey: Entry] = [:]
    private let refreshMargin: Duration
    private let capacity: Int
    private var sweepAt: Int

    /// `capacity`: tokens kept at most; past it, expired ones go first, then the ones closest to expiry
    /// (a dropped token only costs a new request). A daemon onboarding 10,000 customers an hour would
    /// otherwise hold every token it ever fetched.
    public init(refreshMargin: Duration = .seconds(300), capacity: Int = 4096) {
        self.refreshMargin = refreshMargin
        self.capacity = max(1, capacity)
        self.sweepAt = min(1024, max(1, capacity))
    }

    /// Tokens held now (for tests and diagnostics).
    public var count: Int { entries.count }

    private func sweep() {
        let now = ContinuousClock.now
        entries = entries.filter { _, entry in
            if case .ready(let token) = entry { return now < token.expiresAt }
            return true
        }
        if entries.count > capacity {
            let ready = entries.compactMap { key, entry -> (TokenKey, ContinuousClock.Instant)? in
                if case .ready(let token) = entry { return (key, token.expiresAt) }
                return nil
            }.sorted { $0.1 < $1.1 }
            // Down to three quarters, so that the next sweep is a quarter of the capacity away.
            for (key, _) in ready.prefix(entries.count - capacity * 3 / 4) { entries[key] = nil }
        }
        sweepAt = min(max(1024, entries.count * 2), capacity + 1)
    }

    /// A valid token for `key`, fetched with `fetch` only when there is none (or it is about to expire).
    public func token(for key: TokenKey, fetch: @Sendable () async throws -> AccessToken) async throws -> AccessToken {
        switch entries[key] {
        case .ready(let token) where ContinuousClock.now + refreshMargin < token.expiresAt:
            return token
        case .fetching(var waiters):
            return try await withCheckedThrowingContinuation { continuation in
                waiters.append(continuation)
                entries[key] = .fetching(waiters)
            }
        default:
            entries[key] = .fetching([])
            let result: Result<AccessToken, any Error>
            do { result = .success(try await fetch()) } catch { result = .failure(error) }
            guard case .fetching(let waiters) = entries[key] else { return try result.get() }
            switch result {
            case .success(let token): entries[key] = .ready(token)
            case .failure: entries[key] = nil
            }
            if entries.count >= sweepAt { sweep() }
            for waiter in waiters { waiter.resume(with: result) }
            return try result.get()
        }
    }

    /// Forgets a token (after a 401 with it, or when its credential was rotated).
    public func invalidate(_ key: TokenKey) {
        if case .ready = entries[key] { entries[key] = nil }
    }
}

/// The claims of an Entra client assertion (RFC 7523 as Entra profiles it).
public struct ClientAssertionClaims: Codable, Sendable, Equatable {
    public var aud: String
    public var iss: String
    public var sub: String
    public var jti: String
    public var nbf: Int
    public var iat: Int
    public var exp: Int

    /// For `clientID` at `tokenURL`, valid from now for `lifetime` (Entra accepts at most 10 minutes).
    public init(clientID: String, tokenURL: String, now: Date = Date(), lifetime: TimeInterval = 600) {
        let start = Int(now.timeIntervalSince1970)
        aud = tokenURL
        iss = clientID
        sub = clientID
        jti = UUID().uuidString.lowercased()
        nbf = start
        iat = start
        exp = start + Int(min(lifetime, 600))
    }
}

/// `application/x-www-form-urlencoded`, percent-encoding everything but RFC 3986's unreserved characters.
public enum FormEncoding {
    public static func encode(_ fields: [(String, String)]) -> [UInt8] {
        let unreserved = CharacterSet(
            charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        let text = fields.map { name, value in
            "\(name.addingPercentEncoding(withAllowedCharacters: unreserved) ?? name)=\(value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? value)"
        }.joined(separator: "&")
        return Array(text.utf8)
    }
}

/// Client-credentials tokens from Entra ID's v2.0 endpoint, cached.
public struct TokenClient: Sendable {
    public let http: HTTPClient
    public let cache: TokenCache
    /// `https://login.microsoftonline.com`, or the simulator.
    public let loginBaseURL: String

    public init(
        http: HTTPClient, cache: TokenCache = TokenCache(), loginBaseURL: String = "https://login.microsoftonline.com"
    ) {
        self.http = http
        self.cache = cache
        self.loginBaseURL = loginBaseURL
    }

    /// The same cache and connections, another cloud's authority (tokens are cached per authority).
    public func with(loginBaseURL: String) -> TokenClient {
        loginBaseURL == self.loginBaseURL ? self : TokenClient(http: http, cache: cache, loginBaseURL: loginBaseURL)
    }

    public func tokenURL(tenant: String) -> String { "\(loginBaseURL)/\(tenant)/oauth2/v2.0/token" }

    /// A token for `scope` in `tenant`. `context` tells the classifier whether the credential is new.
    public func token(
        tenant: String, clientID: String, credential: ClientCredential,
        scope: String = "https://graph.microsoft.com/.default", context: FailureContext = FailureContext()
    ) async throws -> AccessToken {
        let key = TokenKey(authority: loginBaseURL, tenant: tenant, clientID: clientID, scope: scope)
        return try await cache.token(for: key) {
            try await fetch(tenant: tenant, clientID: clientID, credential: credential, scope: scope, context: context)
        }
    }

    /// A token fetched now, past the cache: how a new credential is proven to work (a cached token
    /// obtained with another credential of the same app would prove nothing).
    public func freshToken(
        tenant: String, clientID: String, credential: ClientCredential,
        scope: String = "https://graph.microsoft.com/.default", context: FailureContext = FailureContext()
    ) async throws -> AccessToken {
        try await fetch(tenant: tenant, clientID: clientID, credential: credential, scope: scope, context: context)
    }

    func fetch(
        tenant: String, clientID: String, credential: ClientCredential, scope: String, context: FailureContext
    ) async throws -> AccessToken {
        switch credential {
        case .secret(let secret):
            return try await request(
                tenant: tenant,
                fields: [
                    ("grant_type", "client_credentials"), ("client_id", clientID), ("scope", scope),
                    ("client_secret", secret),
                ], context: context)
        case .certificate(let certificate, let key, let preferred):
            do {
                return try await assertionRequest(tenant, clientID, scope, certificate, key, preferred, context)
            } catch let error as GraphError where error.code == "AADSTS700027" && preferred == .ps256 {
                // Entra matches the certificate by x5t#S256 for PS256; some tenants still know it only by
                // x5t: try once more the RS256 way before giving up.
                return try await assertionRequest(tenant, clientID, scope, certificate, key, .rs256, context)
            }
        }
    }

    private func assertionRequest(
        _ tenant: String, _ clientID: String, _ scope: String, _ certificate: Certificate, _ key: PrivateKey,
        _ algorithm: SignatureAlgorithm, _ context: FailureContext
    ) async throws -> AccessToken {
        let claims = ClientAssertionClaims(clientID: clientID, tokenURL: tokenURL(tenant: tenant))
        let assertion = try JWT.sign(
            claims: claims, header: JWT.Header(alg: algorithm, certificate: certificate), key: key)
        return try await request(
            tenant: tenant,
            fields: [
                ("grant_type", "client_credentials"), ("client_id", clientID), ("scope", scope),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion),
            ], context: context)
    }

    private func request(tenant: String, fields: [(String, String)], context: FailureContext) async throws
        -> AccessToken
    {
        let started = ContinuousClock.now
        let response: HTTPResponse
        do {
            response = try await http.execute(
                HTTPRequest(
                    method: "POST", url: tokenURL(tenant: tenant),
                    headers: [("Content-Type", "application/x-www-form-urlencoded")], body: FormEncoding.encode(fields))
            )
        } catch let error as HTTPError {
            throw FailureClassifier.classify(error)
        }
        guard response.status == 200 else {
            var context = context
            context.tenantID = context.tenantID ?? tenant
            context.clientID = context.clientID ?? fields.first { $0.0 == "client_id" }?.1
            context.loginBaseURL = loginBaseURL
            throw FailureClassifier.classify(response, context: context)
        }
        struct Body: Decodable {
            var access_token: String
            var expires_in: Int
        }
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(response.body)) else {
            throw GraphError(
                failure: .transient(retryAfter: nil), status: 200, code: nil,
                message: "the token endpoint answered without a token", clientRequestID: response.clientRequestID,
                serverRequestID: nil)
        }
        return AccessToken(value: body.access_token, expiresAt: started + .seconds(body.expires_in))
    }
}

extension ClientCredential {
    /// A certificate credential from one PEM file holding the certificate and its private key (the format
    /// of Azure Identity's `AZURE_CLIENT_CERTIFICATE_PATH`).
    public static func certificate(pemFile path: String, preferred: SignatureAlgorithm = .ps256) throws
        -> ClientCredential
    {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw CryptoError(operation: "reading \(path)", reasons: [error.localizedDescription])
        }
        guard text.contains("PRIVATE KEY-----") else {
            throw CryptoError(
                operation: "reading \(path)",
                reasons: ["the file holds no private key; it needs the certificate and its key"])
        }
        return .certificate(try Certificate(pem: text), try PrivateKey(pem: text), preferred: preferred)
    }

    /// A certificate credential from the certificate's PEM and its private key's PEM, kept apart (an MSP's
    /// partner certificate is stored in the clear, its key sealed).
    public static func certificate(
        certificatePEM: String, keyPEM: String, preferred: SignatureAlgorithm = .ps256
    ) throws -> ClientCredential {
        .certificate(try Certificate(pem: certificatePEM), try PrivateKey(pem: keyPEM), preferred: preferred)
    }
}
