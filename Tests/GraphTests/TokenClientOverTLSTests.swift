import Crypto
import Foundation
import Graph
import HTTP
import Simulator
import TestSupport
import Testing

@Suite("Token client against the simulated Entra ID over HTTPS")
struct TokenClientOverTLSTests {
    /// Onboarder's assertions name `https://…/oauth2/v2.0/token`, the endpoint it posts to: over TLS the
    /// simulator must expect that, not a hard-coded `http://` one (AADSTS700212 before).
    @Test(arguments: [SignatureAlgorithm.ps256, .rs256])
    func aCertificateAssertionGetsATokenOverHTTPS(algorithm: SignatureAlgorithm) async throws {
        let tls = try TestCA()
        let simulator = try Simulator(world: World(customers: 3, seed: 11))
        let base = try simulator.start(tls: TLSServerContext(certificate: tls.serverCertificate, key: tls.serverKey))
        var configuration = HTTPClientConfiguration()
        configuration.caBundlePath = tls.caPath
        let http = HTTPClient(configuration: configuration)
        let key = try PrivateKey.generateRSA(bits: 2048)
        let certificate = try Certificate.issue(.init(commonName: "MSP partner app"), for: key)
        try simulator.addPartnerCertificate(certificate)
        let tenant = simulator.world.customers[2]
        let clientID = simulator.world.partnerApp.appID.uuidString.lowercased()
        let token = try await TokenClient(http: http, loginBaseURL: base).token(
            tenant: tenant.id.uuidString, clientID: clientID,
            credential: .certificate(certificate, key, preferred: algorithm))
        #expect(try claims(of: token.value)["tid"] as? String == tenant.id.uuidString.lowercased())
        // One request: no PS256 refusal retried the RS256 way.
        #expect(simulator.requestCounts["POST token"] == 1)
        http.shutdown()
        await simulator.stop()
    }

    /// Entra throttles client credentials with 429 and Retry-After: the token client reports a transient
    /// failure carrying the server's wish, so the job waits that long rather than needing a person.
    @Test func aThrottledTokenRequestIsTransientWithTheServersRetryAfter() async throws {
        let cloud = try await SimulatedCloud.start()
        var faults = Faults()
        faults.errorRate = 1
        faults.errorStatuses = [429]
        cloud.simulator.setFaults(faults)
        let throttled = await #expect(throws: GraphError.self) {
            try await TokenClient(http: cloud.http, loginBaseURL: cloud.base).token(
                tenant: cloud.consented.id.uuidString, clientID: cloud.partnerClientID,
                credential: .secret(cloud.simulator.world.partnerSecret))
        }
        #expect(throttled?.status == 429 && throttled?.code == "AADSTS90055")
        #expect(throttled?.failure == .transient(retryAfter: .seconds(2)))
        await cloud.stop()
    }
}
