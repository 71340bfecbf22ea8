import Foundation
import Graph
import HTTP
import Simulator
import Testing

@Suite("World files")
struct WorldFileTests {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("world-\(UUID().uuidString).json").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func theSignInReportsLicenceAndAuditLogConsentArePerTenant() throws {
        let path = try write(
            """
            {"seed": 4, "tenants": [
              {"domain": "plain.onmicrosoft.com", "consent": "full", "sku": "E3"},
              {"domain": "basic.onmicrosoft.com", "consent": "partial", "sku": "E3", "entra_id_premium": false,
               "audit_log_consent": false}]}
            """)
        let world = try World(WorldDescription.load(path))
        let plain = try #require(world.tenant("plain.onmicrosoft.com"))
        let basic = try #require(world.tenant("basic.onmicrosoft.com"))
        #expect(plain.entraIDPremium && plain.partnerAuditLog)
        #expect(plain.servicePrincipals[world.partnerApp.appID]?.contains("AuditLog.Read.All") == true)
        #expect(!basic.entraIDPremium && !basic.partnerAuditLog)
        #expect(basic.servicePrincipals[world.partnerApp.appID]?.contains("AuditLog.Read.All") == false)
        #expect(basic.servicePrincipals[world.partnerApp.appID]?.contains("Application.ReadWrite.All") == true)
    }

    @Test func aDescribedWorldIsServedAsWritten() async throws {
        let path = try write(
            """
            {"seed": 3, "tenants": [
              {"domain": "contoso.onmicrosoft.com", "display_name": "Contoso", "consent": "full", "sku": "E5", "users": ["alice", "bob"]},
              {"domain": "fabrikam.onmicrosoft.com", "consent": "none", "sku": "E3", "max_password_lifetime_days": 180, "pbx": "fab"}]}
            """)
        let world = try World(WorldDescription.load(path))
        let contoso = try #require(world.tenant("contoso.onmicrosoft.com"))
        #expect(
            contoso.users.values.map(\.userPrincipalName).sorted() == [
                "alice@contoso.onmicrosoft.com", "bob@contoso.onmicrosoft.com",
            ])
        #expect(contoso.skus.first?.servicePlans.contains { $0.name == "MCOEV" } == true)
        #expect(world.tenant("fabrikam.onmicrosoft.com")?.maxPasswordLifetimeDays == 180)
        #expect(world.pbxes["fab"]?.tenantID == world.tenant("fabrikam.onmicrosoft.com")?.id)
        // The same seed gives the same ids.
        #expect(try World(WorldDescription.load(path)).tenant("contoso.onmicrosoft.com")?.id == contoso.id)

        let simulator = try Simulator(world: world)
        let base = try simulator.start()
        let http = HTTPClient()
        let tokens = TokenClient(http: http, loginBaseURL: base)
        _ = try await tokens.token(
            tenant: "contoso.onmicrosoft.com", clientID: world.partnerApp.appID.uuidString,
            credential: .secret(world.partnerSecret))
        let refused = await #expect(throws: GraphError.self) {
            try await tokens.token(
                tenant: "fabrikam.onmicrosoft.com", clientID: world.partnerApp.appID.uuidString,
                credential: .secret(world.partnerSecret))
        }
        #expect(refused?.code == "AADSTS700016")
        http.shutdown()
        await simulator.stop()
    }

    @Test func mistakesNameTheFileAndTheField() throws {
        let bad = try write(
            #"{"seed": 1, "tenants": [{"domain": "a.com", "consent": "full", "sku": "E5"}, {"domain": "b.com", "consent": "some", "sku": "E5"}]}"#
        )
        let error = #expect(throws: SimServerError.self) { try WorldDescription.load(bad) }
        #expect(error?.description.contains("\(bad): tenants[1].consent") == true)
        let missing = try write(#"{"seed": 1, "tenants": [{"consent": "full", "sku": "E5"}]}"#)
        let missingError = #expect(throws: SimServerError.self) { try WorldDescription.load(missing) }
        #expect(missingError?.description.contains("domain is missing") == true)
        let twice = try write(
            #"{"seed": 1, "tenants": [{"domain": "a.com", "consent": "full", "sku": "E5"}, {"domain": "A.com", "consent": "none", "sku": "E3"}]}"#
        )
        let twiceError = #expect(throws: SimServerError.self) { try WorldDescription.load(twice) }
        #expect(twiceError?.description.contains("tenants[1].domain A.com appears twice") == true)
    }
}
