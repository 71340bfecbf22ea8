import Crypto
import Foundation
import Graph
import HTTP
import Simulator
import Testing

@Suite("Graph client: consent, certificates, the Teams path, licences, policy")
struct GraphCallsTests {
    @Test func consentByAPIThenTheNewAppsOwnCertificateSignsIn() async throws {
        let cloud = try await SimulatedCloud.start()
        let graph = cloud.graph(for: cloud.consented)
        let app = try await graph.upsertApplication(
            uniqueName: "bvoip-cert", ApplicationRegistration(displayName: "bvoip"))
        let id = app.id
        let appID = app.appId
        let principalID = try await graph.createServicePrincipal(appID: appID).id
        let graphID = try await graph.microsoftGraphServicePrincipal().id
        let permissions = try await graph.resolvePermissions(
            roles: ["User.Read.All", "Domain.ReadWrite.All"], scopes: ["User.Read"])
        for (_, roleID) in permissions.roles {
            try await graph.assignAppRole(principalID: principalID, resourceID: graphID, appRoleID: roleID)
        }
        try await graph.grantDelegated(clientID: principalID, resourceID: graphID, scopes: ["User.Read"])
        #expect(
            try await graph.appRoleAssignments(principalID: principalID).filter { $0.resourceId == graphID }.count == 2)
        #expect(try await graph.permissionGrants(clientID: principalID).first?.scope == "User.Read")
        // Two certificates, then only the second: the first stops working.
        let key = try PrivateKey.generateRSA(bits: 2048)
        let first = try Certificate.issue(.init(commonName: "PBX 1"), for: key)
        let second = try Certificate.issue(.init(commonName: "PBX 2"), for: key)
        try await graph.setCertificates(
            applicationID: id,
            [CertificateUpload(first, displayName: "PBX 1"), CertificateUpload(second, displayName: "PBX 2")])
        try await graph.setCertificates(applicationID: id, [CertificateUpload(second, displayName: "PBX 2")])
        let tokens = TokenClient(http: cloud.http, loginBaseURL: cloud.base)
        let token = try await tokens.token(
            tenant: cloud.consented.id.uuidString, clientID: appID,
            credential: .certificate(second, key, preferred: .ps256))
        #expect(
            Set((try claims(of: token.value)["roles"] as? [String]) ?? []) == ["User.Read.All", "Domain.ReadWrite.All"])
        let gone = await #expect(throws: GraphError.self) {
            try await TokenClient(http: cloud.http, loginBaseURL: cloud.base).token(
                tenant: cloud.consented.id.uuidString, clientID: appID,
                credential: .certificate(first, key, preferred: .rs256))
        }
        #expect(gone?.code == "AADSTS700027")
        await cloud.stop()
    }

    @Test func theTeamsPathDomainUserAndLicence() async throws {
        let cloud = try await SimulatedCloud.start()
        let graph = cloud.graph(for: cloud.consented)
        let domain = "voice.contoso-\(Int.random(in: 1000...9999)).com"
        _ = try await graph.createDomain(domain)
        let txt = try #require(try await graph.verificationRecords(of: domain).txt)
        let early = await #expect(throws: GraphError.self) { try await graph.verifyDomain(domain) }
        #expect(early?.failure == .invalidRequest)
        // Published through the simulator's Cloudflare-shaped API: the zone's id by name, then the record.
        let zone = String(domain.split(separator: ".", maxSplits: 1)[1])
        let zones = try await cloud.http.execute(
            HTTPRequest(url: "\(cloud.base)/client/v4/zones?name=\(zone)", headers: [("Authorization", "Bearer dns")]))
        let zoneID = try #require(
            ((try JSONSerialization.jsonObject(with: Data(zones.body)) as? [String: Any])?["result"] as? [[String: Any]])?
                .first?["id"] as? String)
        let published = try await cloud.http.execute(
            HTTPRequest(
                method: "POST", url: "\(cloud.base)/client/v4/zones/\(zoneID)/dns_records",
                headers: [("Authorization", "Bearer dns"), ("Content-Type", "application/json")],
                body: Array(#"{"type": "TXT", "name": "\#(domain)", "content": "\#(txt)"}"#.utf8)))
        #expect(published.status == 200)
        #expect(try await graph.verifyDomain(domain).isVerified == true)
        #expect(try await graph.verificationRecords(of: domain).txt == nil)
        let upn = "teams-activation@\(domain)"
        _ = try await graph.createUser(
            NewUser(
                upn: upn, displayName: "Teams activation", usageLocation: "US", password: "Zq8!\(UUID().uuidString)"))
        let sku = try #require(try await graph.subscribedSkus().first?.skuId)
        try await graph.assignLicense(user: upn, skuID: sku)
        let plans = try await graph.servicePlans(user: upn)
        #expect(plans.contains("TEAMS1"))
        // customers[2] is on E3 in the generated world: no Phone System, a warning for the dashboard.
        #expect(
            plans.contains("MCOEV")
                == (cloud.consented.skus.first?.servicePlans.contains { $0.name == "MCOEV" } ?? false))
        await cloud.stop()
    }

    @Test func thePolicyNeedsARoleThePartnerAppLacks() async throws {
        let cloud = try await SimulatedCloud.start()
        let refused = await #expect(throws: GraphError.self) {
            try await cloud.graph(for: cloud.consented).maxPasswordLifetimeDays()
        }
        #expect(refused?.code == "Authorization_RequestDenied")
        await cloud.stop()
    }
}
