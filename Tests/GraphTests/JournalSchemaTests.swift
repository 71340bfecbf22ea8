import Crypto
import Foundation
import Graph
import HTTP
import Simulator
import TestSupport
import Testing

@Suite("What the client sends, read back from the simulator's journal")
struct JournalSchemaTests {
    @Test func everyGraphRequestBodyTheClientSentValidates() async throws {
        let journal = FileManager.default.temporaryDirectory.appendingPathComponent(
            "journal-\(UUID().uuidString).jsonl"
        ).path
        let simulator = try Simulator(world: World(customers: 4, seed: 11), journal: journal)
        let base = try simulator.start()
        let http = HTTPClient()
        let tenant = simulator.world.customers[3]
        let graph = GraphClient(
            http: http, tokens: TokenClient(http: http, loginBaseURL: base), baseURL: "\(base)/v1.0",
            tenant: tenant.id.uuidString,
            clientID: simulator.world.partnerApp.appID.uuidString, credential: .secret(simulator.world.partnerSecret))
        // The procedure's calls, as the pipeline will make them.
        let permissions = try await graph.resolvePermissions(
            roles: ["User.Read.All", "Domain.ReadWrite.All"], scopes: ["User.Read"])
        let app = try await graph.upsertApplication(
            uniqueName: "bvoip-journal",
            [
                "displayName": .string("bvoip-msteams-integration"), "signInAudience": .string("AzureADMyOrg"),
                "web": .object(["redirectUris": .array([.string("https://pbx.example.com/oauth/callback")])]),
                "requiredResourceAccess": permissions.requiredResourceAccess,
            ])
        let id = try #require(app["id"] as? String)
        let principal = try await graph.ensureServicePrincipal(appID: try #require(app["appId"] as? String))
        let graphSP = try await graph.graphServicePrincipal()
        for (_, role) in permissions.roles {
            try await graph.assignAppRole(
                principalID: principal["id"] as! String, resourceID: graphSP["id"] as! String, appRoleID: role)
        }
        try await graph.grantDelegated(
            clientID: principal["id"] as! String, resourceID: graphSP["id"] as! String, scope: "User.Read")
        let password = try await graph.addPassword(
            applicationID: id, displayName: "PBX Secret", end: Date(timeIntervalSinceNow: 300 * 86_400))
        let key = try PrivateKey.generateRSA(bits: 2048)
        try await graph.setCertificates(
            applicationID: id, [(try Certificate.issue(.init(commonName: "PBX"), for: key), "PBX")])
        try await graph.removePassword(applicationID: id, keyID: password.keyID)
        let domain = "voice-journal.example.com"
        try await graph.createDomain(domain)
        let upn = "activation@\(tenant.defaultDomain)"
        try await graph.createUser(
            upn: upn, displayName: "Activation", usageLocation: "US", password: "Zq8!\(UUID().uuidString)")
        try await graph.assignLicense(
            user: upn, skuID: try #require(try await graph.subscribedSkus().first?["skuId"] as? String))
        http.shutdown()
        await simulator.stop()

        let (problems, checked, _) = try GraphSchema.validateJournal(
            try String(contentsOfFile: journal, encoding: .utf8))
        #expect(problems.isEmpty, "\(problems)")
        #expect(checked >= 10, "only \(checked) request bodies were checked")
    }
}
