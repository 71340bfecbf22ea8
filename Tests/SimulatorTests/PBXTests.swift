import Foundation
import Graph
import HTTP
import Simulator
import Testing

extension GraphLab {
    var pbx: SimPBX { simulator.world.pbxes["customer4"]! }  // customers[3], the lab's tenant

    func pbxToken() async throws -> String {
        let form = FormEncoding.encode([
            ("client_id", pbx.clientID), ("client_secret", pbx.clientSecret), ("grant_type", "client_credentials"),
        ])
        let response = try await http.execute(
            HTTPRequest(
                method: "POST", url: "\(base)/pbx/\(pbx.name)/connect/token",
                headers: [("Content-Type", "application/x-www-form-urlencoded")], body: form))
        let body = try JSONDecoder().decode(JSONValue.self, from: Data(response.body))
        return try #require(body["access_token"]?.string)
    }

    func xapi(_ method: String, _ path: String, token: String, json: String? = nil) async throws -> (Int, JSONValue?) {
        var headers: [(name: String, value: String)] = [("Authorization", "Bearer \(token)")]
        if json != nil { headers.append(("Content-Type", "application/json")) }
        let response = try await http.execute(
            HTTPRequest(
                method: method, url: "\(base)/pbx/\(pbx.name)/xapi/v1/\(path)",
                headers: headers, body: json.map { Array($0.utf8) }))
        return (response.status, try? JSONDecoder().decode(JSONValue.self, from: Data(response.body)))
    }
}

@Suite("Simulated PBX (3CX XAPI)", .serialized)
struct PBXTests {
    @Test func oneActiveTokenPerClient() async throws {
        let lab = try await GraphLab.start()
        let first = try await lab.pbxToken()
        #expect(try await lab.xapi("GET", "Microsoft365Integration", token: first).0 == 200)
        let second = try await lab.pbxToken()
        #expect(try await lab.xapi("GET", "Microsoft365Integration", token: first).0 == 401)
        #expect(try await lab.xapi("GET", "Microsoft365Integration", token: second).0 == 200)
        let wrong = try await lab.http.execute(
            HTTPRequest(
                method: "POST", url: "\(lab.base)/pbx/\(lab.pbx.name)/connect/token",
                headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: FormEncoding.encode([
                    ("client_id", "onboarder"), ("client_secret", "nope"), ("grant_type", "client_credentials"),
                ])))
        #expect(wrong.status == 400)
        await lab.stop()
    }

    @Test func testSubscriptionNeedsMoreThanAConsentedCredentialedApp() async throws {
        let lab = try await GraphLab.start()
        let token = try await lab.pbxToken()
        #expect(
            try await lab.xapi("GET", "Microsoft365Integration/Pbx.TestSubscription()", token: token).1?[
                "IsSubscriptionAvailable"] == .bool(false))
        #expect(
            try await lab.xapi("PATCH", "Microsoft365Integration", token: token, json: #"{"Secret": "x"}"#).0 == 400)

        let (_, app, _) = try await lab.call(
            "POST", "applications", json: sampleApplication, schema: "POST:/applications")
        let appID = try #require(app?["appId"]?.string)
        let configure =
            #"{"TenantId": "\#(lab.tenant.id.uuidString.lowercased())", "ApplicationId": "\#(appID)", "AdUsers": {"IsEnabled": true, "SelectedUsers": ["user1@\#(lab.tenant.defaultDomain)"], "StartingExtensionNumber": "200"}}"#
        #expect(try await lab.xapi("PATCH", "Microsoft365Integration", token: token, json: configure).0 == 204)
        let callback = #"{"web": {"redirectUris": ["\#(lab.base)/pbx/\#(lab.pbx.name)/api/microsoft365/callback"]}}"#
        #expect(try await lab.call("PATCH", "applications/\(app?["id"]?.string ?? "")", json: callback).0 == 204)
        // No consent yet: the technician's sign-in is refused as Entra refuses it.
        var result = try await lab.xapi("GET", "Microsoft365Integration/Pbx.TestSubscription()", token: token).1
        #expect(result?["IsSubscriptionAvailable"] == .bool(false))
        #expect(
            try await lab.technician("POST", "/m365/signin").1?["error_description"]?.string?.hasPrefix("AADSTS65001")
                == true)
        // Consent (service principal + one app role) and a secret.
        let (_, principal, _) = try await lab.call("POST", "servicePrincipals", json: #"{"appId": "\#(appID)"}"#)
        let (_, graph, _) = try await lab.call("GET", "servicePrincipals(appId='00000003-0000-0000-c000-000000000000')")
        let role = try #require(
            graph?["appRoles"]?.array?.first { $0["value"]?.string == "User.Read.All" }?["id"]?.string)
        _ = try await lab.call(
            "POST", "servicePrincipals/\(graph?["id"]?.string ?? "")/appRoleAssignedTo",
            json:
                #"{"principalId": "\#(principal?["id"]?.string ?? "")", "resourceId": "\#(graph?["id"]?.string ?? "")", "appRoleId": "\#(role)"}"#
        )
        let (secret, _) = try await lab.addSecret(app?["id"]?.string ?? "")
        // A consented app with a secret is not enough: the PBX itself must be signed in and hold the credentials.
        result = try await lab.xapi("GET", "Microsoft365Integration/Pbx.TestSubscription()", token: token).1
        #expect(result?["IsSubscriptionAvailable"] == .bool(false))
        #expect(result?["ExceptionMessage"]?.string?.contains("Not signed in") == true)
        #expect(try await lab.technician("POST", "/m365/signin").0 == 204)
        #expect(try await lab.technician("PUT", "/m365/secret", body: secret).0 == 204)
        let pem = try #require(try await lab.technician("POST", "/m365/keypair").1?["certificate_pem"]?.string)
        try await lab.setCertificates(app?["id"]?.string ?? "", [pem])
        result = try await lab.xapi("GET", "Microsoft365Integration/Pbx.TestSubscription()", token: token).1
        #expect(result?["IsSubscriptionAvailable"] == .bool(true))
        #expect(result?["ExceptionMessage"] == .null)
        let (_, users) = try await lab.xapi("GET", "Users", token: token)
        #expect(users?["value"]?.array?.first?["Number"]?.string == "200")
        await lab.stop()
    }

    @Test func teamsIntegrationAndItsScripts() async throws {
        let lab = try await GraphLab.start()
        let token = try await lab.pbxToken()
        let fqdn = "sbc.\(lab.tenant.defaultDomain)"
        #expect(
            try await lab.xapi(
                "PATCH", "Microsoft365TeamsIntegration", token: token,
                json: #"{"Enabled": true, "SbcFQDN": "\#(fqdn)", "SipDomain": "\#(lab.tenant.defaultDomain)"}"#
            ).0 == 204)
        #expect(try await lab.xapi("GET", "Microsoft365TeamsIntegration", token: token).1?["SbcFQDN"]?.string == fqdn)
        #expect(
            try await lab.xapi("GET", "Microsoft365TeamsIntegration/Pbx.CheckFqdnRecord(fqdn='\(fqdn)')", token: token)
                .1?["value"] == .bool(true))
        #expect(
            try await lab.xapi(
                "GET", "Microsoft365TeamsIntegration/Pbx.CheckFqdnRecord(fqdn='sbc.unknown.example')", token: token
            ).1?["value"] == .bool(false))
        let script = try await lab.xapi("GET", "Microsoft365TeamsIntegration/Pbx.GetDialPlanScript()", token: token).1?[
            "value"]?.string
        #expect(script?.contains("-OnlinePstnGatewayList \(fqdn)") == true)
        await lab.stop()
    }
}
