import Crypto
import Foundation
import Graph
import HTTP
import Simulator
import Testing

/// The technician at the lab PBX's Microsoft 365 page (`/_sim/pbx/{pbx}/m365/…`), and the customer app the
/// pipeline would have made for it.
extension GraphLab {
    func technician(_ method: String, _ action: String = "", body: String? = nil) async throws -> (
        Int, JSONValue?, String
    ) {
        let response = try await http.execute(
            HTTPRequest(
                method: method, url: "\(base)/_sim/pbx/\(pbx.name)\(action)",
                headers: body == nil ? [] : [("Content-Type", "text/plain")], body: body.map { Array($0.utf8) }))
        let text = String(decoding: response.body, as: UTF8.self)
        return (response.status, try? JSONDecoder().decode(JSONValue.self, from: Data(response.body)), text)
    }

    /// The ids as the pipeline's hand-over sets them through the XAPI.
    func setIDs(tenant: String, app: String, token: String) async throws {
        let json = #"{"TenantId": "\#(tenant)", "ApplicationId": "\#(app)"}"#
        #expect(try await xapi("PATCH", "Microsoft365Integration", token: token, json: json).0 == 204)
    }

    func testSubscription(_ token: String) async throws -> (available: Bool, message: String?) {
        let answer = try await xapi("GET", "Microsoft365Integration/Pbx.TestSubscription()", token: token).1
        return (answer?["IsSubscriptionAvailable"] == .bool(true), answer?["ExceptionMessage"]?.string)
    }

    /// The customer's app as onboarding leaves it: the PBX's callback as redirect URI, consented with
    /// User.Read.All, one client secret. Returns its object id, appId, the secret and its keyId.
    func customerApp(callback: Bool = true, consent: Bool = true) async throws -> (
        id: String, appID: String, secret: String, keyID: String
    ) {
        let redirect = callback ? "\(base)/pbx/\(pbx.name)/api/microsoft365/callback" : "https://pbx.example.com/other"
        let (_, app, _) = try await call(
            "POST", "applications",
            json: #"{"displayName": "bvoip-msteams-integration", "web": {"redirectUris": ["\#(redirect)"]}}"#)
        let id = try #require(app?["id"]?.string)
        let appID = try #require(app?["appId"]?.string)
        if consent {
            let (_, principal, _) = try await call("POST", "servicePrincipals", json: #"{"appId": "\#(appID)"}"#)
            let (_, graph, _) = try await call("GET", "servicePrincipals(appId='00000003-0000-0000-c000-000000000000')")
            let role = try #require(
                graph?["appRoles"]?.array?.first { $0["value"]?.string == "User.Read.All" }?["id"]?.string)
            let graphID = graph?["id"]?.string ?? ""
            _ = try await call(
                "POST", "servicePrincipals/\(graphID)/appRoleAssignedTo",
                json:
                    #"{"principalId": "\#(principal?["id"]?.string ?? "")", "resourceId": "\#(graphID)", "appRoleId": "\#(role)"}"#
            )
        }
        let (secret, keyID) = try await addSecret(id)
        return (id, appID, secret, keyID)
    }

    func addSecret(_ appObjectID: String) async throws -> (secret: String, keyID: String) {
        let (_, password, _) = try await call(
            "POST", "applications/\(appObjectID)/addPassword",
            json: #"{"passwordCredential": {"displayName": "PBX Secret"}}"#)
        return (try #require(password?["secretText"]?.string), try #require(password?["keyId"]?.string))
    }

    /// Sets the app's certificates (what `onboarder cert add` leads to), by PEM.
    func setCertificates(_ appObjectID: String, _ pems: [String]) async throws {
        let entries = try pems.map { pem in
            let der = Data(try Certificate(pem: pem).der).base64EncodedString()
            return #"{"type": "AsymmetricX509Cert", "usage": "Verify", "key": "\#(der)"}"#
        }
        let (status, _, _) = try await call(
            "PATCH", "applications/\(appObjectID)", json: #"{"keyCredentials": [\#(entries.joined(separator: ","))]}"#)
        #expect(status == 204)
    }

    /// The whole hand-over done right: ids, key pair uploaded, secret pasted, signed in. Returns the app.
    func completeHandover(token: String) async throws -> (id: String, appID: String, secret: String, keyID: String) {
        let app = try await customerApp()
        try await setIDs(tenant: tenant.id.uuidString.lowercased(), app: app.appID, token: token)
        let pem = try #require(try await technician("POST", "/m365/keypair").1?["certificate_pem"]?.string)
        try await setCertificates(app.id, [pem])
        #expect(try await technician("PUT", "/m365/secret", body: app.secret).0 == 204)
        #expect(try await technician("POST", "/m365/signin").0 == 204)
        return app
    }

    func betaReport(_ query: String, token: String? = nil) async throws -> (Int, JSONValue?) {
        let (status, body, _) = try await call(
            "GET", "\(base)/beta/reports/appCredentialSignInActivities\(query)", token: token)
        return (status, body)
    }
}

@Suite("Simulated PBX: the technician's hand-over", .serialized)
struct PBXHandoverTests {
    @Test func keyPairCertificateAndSecretEndpoints() async throws {
        let lab = try await GraphLab.start()
        #expect(try await lab.technician("GET", "/m365/certificate").0 == 404)
        let (status, first, _) = try await lab.technician("POST", "/m365/keypair")
        #expect(status == 200)
        let pem = try #require(first?["certificate_pem"]?.string)
        let certificate = try Certificate(pem: pem)
        let thumbprint = try certificate.sha1Thumbprint.map { String(format: "%02X", $0) }.joined()
        #expect(first?["thumbprint"]?.string == thumbprint)
        #expect(try await lab.technician("GET", "/m365/certificate").2 == pem)
        // A new key pair replaces the old one, as on a 3CX.
        let second = try #require(try await lab.technician("POST", "/m365/keypair").1?["certificate_pem"]?.string)
        #expect(second != pem)
        #expect(try await lab.technician("GET", "/m365/certificate").2 == second)
        #expect(try await lab.technician("PUT", "/m365/secret", body: "  \n").0 == 400)
        #expect(try await lab.technician("PUT", "/m365/secret", body: "the~secret").0 == 204)
        let (_, state, text) = try await lab.technician("GET")
        #expect(state?["secret_held"] == .bool(true))
        #expect(state?["secret_key_id"] == .null)
        #expect(state?["certificate_on_app"] == .bool(false))
        #expect(state?["signed_in"] == .bool(false))
        #expect(state?["name"]?.string == lab.pbx.name)
        #expect(!text.contains("the~secret") && !text.contains("PRIVATE KEY"))
        #expect(
            try await lab.http.execute(HTTPRequest(method: "GET", url: "\(lab.base)/_sim/pbx/nosuchpbx")).status == 404)
        await lab.stop()
    }

    @Test func signInRefusesAsEntraWould() async throws {
        let lab = try await GraphLab.start()
        let token = try await lab.pbxToken()
        let tenant = lab.tenant.id.uuidString.lowercased()
        func refusal() async throws -> String? {
            let (status, body, _) = try await lab.technician("POST", "/m365/signin")
            #expect(status == 400)
            return body?["error_description"]?.string.map { String($0.prefix { $0 != ":" }) }
        }
        #expect(try await refusal() == "AADSTS900023")
        try await lab.setIDs(tenant: tenant, app: UUID().uuidString.lowercased(), token: token)
        #expect(try await refusal() == "AADSTS700016")
        let other = lab.simulator.world.customers[0].id.uuidString.lowercased()
        let noCallback = try await lab.customerApp(callback: false)
        try await lab.setIDs(tenant: other, app: noCallback.appID, token: token)
        #expect(try await refusal() == "AADSTS50020")
        try await lab.setIDs(tenant: tenant, app: noCallback.appID, token: token)
        #expect(try await refusal() == "AADSTS50011")
        let unconsented = try await lab.customerApp(consent: false)
        try await lab.setIDs(tenant: tenant, app: unconsented.appID, token: token)
        #expect(try await refusal() == "AADSTS65001")
        let app = try await lab.customerApp()
        try await lab.setIDs(tenant: tenant, app: app.appID, token: token)
        #expect(try await lab.technician("POST", "/m365/signin").0 == 204)
        #expect(try await lab.technician("GET").1?["signed_in"] == .bool(true))
        await lab.stop()
    }

    @Test func testSubscriptionNamesTheFirstMissingPartInOrder() async throws {
        let lab = try await GraphLab.start()
        let token = try await lab.pbxToken()
        let tenant = lab.tenant.id.uuidString.lowercased()
        func expectProblem(_ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let result = try await lab.testSubscription(token)
            #expect(!result.available, sourceLocation: sourceLocation)
            #expect(
                result.message?.contains(fragment) == true, "\(result.message ?? "nil")", sourceLocation: sourceLocation
            )
            let directory = try await lab.xapi(
                "GET", "Microsoft365Integration/Pbx.GetMicrosoft365Directory()", token: token
            ).1
            #expect(directory?["ExceptionMessage"]?.string == result.message, sourceLocation: sourceLocation)
        }
        try await expectProblem("ids are not set")
        let app = try await lab.customerApp()
        try await lab.setIDs(
            tenant: lab.simulator.world.customers[0].id.uuidString.lowercased(), app: app.appID, token: token)
        try await expectProblem("not this customer's")
        try await lab.setIDs(tenant: tenant, app: app.appID, token: token)
        try await expectProblem("Not signed in")
        #expect(try await lab.technician("POST", "/m365/signin").0 == 204)
        try await expectProblem("No client secret")
        #expect(try await lab.technician("PUT", "/m365/secret", body: app.secret).0 == 204)
        try await expectProblem("No key pair")
        let pem = try #require(try await lab.technician("POST", "/m365/keypair").1?["certificate_pem"]?.string)
        try await expectProblem("AADSTS700027")
        try await lab.setCertificates(app.id, [pem])
        #expect(try await lab.testSubscription(token) == (true, nil))
        let state = try await lab.technician("GET").1
        #expect(state?["secret_key_id"]?.string == app.keyID)
        #expect(state?["certificate_on_app"] == .bool(true))
        #expect(state?["signed_in"] == .bool(true))
        await lab.stop()
    }

    @Test func testSubscriptionFailsWhenWhatThePBXHoldsStopsWorking() async throws {
        let lab = try await GraphLab.start()
        let token = try await lab.pbxToken()
        let app = try await lab.completeHandover(token: token)
        #expect(try await lab.testSubscription(token) == (true, nil))

        // The secret removed from the app: Entra refuses the PBX's secret at once.
        let removed = try await lab.call(
            "POST", "applications/\(app.id)/removePassword", json: #"{"keyId": "\#(app.keyID)"}"#)
        #expect(removed.0 == 204)
        #expect(try await lab.testSubscription(token).message?.hasPrefix("AADSTS7000215") == true)
        #expect(try await lab.technician("GET").1?["secret_key_id"] == .null)

        // A new secret, not propagated yet, then propagated.
        let (secret, keyID) = try await lab.addSecret(app.id)
        #expect(try await lab.technician("PUT", "/m365/secret", body: secret).0 == 204)
        var slow = Faults()
        slow.propagationMs = 60_000
        lab.simulator.setFaults(slow)
        #expect(try await lab.testSubscription(token).message?.hasPrefix("AADSTS7000215") == true)
        lab.simulator.setFaults(Faults())
        #expect(try await lab.testSubscription(token) == (true, nil))
        #expect(try await lab.technician("GET").1?["secret_key_id"]?.string == keyID)

        // Expired.
        lab.simulator.withWorld { world in
            let held = world.tenants[lab.tenant.id]?.applications.values.first {
                $0.appID == UUID(uuidString: app.appID)!
            }
            for index in held?.passwords.indices ?? 0..<0 {
                held?.passwords[index].end = Date(timeIntervalSinceNow: -60)
            }
        }
        #expect(try await lab.testSubscription(token).message?.hasPrefix("AADSTS7000222") == true)
        lab.simulator.withWorld { world in
            let held = world.tenants[lab.tenant.id]?.applications.values.first {
                $0.appID == UUID(uuidString: app.appID)!
            }
            for index in held?.passwords.indices ?? 0..<0 { held?.passwords[index].end = .distantFuture }
        }
        #expect(try await lab.testSubscription(token) == (true, nil))

        // The PBX's certificate no longer on the app (another certificate is).
        let stranger = try Certificate.issue(.init(commonName: "someone else"), for: PrivateKey.generateRSA(bits: 2048))
        try await lab.setCertificates(app.id, [try stranger.pem])
        #expect(try await lab.testSubscription(token).message?.hasPrefix("AADSTS700027") == true)
        #expect(try await lab.technician("GET").1?["certificate_on_app"] == .bool(false))
        let pem = try #require(try await lab.technician("GET", "/m365/certificate").2 as String?)
        try await lab.setCertificates(app.id, [pem])
        #expect(try await lab.testSubscription(token) == (true, nil))

        // The ids changed through the XAPI: the sign-in was for the old ones, even when changed back.
        let tenant = lab.tenant.id.uuidString.lowercased()
        try await lab.setIDs(tenant: tenant, app: app.appID, token: token)
        #expect(try await lab.testSubscription(token) == (true, nil))
        let other = try await lab.customerApp()
        try await lab.setIDs(tenant: tenant, app: other.appID, token: token)
        try await lab.setIDs(tenant: tenant, app: app.appID, token: token)
        #expect(try await lab.testSubscription(token).message?.contains("Not signed in") == true)
        #expect(try await lab.technician("GET").1?["signed_in"] == .bool(false))

        // Graph refuses once the app's consent is gone.
        #expect(try await lab.technician("POST", "/m365/signin").0 == 204)
        #expect(try await lab.testSubscription(token) == (true, nil))
        lab.simulator.withWorld { world in
            let tenant = world.tenants[lab.tenant.id]!
            let principal = tenant.principals.values.first { $0.appID == UUID(uuidString: app.appID)! }!.id
            tenant.appRoleAssignments.removeAll { $0.principalID == principal }
        }
        #expect(try await lab.testSubscription(token).message?.contains("Microsoft Graph refused") == true)
        await lab.stop()
    }

    @Test func credentialSignInReportShowsWhichKeySignedIn() async throws {
        let lab = try await GraphLab.start()
        let token = try await lab.pbxToken()
        let app = try await lab.completeHandover(token: token)
        let unused = try await lab.addSecret(app.id)
        let filter =
            "?$filter=" + "appId eq '\(app.appID)'".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        #expect(try await lab.betaReport(filter).1?["value"]?.array == [])
        #expect(try await lab.testSubscription(token) == (true, nil))

        let (status, report) = try await lab.betaReport(filter)
        #expect(status == 200)
        #expect(
            report?["@odata.context"]?.string
                == "https://graph.microsoft.com/beta/$metadata#reports/appCredentialSignInActivities")
        let entries = report?["value"]?.array ?? []
        let bySecret = try #require(entries.first { $0["keyType"]?.string == "clientSecret" })
        #expect(bySecret["keyId"]?.string == app.keyID)
        #expect(bySecret["appId"]?.string == app.appID)
        #expect(bySecret["appObjectId"]?.string == app.id)
        #expect(bySecret["credentialOrigin"]?.string == "application")
        #expect(bySecret["signInActivity"]?["lastSignInDateTime"]?.string != nil)
        let keyIDs = lab.simulator.withWorld { world in
            world.tenants[lab.tenant.id]?.applications.values.first { $0.appID == UUID(uuidString: app.appID)! }?.keys
                .map {
                    $0.keyID.uuidString.lowercased()
                } ?? []
        }
        #expect(entries.first { $0["keyType"]?.string == "certificate" }?["keyId"]?.string == keyIDs.first)
        #expect(entries.count == 2)
        #expect(!entries.contains { $0["keyId"]?.string == unused.keyID })

        // By keyId: the one credential.
        let byKey = try await lab.betaReport(
            "?$filter=" + "keyId eq '\(app.keyID)'".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
        #expect(byKey.1?["value"]?.array?.compactMap { $0["keyId"]?.string } == [app.keyID])
        // Another app's sign-ins are not this app's.
        let other = try await lab.betaReport(
            "?$filter=" + "appId eq '\(UUID().uuidString.lowercased())'".addingPercentEncoding(
                withAllowedCharacters: .alphanumerics)!)
        #expect(other.1?["value"]?.array == [])
        #expect(try await lab.betaReport("?$filter=displayName%20eq%20'x'").0 == 400)
        await lab.stop()
    }

    @Test func credentialSignInReportNeedsAuditLogAndAPremiumTenant() async throws {
        let lab = try await GraphLab.start()
        let tenant = lab.tenant.id.uuidString
        func partnerToken() async throws -> String {
            try await TokenClient(http: lab.http, loginBaseURL: lab.base).token(
                tenant: tenant, clientID: lab.simulator.world.partnerApp.appID.uuidString,
                credential: .secret(lab.simulator.world.partnerSecret)
            ).value
        }
        #expect(try await lab.betaReport("").0 == 200)
        func patchTenant(_ json: String) async throws {
            let response = try await lab.http.execute(
                HTTPRequest(
                    method: "PATCH", url: "\(lab.base)/_sim/tenants/\(tenant)",
                    headers: [("Content-Type", "application/json")], body: Array(json.utf8)))
            #expect(response.status == 200)
        }
        try await patchTenant(#"{"audit_log_consent": false}"#)
        let withoutAuditLog = try await lab.betaReport("", token: try await partnerToken())
        #expect(withoutAuditLog.0 == 403)
        #expect(withoutAuditLog.1?["error"]?["code"]?.string == "Authorization_RequestDenied")
        try await patchTenant(#"{"audit_log_consent": true, "entra_id_premium": false}"#)
        let unlicensed = try await lab.betaReport("", token: try await partnerToken())
        #expect(unlicensed.0 == 403)
        #expect(unlicensed.1?["error"]?["code"]?.string == "Authentication_RequestFromNonPremiumTenantOrB2CTenant")
        await lab.stop()
    }
}
