import Crypto
import Foundation
import Synchronization

/// The app+user tokens Partner Center's consent API takes: Entra's refresh-token grant in the partner's own
/// tenant (the secure application model: an admin agent consented the partner app once, interactively, with
/// MFA; the refresh token it left is what a service keeps), for the audience
/// `https://api.partnercenter.microsoft.com`. Modelled beside Partner Center rather than in the token
/// endpoint: nothing else in the simulator uses a user's token. The token endpoint's route hands this the
/// requests with `grant_type=refresh_token`; client credentials stay `EntraTokenService`'s.
final class PartnerCenterTokens: Sendable {
    static let audience = "https://api.partnercenter.microsoft.com"
    /// Partner Center's first-party application id (its delegated `user_impersonation` scope).
    static let resourceAppID = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"

    private let directory: DirectoryStore
    private let state: PartnerCenterState
    /// The access tokens issued, by value: opaque random strings (a client never reads an access token, and a
    /// key pair of its own here would be one more OpenSSL object alive at a test process's exit).
    private let issued = Mutex([String: Claims]())

    init(directory: DirectoryStore, state: PartnerCenterState) throws {
        self.directory = directory
        self.state = state
    }

    struct Claims: Codable, Sendable {
        var aud: String
        var tid: String
        var appid: String
        var oid: String
        var scp: String
        var iat: Int
        var exp: Int
    }

    /// Whether `request` to the token endpoint is a refresh-token grant (this type's to answer).
    static func isRefreshGrant(_ request: SimRequest) -> Bool {
        request.method == "POST" && FormBody.parse(request.bodyText)["grant_type"] == "refresh_token"
    }

    /// `POST /{tenant}/oauth2/v2.0/token` with `grant_type=refresh_token`: the partner app's client secret,
    /// a refresh token its admin agent left, a Partner Center scope.
    func grant(_ request: SimRequest, tenantKey: String) -> SimResponse {
        let form = FormBody.parse(request.bodyText)
        return directory.withWorld { world in
            guard let tenant = world.tenant(tenantKey) else {
                return EntraErrors.response(400, "invalid_request", 90002, "Tenant '\(tenantKey)' not found.")
            }
            guard let refresh = form["refresh_token"], let agent = state.agent(refreshToken: refresh),
                agent.partner == tenant.id
            else {
                return EntraErrors.response(
                    400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
            }
            guard let clientText = form["client_id"], let clientID = UUID(uuidString: clientText),
                let app = tenant.application(appID: clientID)
            else {
                return EntraErrors.response(
                    400, "unauthorized_client", 700016,
                    "Application with identifier '\(form["client_id"] ?? "")' was not found in the directory '\(tenant.displayName)'."
                )
            }
            guard let secret = form["client_secret"], let hash = try? Digest.sha256(Array(secret.utf8)),
                app.passwords.contains(where: { $0.secretHash == hash })
            else {
                return EntraErrors.response(
                    401, "invalid_client", 7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '\(clientText)'."
                )
            }
            let scope = form["scope"] ?? ""
            guard
                scope.split(separator: " ").contains(where: {
                    $0 == "\(Self.audience)/.default" || $0 == "\(Self.audience)/user_impersonation"
                })
            else {
                return EntraErrors.response(
                    400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid.")
            }
            let now = Int(Date().timeIntervalSince1970)
            let claims = Claims(
                aud: Self.audience, tid: tenant.id.uuidString.lowercased(), appid: clientText.lowercased(),
                oid: agent.user.uuidString.lowercased(), scp: "user_impersonation", iat: now, exp: now + 3599)
            var random = SystemRandomNumberGenerator()
            let token = "pcat~" + Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &random) })
            issued.withLock { $0[token] = claims }
            return .json(
                200,
                #"{"token_type":"Bearer","scope":"\#(Self.audience)/user_impersonation","expires_in":3599,"access_token":"\#(token)","refresh_token":"\#(refresh)"}"#
            )
        }
    }

    /// The claims of an app+user token this issued and that has not expired, or nil.
    func verified(_ token: String) -> Claims? {
        guard let claims = issued.withLock({ $0[token] }), claims.aud == Self.audience,
            claims.exp > Int(Date().timeIntervalSince1970)
        else { return nil }
        return claims
    }
}
