import Crypto
import Foundation
import HTTP

/// Partner Center's Control Panel Vendor consent API, the one call Onboarder makes there:
///   POST {partner center}/v1/customers/{customer tenant id}/applicationconsents
///        {"applicationId", "displayName", "applicationGrants": [{"enterpriseApplicationId", "scope"}]}
///
/// What Microsoft documents, and what Onboarder relies on (README, "Consent through Partner Center"):
/// - learn.microsoft.com/partner-center/developer/control-panel-vendor-apis: the request above, `DELETE
///   …/applicationconsents/{application id}`, an access token "for audience https://api.partnercenter.microsoft.com",
///   `ms-correlationid` / `ms-requestid` headers, 200/201 on success, 400/401/403 refusals, and at most 50
///   requests a second per applicationId (past it: 429 with Retry-After).
/// - learn.microsoft.com/powershell/partnercenter/exchange-online-gdap-app (Microsoft's GDAP sample for this
///   API): the token is app+user — the partner app's `user_impersonation` scope on Partner Center
///   (fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd), obtained with an authorization code and then a refresh token (the
///   secure application model) — for a user who is in the partner's AdminAgents group and in the security
///   group of a GDAP relationship the customer approved with Global admin, Privileged role admin or Cloud
///   application admin. The partner center authentication page adds that not every operation takes app-only
///   tokens; Microsoft's samples for this one all use app+user.
/// - What it grants: the listed scopes per resource, as delegated permissions (a tenant-wide
///   oauth2PermissionGrant), and the app's service principal in the customer tenant. Microsoft's samples pass
///   delegated scopes only (Directory.AccessAsUser.All, Exchange.Manage, user_impersonation), and the largest
///   public user of the API (CIPP: Set-CIPPCPVConsent) consents delegated scopes through it and assigns
///   application permissions separately through Graph's appRoleAssignedTo. So it does not give the app-only
///   application roles Onboarder's partner app signs in with: those still need the customer's admin consent
///   (or a Graph app-role assignment by someone holding Privileged Role Administrator there).
public struct PartnerCenterClient: Sendable {
    public static let scope = "https://api.partnercenter.microsoft.com/.default"
    /// Microsoft Graph's application id: the `enterpriseApplicationId` of a Graph grant.
    public static let graphResource = KnownGraphPermissions.resourceAppID

    public let http: HTTPClient
    /// `https://api.partnercenter.microsoft.com`, or the simulator's.
    public let baseURL: String
    public let loginBaseURL: String

    public init(http: HTTPClient, baseURL: String, loginBaseURL: String) {
        self.http = http
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.loginBaseURL = loginBaseURL
    }

    /// One grant of the consent: scopes of one resource application, comma-separated as Microsoft's samples send.
    public struct Grant: Encodable, Sendable, Equatable {
        public var enterpriseApplicationId: String
        public var scope: String

        public init(enterpriseApplicationId: String, scopes: [String]) {
            self.enterpriseApplicationId = enterpriseApplicationId
            self.scope = scopes.joined(separator: ",")
        }
    }

    /// The consent's body.
    public struct Consent: Encodable, Sendable, Equatable {
        public var applicationId: String
        public var displayName: String
        public var applicationGrants: [Grant]

        public init(applicationId: String, displayName: String, applicationGrants: [Grant]) {
            self.applicationId = applicationId
            self.displayName = displayName
            self.applicationGrants = applicationGrants
        }
    }

    /// Partner Center's answer: its status, its `description` (or the body's start), and `Retry-After`.
    public struct Answer: Sendable, Equatable {
        public var status: Int?
        public var description: String
        public var retryAfter: Duration?

        public init(status: Int?, description: String, retryAfter: Duration?) {
            self.status = status
            self.description = description
            self.retryAfter = retryAfter
        }
    }

    /// An app+user access token for Partner Center from the admin agent's refresh token (Entra's
    /// refresh-token grant in the partner's own tenant, with the partner app's credential). Not cached: a job
    /// asks Partner Center at most once per look, and the answer carries a new refresh token Onboarder does
    /// not store (the one it holds stays valid until it expires or is revoked).
    public func token(
        partnerTenant: String, clientID: String, credential: ClientCredential, refreshToken: String
    ) async throws -> String {
        let tokenURL = "\(loginBaseURL)/\(partnerTenant)/oauth2/v2.0/token"
        var fields = [
            ("grant_type", "refresh_token"), ("client_id", clientID), ("refresh_token", refreshToken),
            ("scope", Self.scope),
        ]
        switch credential {
        case .secret(let secret): fields.append(("client_secret", secret))
        case .certificate(let certificate, let key, let preferred):
            let assertion = try JWT.sign(
                claims: ClientAssertionClaims(clientID: clientID, tokenURL: tokenURL),
                header: JWT.Header(alg: preferred, certificate: certificate), key: key)
            fields += [
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion),
            ]
        }
        let response: HTTPResponse
        do {
            response = try await http.execute(
                HTTPRequest(
                    method: "POST", url: tokenURL, headers: [("Content-Type", "application/x-www-form-urlencoded")],
                    body: FormEncoding.encode(fields)))
        } catch let error as HTTPError {
            throw FailureClassifier.classify(error)
        }
        guard response.status == 200 else {
            throw FailureClassifier.classify(
                response,
                context: FailureContext(tenantID: partnerTenant, clientID: clientID, loginBaseURL: loginBaseURL))
        }
        struct Body: Decodable { var access_token: String }
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(response.body)) else {
            throw GraphError(
                failure: .transient(retryAfter: nil), status: 200, code: nil,
                message: "the token endpoint answered without a token", clientRequestID: response.clientRequestID,
                serverRequestID: nil)
        }
        return body.access_token
    }

    /// `POST /v1/customers/{customer}/applicationconsents`, once (a write: never retried here). A transport
    /// failure is an answer without a status.
    public func consent(customer: String, _ consent: Consent, token: String) async -> Answer {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let path = customer.addingPercentEncoding(withAllowedCharacters: allowed) ?? customer
        let correlation = UUID().uuidString.lowercased()
        do {
            let response = try await http.execute(
                HTTPRequest(
                    method: "POST", url: "\(baseURL)/v1/customers/\(path)/applicationconsents",
                    headers: [
                        ("Authorization", "Bearer \(token)"), ("Accept", "application/json"),
                        ("Content-Type", "application/json"), ("ms-correlationid", correlation),
                        ("ms-requestid", UUID().uuidString.lowercased()),
                    ], body: Array(try JSONEncoder().encode(consent))))
            struct ErrorBody: Decodable { var description: String? }
            let described =
                (try? JSONDecoder().decode(ErrorBody.self, from: Data(response.body)))?.description
                ?? String(decoding: response.body.prefix(200), as: UTF8.self)
            return Answer(
                status: response.status, description: described,
                retryAfter: response.header("retry-after").flatMap(FailureClassifier.parseRetryAfter))
        } catch {
            return Answer(status: nil, description: "\(error)", retryAfter: nil)
        }
    }
}
