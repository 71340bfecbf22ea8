import Crypto
import Foundation
import Graph
import HTTP
import Simulator
import Testing

/// The simulator in-process, over real loopback HTTP.
struct SimulatedCloud {
    let simulator: Simulator
    let base: String
    let http: HTTPClient

    static func start(customers: Int = 20) async throws -> SimulatedCloud {
        let simulator = try Simulator(world: World(customers: customers, seed: 7))
        let base = try simulator.start()
        return SimulatedCloud(simulator: simulator, base: base, http: HTTPClient())
    }

    var partnerClientID: String { simulator.world.partnerApp.appID.uuidString.lowercased() }
    var consented: SimTenant { simulator.world.customers[2] }
    var notConsented: SimTenant { simulator.world.customers[0] }

    func stop() async {
        http.shutdown()
        await simulator.stop()
    }
}

/// The claims of an access token, read without verification (the client never verifies them).
func claims(of token: String) throws -> [String: Any] {
    let payload = token.split(separator: ".")[1]
    return try JSONSerialization.jsonObject(with: Data(Base64URL.decode(String(payload))!)) as! [String: Any]
}

@Suite("Token client against the simulated Entra ID")
struct TokenClientTests {
    @Test func clientSecretTokenCarriesTenantAndRoles() async throws {
        let cloud = try await SimulatedCloud.start()
        let client = TokenClient(http: cloud.http, loginBaseURL: cloud.base)
        let token = try await client.token(
            tenant: cloud.consented.id.uuidString, clientID: cloud.partnerClientID,
            credential: .secret(cloud.simulator.world.partnerSecret))
        let payload = try claims(of: token.value)
        #expect(payload["tid"] as? String == cloud.consented.id.uuidString.lowercased())
        #expect(Set(payload["roles"] as? [String] ?? []) == World.partnerRoles)
        #expect(payload["aud"] as? String == "https://graph.microsoft.com")
        // By domain too.
        _ = try await TokenClient(http: cloud.http, loginBaseURL: cloud.base).token(
            tenant: cloud.consented.defaultDomain, clientID: cloud.partnerClientID,
            credential: .secret(cloud.simulator.world.partnerSecret))
        await cloud.stop()
    }

    @Test func entraErrorsArriveClassified() async throws {
        let cloud = try await SimulatedCloud.start()
        let client = TokenClient(http: cloud.http, loginBaseURL: cloud.base)
        let wrongSecret = await #expect(throws: GraphError.self) {
            try await client.token(
                tenant: cloud.consented.id.uuidString, clientID: cloud.partnerClientID, credential: .secret("nope"))
        }
        #expect(wrongSecret?.code == "AADSTS7000215" && wrongSecret?.status == 401)
        if case .needsAttention = wrongSecret?.failure {
        } else {
            Issue.record("a wrong, settled secret needs a person")
        }
        // Just after adding a secret, the same answer means "wait for propagation".
        let fresh = await #expect(throws: GraphError.self) {
            try await client.token(
                tenant: cloud.consented.id.uuidString, clientID: cloud.partnerClientID, credential: .secret("new"),
                context: FailureContext(recentlyCreatedCredential: true))
        }
        #expect(fresh?.failure == .propagation)
        let noTenant = await #expect(throws: GraphError.self) {
            try await client.token(tenant: UUID().uuidString, clientID: cloud.partnerClientID, credential: .secret("x"))
        }
        #expect(noTenant?.code == "AADSTS90002")
        let notConsented = await #expect(throws: GraphError.self) {
            try await client.token(
                tenant: cloud.notConsented.id.uuidString, clientID: cloud.partnerClientID,
                credential: .secret(cloud.simulator.world.partnerSecret),
                context: FailureContext(clientID: cloud.partnerClientID, loginBaseURL: cloud.base))
        }
        #expect(notConsented?.code == "AADSTS700016")
        guard case .needsAttention(let fix)? = notConsented?.failure else {
            Issue.record("missing consent needs attention")
            return
        }
        #expect(
            fix.contains(
                "\(cloud.base)/\(cloud.notConsented.id.uuidString)/adminconsent?client_id=\(cloud.partnerClientID)"))
        await cloud.stop()
    }

    @Test(arguments: [SignatureAlgorithm.ps256, .rs256])
    func certificateAssertionIsAcceptedAndAStrangersRefused(algorithm: SignatureAlgorithm) async throws {
        let cloud = try await SimulatedCloud.start()
        let key = try PrivateKey.generateRSA(bits: 2048)
        let certificate = try Certificate.issue(.init(commonName: "MSP partner app"), for: key)
        try cloud.simulator.addPartnerCertificate(certificate)
        let client = TokenClient(http: cloud.http, loginBaseURL: cloud.base)
        let token = try await client.token(
            tenant: cloud.consented.id.uuidString, clientID: cloud.partnerClientID,
            credential: .certificate(certificate, key, preferred: algorithm))
        #expect(try claims(of: token.value)["appid"] as? String == cloud.partnerClientID)

        let strangerKey = try PrivateKey.generateRSA(bits: 2048)
        let stranger = try Certificate.issue(.init(commonName: "not uploaded"), for: strangerKey)
        let refused = await #expect(throws: GraphError.self) {
            try await TokenClient(http: cloud.http, loginBaseURL: cloud.base).token(
                tenant: cloud.consented.id.uuidString, clientID: cloud.partnerClientID,
                credential: .certificate(stranger, strangerKey, preferred: algorithm))
        }
        #expect(refused?.code == "AADSTS700027")
        // A PS256 refusal was retried once with RS256 before giving up.
        #expect(cloud.simulator.requestCounts["POST token"] == (algorithm == .ps256 ? 3 : 2))
        await cloud.stop()
    }

    @Test func hundredConcurrentAsksMakeOneTokenRequest() async throws {
        let cloud = try await SimulatedCloud.start()
        let client = TokenClient(http: cloud.http, loginBaseURL: cloud.base)
        let tenant = cloud.consented.id.uuidString
        let secret = cloud.simulator.world.partnerSecret
        let clientID = cloud.partnerClientID
        let values = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    try await client.token(tenant: tenant, clientID: clientID, credential: .secret(secret)).value
                }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(values.count == 1)
        #expect(cloud.simulator.requestCounts["POST token"] == 1)
        await cloud.stop()
    }
}

@Suite("Token endpoint edge cases")
struct TokenEndpointTests {
    struct Claims: Encodable {
        var aud: String
        var iss: String
        var sub: String
        var jti = UUID().uuidString
        var nbf: Int
        var exp: Int
    }

    func post(_ cloud: SimulatedCloud, _ tenant: String, _ fields: [(String, String)], basic: String? = nil)
        async throws -> (Int, String?)
    {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/x-www-form-urlencoded")]
        if let basic { headers.append(("Authorization", "Basic \(Data(basic.utf8).base64EncodedString())")) }
        let response = try await cloud.http.execute(
            HTTPRequest(
                method: "POST", url: "\(cloud.base)/\(tenant)/oauth2/v2.0/token",
                headers: headers, body: FormEncoding.encode(fields)))
        let body = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        return (response.status, (body?["error_codes"] as? [Int])?.first.map { "AADSTS\($0)" })
    }

    @Test func basicAuthBadAudienceExpiryAndScope() async throws {
        let cloud = try await SimulatedCloud.start()
        let tenant = cloud.consented.id.uuidString
        let scope = ("scope", "https://graph.microsoft.com/.default")
        // client_secret_basic.
        let basic = try await post(
            cloud, tenant, [("grant_type", "client_credentials"), scope],
            basic: "\(cloud.partnerClientID):\(cloud.simulator.world.partnerSecret)")
        #expect(basic.0 == 200)
        // A scope without /.default.
        let badScope = try await post(
            cloud, tenant,
            [
                ("grant_type", "client_credentials"), ("scope", "User.Read"),
                ("client_id", cloud.partnerClientID), ("client_secret", cloud.simulator.world.partnerSecret),
            ])
        #expect(badScope.0 == 400 && badScope.1 == "AADSTS1002012")
        // Assertions: wrong audience, expired.
        let key = try PrivateKey.generateRSA(bits: 2048)
        let certificate = try Certificate.issue(.init(commonName: "partner"), for: key)
        try cloud.simulator.addPartnerCertificate(certificate)
        let now = Int(Date().timeIntervalSince1970)
        let tokenURL = "\(cloud.base)/\(tenant)/oauth2/v2.0/token"
        func assertion(aud: String, exp: Int) throws -> [(String, String)] {
            let jwt = try JWT.sign(
                claims: Claims(
                    aud: aud, iss: cloud.partnerClientID, sub: cloud.partnerClientID, nbf: now - 60, exp: exp),
                header: JWT.Header(alg: .ps256, certificate: certificate), key: key)
            return [
                ("grant_type", "client_credentials"), scope, ("client_id", cloud.partnerClientID),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", jwt),
            ]
        }
        #expect(try await post(cloud, tenant, assertion(aud: tokenURL, exp: now + 600)).0 == 200)
        let wrongAudience = try await post(
            cloud, tenant, assertion(aud: "https://login.microsoftonline.com/other/oauth2/v2.0/token", exp: now + 600))
        #expect(wrongAudience.0 == 400 && wrongAudience.1 == "AADSTS700212")
        let expired = try await post(cloud, tenant, assertion(aud: tokenURL, exp: now - 10))
        #expect(expired.0 == 400 && expired.1 == "AADSTS700024")
        await cloud.stop()
    }
}

@Suite("Partner credential from a PEM file")
struct PartnerCredentialTests {
    @Test func oneFileWithCertificateAndKeySignsIn() async throws {
        let cloud = try await SimulatedCloud.start()
        let key = try PrivateKey.generateRSA(bits: 2048)
        let certificate = try Certificate.issue(.init(commonName: "partner"), for: key)
        try cloud.simulator.addPartnerCertificate(certificate)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("partner-\(UUID().uuidString).pem")
            .path
        try (try certificate.pem + key.pem()).write(toFile: path, atomically: true, encoding: .utf8)
        let credential = try ClientCredential.certificate(pemFile: path)
        _ = try await TokenClient(http: cloud.http, loginBaseURL: cloud.base).token(
            tenant: cloud.consented.id.uuidString, clientID: cloud.partnerClientID, credential: credential)
        let certOnly = FileManager.default.temporaryDirectory.appendingPathComponent("cert-\(UUID().uuidString).pem")
            .path
        try certificate.pem.write(toFile: certOnly, atomically: true, encoding: .utf8)
        let error = #expect(throws: CryptoError.self) { try ClientCredential.certificate(pemFile: certOnly) }
        #expect(error?.description.contains("no private key") == true)
        await cloud.stop()
    }
}
