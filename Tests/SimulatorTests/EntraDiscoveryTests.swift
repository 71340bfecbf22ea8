import Crypto
import Foundation
import HTTP
import Simulator
import TestSupport
import Testing

/// The simulator over HTTPS with a client that trusts its test CA.
private struct TLSCloud {
    let simulator: Simulator
    let base: String
    let http: HTTPClient

    static func start() throws -> TLSCloud {
        let tls = try TestCA()
        let simulator = try Simulator(world: World(customers: 3, seed: 5))
        let base = try simulator.start(tls: TLSServerContext(certificate: tls.serverCertificate, key: tls.serverKey))
        var configuration = HTTPClientConfiguration()
        configuration.caBundlePath = tls.caPath
        return TLSCloud(simulator: simulator, base: base, http: HTTPClient(configuration: configuration))
    }

    var tenant: SimTenant { simulator.world.customers[1] }
    var tenantID: String { tenant.id.uuidString.lowercased() }
    var partner: String { simulator.world.partnerApp.appID.uuidString.lowercased() }

    func get(_ path: String) async throws -> (Int, [String: Any]) {
        let response = try await http.execute(HTTPRequest(url: "\(base)\(path)"))
        return (response.status, try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] ?? [:])
    }

    func postToken(_ fields: [(String, String)]) async throws -> HTTPResponse {
        try await http.execute(
            HTTPRequest(
                method: "POST", url: "\(base)/\(tenantID)/oauth2/v2.0/token",
                headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Self.form(fields)))
    }

    static func form(_ fields: [(String, String)]) -> [UInt8] {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return Array(
            fields.map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $1)" }
                .joined(separator: "&").utf8)
    }

    func stop() async {
        http.shutdown()
        await simulator.stop()
    }
}

private func errorCode(_ response: HTTPResponse) -> String? {
    let body = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
    return (body?["error_codes"] as? [Int])?.first.map { "AADSTS\($0)" }
}

@Suite("Entra's OpenID Connect discovery and client assertions, over HTTPS")
struct EntraDiscoveryTests {
    @Test func theMetadataNamesTheSimulatorsOwnEndpointsByTenantID() async throws {
        let cloud = try TLSCloud.start()
        // Asked by domain, answered by id, as Entra does.
        let (status, document) = try await cloud.get(
            "/\(cloud.tenant.defaultDomain)/v2.0/.well-known/openid-configuration")
        #expect(status == 200)
        let authority = "\(cloud.base)/\(cloud.tenantID)"
        #expect(document["issuer"] as? String == "\(authority)/v2.0")
        #expect(document["token_endpoint"] as? String == "\(authority)/oauth2/v2.0/token")
        #expect(document["authorization_endpoint"] as? String == "\(authority)/oauth2/v2.0/authorize")
        #expect(document["jwks_uri"] as? String == "\(authority)/discovery/v2.0/keys")
        #expect((document["token_endpoint_auth_methods_supported"] as? [String])?.contains("private_key_jwt") == true)
        #expect(
            document["tenant_region_scope"] != nil
                && document["cloud_instance_name"] as? String == "microsoftonline.com")
        // The multi-tenant authority keeps Entra's placeholder in the issuer.
        let (_, common) = try await cloud.get("/common/v2.0/.well-known/openid-configuration")
        #expect(common["issuer"] as? String == "\(cloud.base)/{tenantid}/v2.0")
        #expect(common["token_endpoint"] as? String == "\(cloud.base)/common/oauth2/v2.0/token")
        // No such tenant: Entra's AADSTS90002.
        let unknown = try await cloud.http.execute(
            HTTPRequest(url: "\(cloud.base)/\(UUID().uuidString)/v2.0/.well-known/openid-configuration"))
        #expect(unknown.status == 400 && errorCode(unknown) == "AADSTS90002")
        await cloud.stop()
    }

    @Test func theKeySetVerifiesTheTokensTheSimulatorSigns() async throws {
        let cloud = try TLSCloud.start()
        let response = try await cloud.postToken([
            ("grant_type", "client_credentials"), ("client_id", cloud.partner),
            ("client_secret", cloud.simulator.world.partnerSecret),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        #expect(response.status == 200)
        let body = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        let token = try #require(body?["access_token"] as? String)
        let header = try JWT.decodeHeader(token)
        for path in ["/\(cloud.tenantID)/discovery/v2.0/keys", "/common/discovery/v2.0/keys"] {
            let (status, set) = try await cloud.get(path)
            #expect(status == 200)
            let keys = try #require(set["keys"] as? [[String: Any]])
            let key = try #require(keys.first { $0["kid"] as? String == header.kid })
            #expect(
                key["kty"] as? String == "RSA" && key["use"] as? String == "sig" && key["x5t"] as? String == header.kid)
            let chain = try #require(key["x5c"] as? [String])
            let der = try #require(Data(base64Encoded: chain.first ?? ""))
            let certificate = try Certificate(der: [UInt8](der))
            #expect(try Base64URL.encode(certificate.sha1Thumbprint) == header.kid)
            let (modulus, _) = try certificate.publicKey.rsaComponents
            #expect(key["n"] as? String == Base64URL.encode(modulus) && key["e"] as? String == "AQAB")
            _ = try JWT.verify(token, key: try certificate.publicKey, as: [String: JSONValue].self)
        }
        await cloud.stop()
    }

    struct FractionalClaims: Encodable {
        var aud: String
        var iss: String
        var sub: String
        var jti = UUID().uuidString
        var nbf: Double
        var iat: Double
        var exp: Double
    }

    /// MSAL's assertions: NumericDates with fractions, `aud` the https token endpoint from discovery.
    @Test func anAssertionWithFractionalTimesAndTheHTTPSAudienceIsAccepted() async throws {
        let cloud = try TLSCloud.start()
        let key = try PrivateKey.generateRSA(bits: 2048)
        let certificate = try Certificate.issue(.init(commonName: "partner"), for: key)
        try cloud.simulator.addPartnerCertificate(certificate)
        let now = Date().timeIntervalSince1970
        func attempt(aud: String, exp: Double) async throws -> HTTPResponse {
            let claims = FractionalClaims(
                aud: aud, iss: cloud.partner, sub: cloud.partner, nbf: now - 0.5, iat: now - 0.5, exp: exp)
            let assertion = try JWT.sign(
                claims: claims, header: JWT.Header(alg: .rs256, certificate: certificate), key: key)
            return try await cloud.postToken([
                ("grant_type", "client_credentials"), ("client_id", cloud.partner),
                ("scope", "https://graph.microsoft.com/.default"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion),
            ])
        }
        let httpsEndpoint = "\(cloud.base)/\(cloud.tenantID)/oauth2/v2.0/token"
        #expect(try await attempt(aud: httpsEndpoint, exp: now + 599.25).status == 200)
        // The tenant by domain and the v1 path are the same endpoint to Entra.
        #expect(
            try await attempt(aud: "\(cloud.base)/\(cloud.tenant.defaultDomain)/oauth2/token", exp: now + 600.5).status
                == 200)
        // The plain-http endpoint is not the one served.
        let http = try await attempt(
            aud: httpsEndpoint.replacingOccurrences(of: "https://", with: "http://"), exp: now + 600)
        #expect(http.status == 400 && errorCode(http) == "AADSTS700212")
        // Expired, with a fraction: the time-range error, not a key that was "not found".
        let expired = try await attempt(aud: httpsEndpoint, exp: now - 1.5)
        #expect(expired.status == 400 && errorCode(expired) == "AADSTS700024")
        await cloud.stop()
    }

    @Test func aThrottledTokenRequestIs429WithRetryAfter() async throws {
        let cloud = try TLSCloud.start()
        var faults = Faults()
        faults.errorRate = 1
        faults.errorStatuses = [429]
        cloud.simulator.setFaults(faults)
        let response = try await cloud.postToken([
            ("grant_type", "client_credentials"), ("client_id", cloud.partner),
            ("client_secret", cloud.simulator.world.partnerSecret), ("scope", "https://graph.microsoft.com/.default"),
        ])
        #expect(response.status == 429)
        #expect(response.header("retry-after") == "2")
        #expect(errorCode(response) == "AADSTS90055")
        await cloud.stop()
    }

    @Test(arguments: [
        ("https://localhost:1", ["t", "x.example"], "https://localhost:1/t/oauth2/v2.0/token", true),
        ("https://localhost:1", ["t", "x.example"], "HTTPS://LOCALHOST:1/X.EXAMPLE/oauth2/token", true),
        ("https://localhost:1", ["t"], "http://localhost:1/t/oauth2/v2.0/token", false),
        ("https://localhost:1", ["t"], "https://localhost:2/t/oauth2/v2.0/token", false),
        ("https://localhost:1", ["t"], "https://localhost:1/other/oauth2/v2.0/token", false),
    ])
    func assertionAudiences(base: String, tenants: [String], audience: String, accepted: Bool) {
        #expect(
            ClientAssertionAudience.accepted(base: base, tenantNames: tenants).contains(audience.lowercased())
                == accepted)
    }
}
