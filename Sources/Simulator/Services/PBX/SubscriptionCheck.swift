import Crypto
import Foundation

/// `TestSubscription()` as a PBX does it: sign in to Entra with what it holds — its client secret, and a
/// client assertion signed with its own key — and read Graph with the token. The requests go to the
/// simulator's own token service and Graph in process, so every check Entra makes (a secret not yet
/// propagated, expired or removed; a certificate not on the app) answers the PBX as it answers anyone.
/// The PBX asks for a new token on every test, so a credential removed a moment ago fails at once.
extension PBXService {
    /// nil when the subscription works; else the first thing missing or refused, as the XAPI's
    /// `ExceptionMessage` names it.
    func subscriptionProblem(_ pbx: SimPBX, host: String) -> String? {
        let current = read(pbx)
        let (tenantText, appText) = (current.tenantID, current.applicationID)
        guard let tenantID = UUID(uuidString: tenantText), tenantID == pbx.tenantID, UUID(uuidString: appText) != nil
        else {
            return "The Microsoft 365 tenant and application ids are not set, or are not this customer's."
        }
        guard current.signedIn else {
            return
                "Not signed in to Microsoft 365: \"Log into Microsoft 365\" has not been done for this tenant and application."
        }
        guard let secret = current.custody.secret else {
            return "No client secret: the application's client secret has not been entered on the PBX."
        }
        guard let (key, certificate) = current.custody.keyPair else {
            return "No key pair: \"Generate New Key Pair\" has not been done on the PBX."
        }
        let endpoint = "\(scheme())://\(host)/\(tenantText)/oauth2/v2.0/token"
        let common = [
            "grant_type": "client_credentials", "client_id": appText, "scope": "https://graph.microsoft.com/.default",
        ]
        let withSecret: Result<String, SignInRefusal>
        let withCertificate: Result<String, SignInRefusal>
        withSecret = token(common.merging(["client_secret": secret]) { $1 }, tenant: tenantText, host: host)
        do {
            let assertion = try Self.assertion(appID: appText, audience: endpoint, key: key, certificate: certificate)
            withCertificate = token(
                common.merging([
                    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    "client_assertion": assertion,
                ]) { $1 }, tenant: tenantText, host: host)
        } catch {
            return "The PBX could not sign a client assertion with its key pair."
        }
        let accessToken: String
        switch (withSecret, withCertificate) {
        case (.failure(let refusal), _), (_, .failure(let refusal)): return refusal.message
        case (.success(let token), .success): accessToken = token
        }
        return graphRefusal(token: accessToken, host: host)
    }

    struct SignInRefusal: Error {
        let message: String
    }

    /// A token from the token service, or Entra's error as its description's first line names it
    /// (`AADSTS7000215: Invalid client secret provided. …`).
    private func token(_ form: [String: String], tenant: String, host: String) -> Result<String, SignInRefusal> {
        let request = SimRequest(
            method: "POST", path: "/\(tenant)/oauth2/v2.0/token",
            headers: ["host": host, "content-type": "application/x-www-form-urlencoded"],
            body: Array(FormBody.encode(form).utf8))
        let response = tokens.issue(request, tenantKey: tenant)
        let body = JSONValue.parse(response.body)
        if response.status == 200, let token = body?["access_token"]?.string { return .success(token) }
        let description = body?["error_description"]?.string ?? "Entra answered \(response.status)."
        let firstLine = description.components(separatedBy: "\r\n").first ?? description
        return .failure(SignInRefusal(message: firstLine))
    }

    /// The client assertion a PBX signs: RS256 with its key, `x5t` its certificate's SHA-1 thumbprint,
    /// `aud` the token endpoint, `iss` = `sub` = the application id, ten minutes valid.
    static func assertion(appID: String, audience: String, key: PrivateKey, certificate: Certificate) throws -> String {
        struct Claims: Encodable {
            let aud: String
            let iss: String
            let sub: String
            let jti: String
            let nbf: Int
            let iat: Int
            let exp: Int
        }
        let now = Int(Date().timeIntervalSince1970)
        return try JWT.sign(
            claims: Claims(
                aud: audience, iss: appID, sub: appID, jti: UUID().uuidString.lowercased(), nbf: now, iat: now,
                exp: now + 600),
            header: JWT.Header(alg: .rs256, x5t: Base64URL.encode(try certificate.sha1Thumbprint)), key: key)
    }

    /// What the integration reads first, the users it syncs (`GET /v1.0/users?$top=1`); nil when Graph
    /// answers, else its refusal.
    private func graphRefusal(token: String, host: String) -> String? {
        let response = graph.handle(
            SimRequest(
                method: "GET", path: "/v1.0/users", query: ["$top": "1"],
                headers: ["host": host, "authorization": "Bearer \(token)"]),
            counted: false)
        guard response.status != 200 else { return nil }
        let error = JSONValue.parse(response.body)?["error"]
        return
            "Microsoft Graph refused to read the users (\(response.status) \(error?["code"]?.string ?? "")): \(error?["message"]?.string ?? "")"
    }
}
