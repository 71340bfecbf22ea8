import Crypto
import Foundation
import Graph
import HTTP
import Simulator
import TestSupport
import Testing

/// A simulator, an HTTP client, and a Graph token for one consented customer tenant.
struct GraphLab {
    let simulator: Simulator
    let base: String
    let http = HTTPClient()
    let tenant: SimTenant
    let token: String

    static func start() async throws -> GraphLab {
        let simulator = try Simulator(world: World(customers: 10, seed: 3))
        let base = try simulator.start()
        let tenant = simulator.world.customers[3]
        let http = HTTPClient()
        let token = try await TokenClient(http: http, loginBaseURL: base).token(
            tenant: tenant.id.uuidString, clientID: simulator.world.partnerApp.appID.uuidString,
            credential: .secret(simulator.world.partnerSecret))
        return GraphLab(simulator: simulator, base: base, tenant: tenant, token: token.value)
    }

    /// Sends a Graph request; every JSON body is first checked against Graph's own schema.
    /// Every JSON body is validated against Graph's schema (the operation named by `schema`, or derived from
    /// the method and path) unless `invalidOnPurpose`, for the tests that check the simulator's refusals.
    func call(
        _ method: String, _ path: String, json: String? = nil, schema: String? = nil, token: String? = nil,
        headers: [(name: String, value: String)] = [], invalidOnPurpose: Bool = false
    ) async throws -> (Int, JSONValue?, HTTPResponse) {
        if let json, !invalidOnPurpose, let operation = schema ?? GraphSchema.operation(method, path) {
            try validateAgainstGraphSchema(json, operation)
        }
        var allHeaders = headers + [("Authorization", "Bearer \(token ?? self.token)")]
        if json != nil { allHeaders.append(("Content-Type", "application/json")) }
        let url = path.hasPrefix("http") ? path : "\(base)/v1.0/\(path)"
        let response = try await http.execute(
            HTTPRequest(method: method, url: url, headers: allHeaders, body: json.map { Array($0.utf8) }))
        return (response.status, try? JSONDecoder().decode(JSONValue.self, from: Data(response.body)), response)
    }

    func stop() async {
        http.shutdown()
        await simulator.stop()
    }
}

/// `GraphBodyValidator` (the vendored schema subset, strict) on a request body.
func validateAgainstGraphSchema(_ json: String, _ operation: String) throws {
    let (valid, output) = try GraphSchema.validate(json, operation)
    #expect(valid, "\(operation) body rejected by Graph's schema: \(output)")
}

let sampleApplication = """
    {"displayName": "bvoip-msteams-integration", "signInAudience": "AzureADMyOrg",
     "web": {"redirectUris": ["https://pbx.example.com/oauth/callback"]},
     "requiredResourceAccess": [{"resourceAppId": "00000003-0000-0000-c000-000000000000",
       "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"},
                          {"id": "df021288-bdef-4463-88db-98f22de89214", "type": "Role"}]}]}
    """

@Suite("Simulated Graph: applications", .serialized)
struct GraphApplicationsTests {
    @Test func createGetListFilterAndPage() async throws {
        let lab = try await GraphLab.start()
        let (status, created, _) = try await lab.call(
            "POST", "applications", json: sampleApplication, schema: "POST:/applications")
        #expect(status == 201)
        let id = try #require(created?["id"]?.string)
        let (_, fetched, _) = try await lab.call("GET", "applications/\(id)")
        #expect(fetched?["web"]?["redirectUris"] == .array([.string("https://pbx.example.com/oauth/callback")]))
        #expect(fetched?["requiredResourceAccess"]?.array?.first?["resourceAccess"]?.array?.count == 2)
        #expect(fetched?["appId"]?.string != nil)
        // A filter value with a quote, escaped the OData way.
        let (_, quoted, _) = try await lab.call(
            "POST", "applications", json: #"{"displayName": "O'Brien's PBX"}"#, schema: "POST:/applications")
        let filter = "displayName eq 'O''Brien''s PBX'".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let (_, found, _) = try await lab.call("GET", "applications?$filter=\(filter)")
        #expect(found?["value"]?.array?.count == 1)
        #expect(found?["value"]?.array?.first?["id"] == quoted?["id"])
        // Paging: five apps, two per page, three pages.
        for index in 0..<3 {
            _ = try await lab.call(
                "POST", "applications", json: #"{"displayName": "app \#(index)"}"#, schema: "POST:/applications")
        }
        var pages = 0
        var seen = 0
        var next: String? = "applications?$top=2"
        while let link = next {
            let (_, page, _) = try await lab.call("GET", link)
            pages += 1
            seen += page?["value"]?.array?.count ?? 0
            next = page?["@odata.nextLink"]?.string
        }
        #expect(pages == 3 && seen == 5)
        await lab.stop()
    }

    @Test func patchingKeyCredentialsReplacesTheList() async throws {
        let lab = try await GraphLab.start()
        let (_, created, _) = try await lab.call(
            "POST", "applications", json: sampleApplication, schema: "POST:/applications")
        let id = try #require(created?["id"]?.string)
        let key = try PrivateKey.generateRSA(bits: 2048)
        let first = try Certificate.issue(.init(commonName: "PBX 1"), for: key)
        let second = try Certificate.issue(.init(commonName: "PBX 2"), for: key)
        func entry(_ certificate: Certificate, _ name: String) throws -> String {
            #"{"type": "AsymmetricX509Cert", "usage": "Verify", "displayName": "\#(name)", "key": "\#(Data(try certificate.der).base64EncodedString())"}"#
        }
        let both = #"{"keyCredentials": [\#(try entry(first, "one")), \#(try entry(second, "two"))]}"#
        #expect(
            try await lab.call(
                "PATCH", "applications/\(id)", json: both, schema: "PATCH:/applications/{application-id}"
            ).0 == 204)
        #expect(try await lab.call("GET", "applications/\(id)").1?["keyCredentials"]?.array?.count == 2)
        let onlySecond = #"{"keyCredentials": [\#(try entry(second, "two"))]}"#
        #expect(
            try await lab.call(
                "PATCH", "applications/\(id)", json: onlySecond, schema: "PATCH:/applications/{application-id}"
            ).0 == 204)
        let keys = try await lab.call("GET", "applications/\(id)").1?["keyCredentials"]?.array
        #expect(keys?.count == 1)
        #expect(
            keys?.first?["customKeyIdentifier"]?.string == Data(try second.sha1Thumbprint).base64EncodedString())
        await lab.stop()
    }

    @Test func addPasswordShowsTheSecretOnceAndItSignsIn() async throws {
        let lab = try await GraphLab.start()
        let (_, created, _) = try await lab.call(
            "POST", "applications", json: sampleApplication, schema: "POST:/applications")
        let id = try #require(created?["id"]?.string)
        let appID = try #require(created?["appId"]?.string)
        let body = #"{"passwordCredential": {"displayName": "PBX Secret", "endDateTime": "2028-11-26T00:00:00Z"}}"#
        let (status, password, _) = try await lab.call(
            "POST", "applications/\(id)/addPassword", json: body,
            schema: "POST:/applications/{application-id}/addPassword")
        #expect(status == 200)
        let secret = try #require(password?["secretText"]?.string)
        #expect(password?["endDateTime"]?.string == "2028-11-26T00:00:00Z")
        let listed = try await lab.call("GET", "applications/\(id)").1?["passwordCredentials"]?.array
        #expect(
            listed?.count == 1 && listed?.first?["secretText"] == .null
                && listed?.first?["hint"]?.string == String(secret.prefix(3)))
        // The new app's own secret gets a token in its tenant (with no roles: nothing consented yet).
        let own = try await TokenClient(http: lab.http, loginBaseURL: lab.base).token(
            tenant: lab.tenant.id.uuidString, clientID: appID, credential: .secret(secret))
        let (denied, error, _) = try await lab.call(
            "POST", "applications", json: #"{"displayName": "x"}"#, schema: "POST:/applications", token: own.value)
        #expect(denied == 403 && error?["error"]?["code"]?.string == "Authorization_RequestDenied")
        // removePassword, and the secret stops working.
        let keyID = try #require(password?["keyId"]?.string)
        #expect(
            try await lab.call(
                "POST", "applications/\(id)/removePassword", json: #"{"keyId": "\#(keyID)"}"#,
                schema: "POST:/applications/{application-id}/removePassword"
            ).0 == 204)
        let gone = await #expect(throws: GraphError.self) {
            try await TokenClient(http: lab.http, loginBaseURL: lab.base).token(
                tenant: lab.tenant.id.uuidString, clientID: appID, credential: .secret(secret))
        }
        #expect(gone?.code == "AADSTS7000215")
        await lab.stop()
    }

    @Test func uniqueNameUpsertNeverMakesTwoApps() async throws {
        let lab = try await GraphLab.start()
        let upsert = #"{"displayName": "bvoip-msteams-integration", "signInAudience": "AzureADMyOrg"}"#
        let path = "applications(uniqueName='bvoip-\(lab.tenant.id.uuidString.lowercased())')"
        let first = try await lab.call(
            "PATCH", path, json: upsert,
            headers: [("Prefer", "create-if-missing")])
        let second = try await lab.call(
            "PATCH", path, json: upsert,
            headers: [("Prefer", "create-if-missing")])
        #expect(first.0 == 201 && second.0 == 204)
        let all = try await lab.call("GET", "applications").1?["value"]?.array
        #expect(all?.count == 1)
        await lab.stop()
    }

    @Test func invalidRequestsAreRefusedAsGraphWordsThem() async throws {
        let lab = try await GraphLab.start()
        let cases: [(String, String)] = [
            (#"{"displayName": "x", "signInAudience": "Everyone"}"#, "signInAudience"),
            (
                #"{"displayName": "x", "web": {"redirectUris": ["http://pbx.example.com/callback"]}}"#,
                "web.redirectUris"
            ),
            (#"{"displayName": "x", "favouriteColour": "blue"}"#, "favouriteColour"),
        ]
        for (body, named) in cases {
            let (status, error, _) = try await lab.call("POST", "applications", json: body, invalidOnPurpose: true)
            #expect(status == 400 && error?["error"]?["message"]?.string?.contains(named) == true, "\(body)")
            #expect(error?["error"]?["innerError"]?["request-id"]?.string != nil)
        }
        #expect(
            try await lab.call(
                "POST", "applications",
                json: #"{"displayName": "x", "web": {"redirectUris": ["http://localhost:8080/cb"]}}"#
            ).0 == 201)
        let (unauthenticated, error, _) = try await lab.call("GET", "applications", token: "not-a-token")
        #expect(unauthenticated == 401 && error?["error"]?["code"]?.string == "InvalidAuthenticationToken")
        let (_, organization, _) = try await lab.call("GET", "organization")
        #expect(organization?["value"]?.array?.first?["id"]?.string == lab.tenant.id.uuidString.lowercased())
        await lab.stop()
    }
}
