import Foundation
import HTTP
import Testing

@testable import Simulator

/// Entra's discovery finds a tenant by any domain it has verified, as `onboarder enqueue` relies on (a
/// customer's file may name any of its domains); a domain added but not verified is no tenant's yet, and
/// gets Entra's AADSTS90002 in full.
@Suite("Entra discovery by a tenant's domains")
struct EntraDiscoveryDomainsTests {
    @Test func anyVerifiedDomainFindsItsTenantAndAnUnverifiedOneDoesNot() async throws {
        let simulator = try Simulator(world: World(customers: 3, seed: 5))
        let base = try simulator.start()
        let http = HTTPClient()
        let tenant = simulator.world.customers[1]
        tenant.domains["sales.example.com"] = SimDomain(
            name: "sales.example.com", isVerified: true, isDefault: false, isInitial: false, verificationCode: "")
        tenant.domains["pending.example.com"] = SimDomain(
            name: "pending.example.com", isVerified: false, isDefault: false, isInitial: false,
            verificationCode: "MS=ms1")
        func discover(_ name: String) async throws -> (Int, [String: Any]) {
            let response = try await http.execute(
                HTTPRequest(url: "\(base)/\(name)/v2.0/.well-known/openid-configuration"))
            return (
                response.status, try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] ?? [:]
            )
        }
        let id = tenant.id.uuidString.lowercased()
        for name in [tenant.defaultDomain, "SALES.example.com"] {
            let (status, document) = try await discover(name)
            #expect(status == 200 && document["issuer"] as? String == "\(base)/\(id)/v2.0", "\(name)")
        }
        for name in ["pending.example.com", "nobody.example.com"] {
            let (status, error) = try await discover(name)
            #expect(
                status == 400 && error["error"] as? String == "invalid_tenant"
                    && error["error_codes"] as? [Int] == [90002])
            #expect(
                (error["error_description"] as? String)?.hasPrefix(
                    "AADSTS90002: Tenant '\(name)' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
                ) == true, "\(error)")
        }
        http.shutdown()
        await simulator.stop()
    }
}
