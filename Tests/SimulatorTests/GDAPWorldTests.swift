import Foundation
import Graph
import HTTP
import Simulator
import Testing

/// The world file's GDAP relationships, and each MSP's partner tenant listing its own customers only.
@Suite("Simulator: GDAP relationships in the world file and per partner tenant")
struct GDAPWorldTests {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("world-\(UUID().uuidString).json").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func relationshipsAreReadAsWrittenAndBadOnesNamed() throws {
        let path = try write(
            """
            {"seed": 5, "gdap_page_size": 3, "tenants": [
              {"domain": "plain.onmicrosoft.com", "consent": "full", "sku": "E5"},
              {"domain": "gone.onmicrosoft.com", "consent": "full", "sku": "E5", "gdap": {"status": "expired", "end": "2026-01-01T00:00:00Z"}},
              {"domain": "none.onmicrosoft.com", "consent": "full", "sku": "E5", "gdap": {"status": "none"}},
              {"domain": "few.onmicrosoft.com", "consent": "full", "sku": "E5", "gdap": {"roles": ["158C047A-C907-4556-B7EF-446551A6B5F7"]}}]}
            """)
        let world = try World(WorldDescription.load(path))
        #expect(world.gdapPageSize == 3)
        #expect(world.tenant("plain.onmicrosoft.com")?.gdap == .standard)
        #expect(world.tenant("none.onmicrosoft.com")?.gdap == SimGDAP.none)
        guard case .described(let gone) = world.tenant("gone.onmicrosoft.com")?.gdap,
            case .described(let few) = world.tenant("few.onmicrosoft.com")?.gdap
        else {
            Issue.record("described relationships were not kept")
            return
        }
        #expect(gone.status == "expired" && gone.end == Date(timeIntervalSince1970: 1_767_225_600))
        #expect(few.status == "active" && few.roles == ["158c047a-c907-4556-b7ef-446551a6b5f7"])

        for (gdap, problem) in [
            (#"{"status": "paused"}"#, "status paused is none or one of"),
            (#"{"end": "tomorrow"}"#, "end tomorrow is not an ISO 8601 date-time"),
            (
                #"{"roles": ["Privileged Role Administrator"]}"#,
                "role Privileged Role Administrator is not a role definition id"
            ),
        ] {
            let bad = try write(
                #"{"seed": 1, "tenants": [{"domain": "x.onmicrosoft.com", "consent": "full", "sku": "E5", "gdap": "#
                    + gdap + "}]}")
            #expect(throws: (any Error).self) { try WorldDescription.load(bad) }
            do { _ = try WorldDescription.load(bad) } catch {
                #expect("\(error)".contains("tenants[0].gdap: \(problem)"), "\(error)")
            }
        }
    }

    /// Two MSPs: each partner tenant lists its own customers' relationships, read with its own partner app.
    @Test func eachPartnerTenantListsItsOwnCustomers() async throws {
        let description = WorldDescription(
            seed: 9,
            tenants: [
                WorldDescription.Tenant(domain: "one.onmicrosoft.com"),
                WorldDescription.Tenant(domain: "two.onmicrosoft.com"),
            ], partners: [WorldDescription.Partner(msp: "acme")])
        var acmeCustomer = WorldDescription.Tenant(domain: "acme1.onmicrosoft.com")
        acmeCustomer.partner = "acme"
        var withAcme = description
        withAcme.tenants.append(acmeCustomer)
        let simulator = try Simulator(world: World(withAcme))
        let base = try simulator.start()
        let http = HTTPClient()
        for (msp, expected) in [
            ("msp", ["one.onmicrosoft.com", "two.onmicrosoft.com"]), ("acme", ["acme1.onmicrosoft.com"]),
        ] {
            let partner = try #require(simulator.world.partner(msp: msp))
            let graph = GraphClient(
                http: http, tokens: TokenClient(http: http, loginBaseURL: base), baseURL: "\(base)/v1.0",
                tenant: partner.tenant.id.uuidString, clientID: partner.app.appID.uuidString,
                credential: .secret(partner.secret))
            let names = try await graph.delegatedAdminRelationships().compactMap(\.customer?.tenantId)
            let domains = names.compactMap { simulator.world.tenant($0)?.defaultDomain }.sorted()
            #expect(domains == expected, "\(msp)")
        }
        http.shutdown()
        await simulator.stop()
    }
}
