import Crypto
import Foundation
import Graph
import HTTP
import Simulator
import TestSupport
import Testing

@Suite("The simulator over HTTPS")
struct HTTPSTests {
    @Test func tokensAndGraphOverTLSVerifiedAgainstTheTestCA() async throws {
        let tls = try TestCA()

        let simulator = try Simulator(world: World(customers: 5, seed: 4))
        let base = try simulator.start(tls: TLSServerContext(certificate: tls.serverCertificate, key: tls.serverKey))
        #expect(base.hasPrefix("https://localhost:"))

        var configuration = HTTPClientConfiguration()
        configuration.caBundlePath = tls.caPath
        let trusting = HTTPClient(configuration: configuration)
        let tenant = simulator.world.customers[3]
        let graph = GraphClient(
            http: trusting, tokens: TokenClient(http: trusting, loginBaseURL: base), baseURL: "\(base)/v1.0",
            tenant: tenant.id.uuidString, clientID: simulator.world.partnerApp.appID.uuidString,
            credential: .secret(simulator.world.partnerSecret))
        #expect(try await graph.organizationID() == tenant.id.uuidString.lowercased())
        // Many requests over kept-alive TLS connections.
        for _ in 0..<20 { _ = try await graph.organizationID() }
        #expect(trusting.statistics.connectionsOpened <= 3)
        // Links the simulator hands out keep the https scheme, and paging works through them.
        for index in 0..<3 {
            _ = try await graph.upsertApplication(
                uniqueName: "tls-\(index)", ApplicationRegistration(displayName: "tls \(index)"))
        }
        #expect(try await graph.applications(pageSize: 1).count == 3)

        let untrusting = HTTPClient()
        let refused = await #expect(throws: HTTPError.self) {
            try await untrusting.execute(HTTPRequest(url: "\(base)/_sim/stats"))
        }
        #expect(refused?.code == .tls)
        untrusting.shutdown()
        trusting.shutdown()
        await simulator.stop()
    }
}
