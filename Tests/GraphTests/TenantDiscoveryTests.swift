import Foundation
import Graph
import HTTP
import Simulator
import Testing

@Suite("A domain's Entra tenant id through OpenID discovery")
struct TenantDiscoveryTests {
    static let id = "7a1f4e2b-1111-4c3d-9e8f-0123456789ab"

    /// What each answer says: Entra's documents (issuer, else token_endpoint), its AADSTS90002, the rest.
    @Test(
        arguments: [
            (
                200, #"{"issuer": "https://login.microsoftonline.com/\#(id)/v2.0", "token_endpoint": "x"}"#,
                TenantDiscovery.Outcome.tenant(id)
            ),
            (200, #"{"issuer": "https://login.microsoftonline.com/\#(id.uppercased())/v2.0"}"#, .tenant(id)),
            (
                200,
                #"{"issuer": "https://login.microsoftonline.com/{tenantid}/v2.0", "token_endpoint": "https://login.microsoftonline.com/\#(id)/oauth2/v2.0/token"}"#,
                .tenant(id)
            ),
            (
                200, #"{"issuer": "https://login.microsoftonline.com/{tenantid}/v2.0"}"#,
                .failed("the discovery document names no tenant id (issuer, token_endpoint)")
            ),
            (
                400,
                #"{"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant 'x.example' not found.\r\nTrace ID: 1", "error_codes": [90002]}"#,
                .unknown("AADSTS90002: Tenant 'x.example' not found.")
            ),
            (400, #"{"error": "invalid_request", "error_codes": [90002]}"#, .unknown("AADSTS90002: tenant not found")),
            (
                429,
                #"{"error": "temporarily_unavailable", "error_description": "AADSTS90055: Too many.", "error_codes": [90055]}"#,
                .failed("HTTP 429: AADSTS90055: Too many.")
            ),
            (502, "<html>bad gateway</html>", .failed("HTTP 502")),
        ] as [(Int, String, TenantDiscovery.Outcome)])
    func outcome(_ status: Int, _ body: String, _ expected: TenantDiscovery.Outcome) {
        #expect(TenantDiscovery.outcome(status: status, body: Array(body.utf8)) == expected)
    }

    /// Many domains against the simulator's discovery, as Entra answers: each to its tenant's id, an unknown
    /// one AADSTS90002, all sent at once over several connections (one after the other would use one).
    @Test func manyDomainsResolveAtOnceAndAnUnknownOneIsEntrasAnswer() async throws {
        let cloud = try await SimulatedCloud.start(customers: 120)
        let discovery = TenantDiscovery(http: cloud.http, loginBaseURL: cloud.base)
        let customers = cloud.simulator.world.customers
        let unknown = ["nobody.example.com", "nobody2.example.com"]
        let outcomes = await discovery.resolve(customers.map(\.defaultDomain) + unknown)
        #expect(outcomes.count == customers.count + 2)
        for customer in customers {
            #expect(outcomes[customer.defaultDomain] == .tenant(customer.id.uuidString.lowercased()))
        }
        guard case .unknown(let message) = outcomes["nobody.example.com"] else {
            Issue.record("\(String(describing: outcomes["nobody.example.com"]))")
            return
        }
        #expect(message.hasPrefix("AADSTS90002: Tenant 'nobody.example.com' not found."), "\(message)")
        let statistics = cloud.http.statistics
        #expect(statistics.requests == customers.count + 2)
        #expect(statistics.connectionsOpened > 4, "\(statistics): the lookups went one after the other")
        await cloud.stop()
    }
}
