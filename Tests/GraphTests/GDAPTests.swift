import Foundation
import Graph
import HTTP
import Simulator
import TestSupport
import Testing

/// The GDAP lists read in the MSP's partner tenant with the partner app, against the simulator: every page,
/// Microsoft's `$filter` by customer, and the 403 of a partner app without DelegatedAdminRelationship.Read.All.
@Suite("Graph: GDAP customers and relationships in the partner tenant")
struct GDAPTests {
    static let pra = "e8611ab8-c189-46e8-94e1-60213ab1f814"

    static func world() throws -> World {
        var description = WorldDescription(
            seed: 21,
            tenants: (1...7).map {
                WorldDescription.Tenant(domain: "gdap\($0).onmicrosoft.com", displayName: "GDAP \($0)")
            })
        description.tenants[1].gdap = WorldDescription.GDAP(status: "expired", end: "2026-01-01T00:00:00Z")
        description.tenants[2].gdap = WorldDescription.GDAP(roles: ["158c047a-c907-4556-b7ef-446551a6b5f7"])
        description.tenants[3].gdap = WorldDescription.GDAP(status: "none")
        description.gdapPageSize = 2
        return try World(description)
    }

    func partnerGraph(_ simulator: Simulator, base: String, http: HTTPClient) -> GraphClient {
        GraphClient(
            http: http, tokens: TokenClient(http: http, loginBaseURL: base), baseURL: "\(base)/v1.0",
            tenant: simulator.world.partnerTenant.id.uuidString,
            clientID: simulator.world.partnerApp.appID.uuidString, credential: .secret(simulator.world.partnerSecret))
    }

    @Test func everyPageOfCustomersAndRelationships() async throws {
        let simulator = try Simulator(world: Self.world())
        let base = try simulator.start()
        let http = HTTPClient()
        let graph = partnerGraph(simulator, base: base, http: http)

        // Six relationships (one customer has none), three pages of two; the expired one's customer is
        // not listed (Microsoft deletes a customer with no active relationship).
        let relationships = try await graph.delegatedAdminRelationships()
        #expect(relationships.count == 6)
        #expect(Set(relationships.map(\.id)).count == 6)
        let customers = try await graph.delegatedAdminCustomers()
        #expect(customers.count == 5)
        #expect(simulator.requestCounts["GET tenantRelationships"] == 3 + 3)
        let expired = try #require(relationships.first { $0.customer?.displayName == "GDAP 2" })
        #expect(expired.status == "expired" && expired.endDateTime == "2026-01-01T00:00:00Z")
        let standard = try #require(relationships.first { $0.customer?.displayName == "GDAP 1" })
        #expect(standard.status == "active" && standard.roleDefinitionIDs.contains(Self.pra))
        #expect(!customers.contains { $0.displayName == "GDAP 2" || $0.displayName == "GDAP 4" })

        // One customer's, by Microsoft's filter.
        let tenant = simulator.world.customers.first { $0.displayName == "GDAP 3" }!
        let one = try await graph.delegatedAdminRelationships(customerTenantID: tenant.id.uuidString.lowercased())
        #expect(one.map(\.customer?.tenantId) == [tenant.id.uuidString.lowercased()])
        #expect(one.first?.roleDefinitionIDs == ["158c047a-c907-4556-b7ef-446551a6b5f7"])

        http.shutdown()
        await simulator.stop()
    }

    @Test func withoutThePermissionBothListsAre403() async throws {
        let simulator = try Simulator(world: Self.world())
        let base = try simulator.start()
        let http = HTTPClient()
        simulator.withWorld { world in world.partnerTenant.servicePrincipals[world.partnerApp.appID] = [] }
        let graph = partnerGraph(simulator, base: base, http: http)
        let customers = await #expect(throws: GraphError.self) { try await graph.delegatedAdminCustomers() }
        #expect(customers?.status == 403)
        let relationships = await #expect(throws: GraphError.self) { try await graph.delegatedAdminRelationships() }
        #expect(relationships?.status == 403 && relationships?.code == "Authorization_RequestDenied")
        http.shutdown()
        await simulator.stop()
    }

    /// Every page the simulator serves follows the vendored schema's answer for the operation
    /// (`delegatedAdminCustomer`, `delegatedAdminRelationship`: property types, the status enumeration, the
    /// date-time pattern), as Microsoft's would.
    @Test func thePagesFollowTheVendoredSchema() async throws {
        let simulator = try Simulator(world: Self.world())
        let base = try simulator.start()
        let http = HTTPClient()
        let validator = try GraphBodyValidator.vendored()
        let token = try await TokenClient(http: http, loginBaseURL: base).token(
            tenant: simulator.world.partnerTenant.id.uuidString,
            clientID: simulator.world.partnerApp.appID.uuidString, credential: .secret(simulator.world.partnerSecret))
        for collection in ["delegatedAdminCustomers", "delegatedAdminRelationships"] {
            var next: String? = "\(base)/v1.0/tenantRelationships/\(collection)"
            var pages = 0
            while let url = next {
                let response = try await http.execute(
                    HTTPRequest(url: url, headers: [("Authorization", "Bearer \(token.value)")]))
                #expect(response.status == 200)
                let body = try StrictJSON.parse(response.body)
                // The validator refuses annotations as a request body would carry them; `@odata.nextLink` is
                // the response annotation the schema itself declares.
                let problems = validator.validateResponse(
                    body, operation: "GET:/tenantRelationships/\(collection)", status: 200
                ).filter { $0.path != "/@odata.nextLink" }
                #expect(problems.isEmpty, "\(collection) page \(pages): \(problems)")
                next = body["@odata.nextLink"]?.string
                pages += 1
            }
            #expect(pages == 3, "\(collection)")
        }
        http.shutdown()
        await simulator.stop()
    }
}
