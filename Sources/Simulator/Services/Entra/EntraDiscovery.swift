import Crypto
import Foundation

/// Entra's OpenID Connect discovery, as `login.microsoftonline.com` serves it, but with the simulator's own
/// scheme, host and port in every URL: the v2.0 metadata document
/// (`/{tenant}/v2.0/.well-known/openid-configuration`) and the JSON Web Key Set it points at
/// (`/{tenant}/discovery/v2.0/keys`). MSAL reads the document before its first token request (even with
/// authority validation off) and takes the token endpoint from it, so the endpoint an assertion names as
/// its audience is the one this document hands out.
struct EntraDiscovery: Sendable {
    /// `https://localhost:8400`: where the simulator is reached, as the client reached it.
    let base: String

    /// The authorities that are not a tenant: Entra answers them with the `{tenantid}` placeholder in the
    /// issuer, which a client substitutes with the `tid` of the token it gets.
    static let multiTenantAuthorities: Set<String> = ["common", "organizations", "consumers"]

    /// The v2.0 metadata of a tenant (`segment` is its id, lowercased) or of a multi-tenant authority.
    /// Field names and values are Entra's; the ones about interactive sign-in are kept so a client that
    /// checks for them finds them, though the simulator serves only the token endpoint.
    func configuration(segment: String, tenantID: String?) -> [String: Any] {
        let authority = "\(base)/\(segment)"
        return [
            "issuer": "\(base)/\(tenantID ?? "{tenantid}")/v2.0",
            "authorization_endpoint": "\(authority)/oauth2/v2.0/authorize",
            "token_endpoint": "\(authority)/oauth2/v2.0/token",
            "device_authorization_endpoint": "\(authority)/oauth2/v2.0/devicecode",
            "end_session_endpoint": "\(authority)/oauth2/v2.0/logout",
            "kerberos_endpoint": "\(authority)/kerberos",
            "jwks_uri": "\(authority)/discovery/v2.0/keys",
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": [
                "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name",
                "tid", "ver", "at_hash", "c_hash", "email",
            ],
            "request_uri_parameter_supported": false,
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        ]
    }

    /// The key set: each signing key as a JWK with its certificate (`x5c`), `kid` = `x5t` = the
    /// certificate's SHA-1 thumbprint, base64url, as Entra publishes its keys.
    func keys(_ signing: [Certificate], tenantID: String?) throws -> [String: Any] {
        let issuer = "\(base)/\(tenantID ?? "{tenantid}")/v2.0"
        let keys = try signing.map { certificate -> [String: Any] in
            let (modulus, exponent) = try certificate.publicKey.rsaComponents
            let thumbprint = Base64URL.encode(try certificate.sha1Thumbprint)
            return [
                "kty": "RSA", "use": "sig", "kid": thumbprint, "x5t": thumbprint,
                "n": Base64URL.encode(modulus), "e": Base64URL.encode(exponent),
                "x5c": [Data(try certificate.der).base64EncodedString()], "cloud_instance_name": "microsoftonline.com",
                "issuer": issuer,
            ]
        }
        return ["keys": keys]
    }

    /// The tenant a discovery path names: by id, or by any domain it has verified (Entra resolves each
    /// verified domain, not only the default one; an unverified one is no tenant's yet).
    static func tenant(named key: String, in world: World) -> SimTenant? {
        if let tenant = world.tenant(key) { return tenant }
        guard UUID(uuidString: key) == nil else { return nil }
        let name = key.lowercased()
        return ([world.partnerTenant] + world.customers).first { $0.domains[name]?.isVerified == true }
    }

    /// Entra's answer for a tenant id or domain it does not know: 400 `invalid_tenant`, AADSTS90002.
    static func unknownTenant(_ key: String) -> SimResponse {
        EntraErrors.response(
            400, "invalid_tenant", 90002,
            "Tenant '\(key)' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
        )
    }

    static func json(_ object: [String: Any]) -> SimResponse {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data()
        return SimResponse(
            status: 200, headers: [("Content-Type", "application/json; charset=utf-8")], body: [UInt8](data))
    }
}
