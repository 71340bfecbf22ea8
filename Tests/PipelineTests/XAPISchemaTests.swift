import Foundation
import Graph
import HTTP
import PBX
import Simulator
import TestSupport
import Testing

/// Every XAPI route Onboarder calls, answered by the simulated PBX over loopback HTTP, checked against the
/// XAPI's published schema (`Tests/Fixtures/3cx/xapi-subset.openapi.json`) in a fresh and in a configured
/// PBX; and Onboarder's `XAPIClient` reading those same answers.
@Suite("The simulated PBX answers as the XAPI schema says", .serialized)
struct XAPISchemaTests {
    final class Lab: Sendable {
        let simulator: Simulator
        let base: String
        let http = HTTPClient()
        let pbx: SimPBX
        let validator: GraphBodyValidator

        init() async throws {
            simulator = try Simulator(world: World(customers: 3, seed: 5))
            base = try simulator.start()
            pbx = try #require(simulator.world.pbxes.values.sorted { $0.name < $1.name }.first)
            validator = try GraphBodyValidator(contentsOf: GraphBodyValidator.vendoredXAPIDocumentPath)
        }

        var pbxURL: String { "\(base)/pbx/\(pbx.name)" }

        func client() -> XAPIClient {
            XAPIClient(http: http, baseURL: pbxURL, clientID: pbx.clientID, secret: pbx.clientSecret)
        }

        func token() async throws -> String {
            let response = try await http.execute(
                HTTPRequest(
                    method: "POST", url: "\(pbxURL)/connect/token",
                    headers: [("Content-Type", "application/x-www-form-urlencoded")],
                    body: FormEncoding.encode([
                        ("client_id", pbx.clientID), ("client_secret", pbx.clientSecret),
                        ("grant_type", "client_credentials"),
                    ])))
            #expect(response.status == 200)
            // Not in the OpenAPI document: the token answer's shape as 3CX documents it (Fixtures/3cx/README.md).
            let body = try StrictJSON.parse(response.body)
            #expect(
                body.members?.map { $0.name }.sorted() == ["access_token", "expires_in", "refresh_token", "token_type"])
            if case .number = body["expires_in"] {} else { Issue.record("expires_in is not a number") }
            return try #require(body["access_token"]?.string)
        }

        /// One XAPI call; its answer must be one the schema declares for `operation`, with the body it gives.
        @discardableResult
        func call(
            _ method: String, _ path: String, operation: String, json: String? = nil, expect status: Int = 200,
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> StrictJSON? {
            var headers: [(name: String, value: String)] = [("Authorization", "Bearer \(try await token())")]
            if json != nil { headers.append(("Content-Type", "application/json")) }
            let response = try await http.execute(
                HTTPRequest(
                    method: method, url: "\(pbxURL)/xapi/v1/\(path)", headers: headers,
                    body: json.map { Array($0.utf8) }))
            #expect(response.status == status, "\(method) \(path)", sourceLocation: sourceLocation)
            guard validator.responseSchema(of: "\(method):\(operation)", status: response.status) != nil else {
                #expect(
                    response.body.isEmpty, "\(method) \(path) answers \(response.status) with no body",
                    sourceLocation: sourceLocation)
                return nil
            }
            let body = try StrictJSON.parse(response.body)
            let problems = validator.validateResponse(
                body, operation: "\(method):\(operation)", status: response.status)
            #expect(problems.isEmpty, "\(method) \(path): \(problems)", sourceLocation: sourceLocation)
            return body
        }

        /// Every read Onboarder makes, in the PBX's present state.
        func readEverything(sbc fqdn: String) async throws {
            try await call("GET", "Microsoft365Integration", operation: "/Microsoft365Integration")
            try await call(
                "GET", "Microsoft365Integration/Pbx.TestSubscription()",
                operation: "/Microsoft365Integration/Pbx.TestSubscription()")
            try await call(
                "GET", "Microsoft365Integration/Pbx.GetMicrosoft365Directory()",
                operation: "/Microsoft365Integration/Pbx.GetMicrosoft365Directory()")
            try await call("GET", "Microsoft365TeamsIntegration", operation: "/Microsoft365TeamsIntegration")
            try await call(
                "GET", "Microsoft365TeamsIntegration/Pbx.CheckFqdnRecord(fqdn='\(fqdn)')",
                operation: "/Microsoft365TeamsIntegration/Pbx.CheckFqdnRecord(fqdn={fqdn})")
            for function in ["GetDialPlanScript", "GetMapUsersScript"] {
                try await call(
                    "GET", "Microsoft365TeamsIntegration/Pbx.\(function)()",
                    operation: "/Microsoft365TeamsIntegration/Pbx.\(function)()")
            }
            try await call("GET", "Users", operation: "/Users")
        }

        func stop() async {
            http.shutdown()
            await simulator.stop()
        }
    }

    @Test func everyAnswerFollowsTheSchemaFreshAndConfigured() async throws {
        let lab = try await Lab()
        let tenant = try #require(lab.simulator.world.customers.first { $0.id == lab.pbx.tenantID })
        let sbc = "sbc.\(tenant.defaultDomain)"

        // Fresh: nothing configured.
        let fresh = try await lab.call("GET", "Microsoft365Integration", operation: "/Microsoft365Integration")
        #expect(fresh?["SharedMailboxesSync"]?.members != nil)
        #expect(fresh?["ApplicationId"] == .string("") && fresh?["TenantId"] == .string(""))
        try await lab.readEverything(sbc: sbc)

        // Configured, with the PATCHes Onboarder sends.
        let app = UUID().uuidString.lowercased()
        try await lab.call(
            "PATCH", "Microsoft365Integration", operation: "/Microsoft365Integration",
            json: #"{"TenantId": "\#(tenant.id.uuidString.lowercased())", "ApplicationId": "\#(app)"}"#, expect: 204)
        try await lab.call(
            "PATCH", "Microsoft365Integration", operation: "/Microsoft365Integration",
            json: #"{"AdUsers": {"IsEnabled": true, "SelectedUsers": ["user1@\#(tenant.defaultDomain)"]}}"#, expect: 204
        )
        try await lab.call(
            "PATCH", "Microsoft365TeamsIntegration", operation: "/Microsoft365TeamsIntegration",
            json: #"{"Enabled": true, "SbcFQDN": "\#(sbc)", "SipDomain": "\#(tenant.defaultDomain)"}"#, expect: 204)
        try await lab.readEverything(sbc: sbc)
        let users = try await lab.call("GET", "Users", operation: "/Users")
        #expect(users?["value"]?.array?.count == 1)

        // Refusals come in the XAPI's error shape (the schema's `default` answer).
        try await lab.call(
            "PATCH", "Microsoft365Integration", operation: "/Microsoft365Integration", json: #"{"Secret": "x"}"#,
            expect: 400)
        // A value the schema refuses is refused, so that no later answer carries it.
        for json in [
            #"{"ApplicationId": null}"#, #"{"SharedMailboxesSync": false}"#, #"{"TenantId": 7}"#,
        ] {
            try await lab.call(
                "PATCH", "Microsoft365Integration", operation: "/Microsoft365Integration", json: json, expect: 400)
        }
        try await lab.call(
            "PATCH", "Microsoft365TeamsIntegration", operation: "/Microsoft365TeamsIntegration",
            json: #"{"TlsPortForNonNativeFQDN": "5061"}"#, expect: 400)
        try await lab.call("GET", "Microsoft365Integration", operation: "/Microsoft365Integration")
        try await lab.call("GET", "Microsoft365TeamsIntegration", operation: "/Microsoft365TeamsIntegration")
        try await lab.call(
            "GET", "Microsoft365Integration/Pbx.NoSuchFunction()", operation: "/Microsoft365Integration", expect: 404)
        await lab.stop()
    }

    /// Onboarder's client reads the conforming answers: empty ids on a fresh PBX are "not configured" (it
    /// PATCHes them), and the configured ones come back as set.
    @Test func theClientReadsTheConformingAnswers() async throws {
        let lab = try await Lab()
        let client = lab.client()
        let fresh = try await client.microsoft365Integration()
        #expect(fresh.ApplicationId == "" && fresh.TenantId == "")
        #expect(fresh.AdUsers?.SelectedUsers == [])
        let test = try await client.testSubscription()
        #expect(!test.IsSubscriptionAvailable && test.ExceptionMessage?.isEmpty == false)

        let app = UUID().uuidString.lowercased()
        let tenant = lab.pbx.tenantID.uuidString.lowercased()
        try await client.setMicrosoft365Application(tenantID: tenant, applicationID: app)
        try await client.setSelectedUsers(["user1@example.com"])
        let configured = try await client.microsoft365Integration()
        #expect(configured.ApplicationId == app && configured.TenantId == tenant)
        #expect(configured.AdUsers?.SelectedUsers == ["user1@example.com"])
        try await client.setTeamsIntegration(sbcFQDN: "sbc.example.com", sipDomain: "example.com")
        #expect(try await client.teamsScript("GetDialPlanScript").contains("sbc.example.com"))
        #expect(try await client.teamsScript("GetMapUsersScript").contains("user1@example.com"))
        await lab.stop()
    }
}
