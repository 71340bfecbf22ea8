import Foundation
import HTTP
import Simulator
import Testing

/// The simulated Partner Center consent API over real loopback HTTP: the app+user token it takes, what a
/// consent makes in the customer's directory (a service principal and a delegated grant, never app roles),
/// and its refusals (app-only token, no relationship, a missing role, throttling, a repeat).
@Suite("Simulated Partner Center: application consents", .serialized)
struct PartnerCenterTests {
    let http = HTTPClient()

    func call(
        _ method: String, _ url: String, token: String? = nil, json: String? = nil, form: String? = nil
    ) async throws -> (Int, [String: Any]?, HTTPResponse) {
        var headers: [(String, String)] = []
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        if json != nil { headers.append(("Content-Type", "application/json")) }
        if form != nil { headers.append(("Content-Type", "application/x-www-form-urlencoded")) }
        let response = try await http.execute(
            HTTPRequest(method: method, url: url, headers: headers, body: (json ?? form).map { Array($0.utf8) }))
        return (
            response.status, try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any], response
        )
    }

    static func encoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    }

    @Test func consentMakesThePrincipalAndDelegatedGrantAndRefusesAsDocumented() async throws {
        let world = try World(
            WorldDescription(
                seed: 3,
                tenants: ["a", "b", "c", "d"].map {
                    WorldDescription.Tenant(domain: "\($0).onmicrosoft.com", consent: .none)
                }
                    + [WorldDescription.Tenant(domain: "acmes.onmicrosoft.com", consent: .none, partner: "acme")],
                partners: [WorldDescription.Partner(msp: "acme")]))
        let simulator = try Simulator(world: world)
        let base = try simulator.start()
        let partnerTenant = world.partnerTenant.id.uuidString.lowercased()
        let app = world.partnerApp.appID.uuidString.lowercased()
        let scope = Self.encoded("https://api.partnercenter.microsoft.com/.default")

        // The admin agent's consent (secure application model), then an app+user token from its refresh token.
        let (_, agent, _) = try await call("POST", "\(base)/_sim/partnercenter/agents")
        let refresh = try #require(agent?["refresh_token"] as? String)
        let (status, tokenBody, _) = try await call(
            "POST", "\(base)/\(partnerTenant)/oauth2/v2.0/token",
            form:
                "grant_type=refresh_token&client_id=\(app)&client_secret=\(Self.encoded(world.partnerSecret))&refresh_token=\(Self.encoded(refresh))&scope=\(scope)"
        )
        #expect(status == 200)
        let token = try #require(tokenBody?["access_token"] as? String)
        // A refresh token of no agent is refused as Entra refuses it.
        #expect(
            try await call(
                "POST", "\(base)/\(partnerTenant)/oauth2/v2.0/token",
                form:
                    "grant_type=refresh_token&client_id=\(app)&client_secret=\(Self.encoded(world.partnerSecret))&refresh_token=forged&scope=\(scope)"
            ).0 == 400)

        func consent(_ domain: String, token: String, scopes: String = "Application.ReadWrite.All,User.ReadWrite.All")
            async throws -> (Int, [String: Any]?, HTTPResponse)
        {
            let customer = world.tenant(domain)!.id.uuidString.lowercased()
            return try await call(
                "POST", "\(base)/v1/customers/\(customer)/applicationconsents", token: token,
                json:
                    #"{"applicationId": "\#(app)", "displayName": "Onboarder", "applicationGrants": [{"enterpriseApplicationId": "00000003-0000-0000-c000-000000000000", "scope": "\#(scopes)"}]}"#
            )
        }

        // An app-only token for Partner Center: refused, this operation needs app+user.
        let (_, appOnlyBody, _) = try await call(
            "POST", "\(base)/\(partnerTenant)/oauth2/v2.0/token",
            form:
                "grant_type=client_credentials&client_id=\(app)&client_secret=\(Self.encoded(world.partnerSecret))&scope=\(scope)"
        )
        let appOnly = try #require(appOnlyBody?["access_token"] as? String)
        let (refused, refusal, _) = try await consent("a.onmicrosoft.com", token: appOnly)
        #expect(refused == 403 && (refusal?["description"] as? String)?.contains("App+User") == true)

        // The consent: 201, then the customer's directory has the principal and the grant, and no app role.
        #expect(try await consent("a.onmicrosoft.com", token: token).0 == 201)
        let inspection = try #require(
            try await call("GET", "\(base)/_sim/tenants/a.onmicrosoft.com").1)
        let principal = try #require(
            (inspection["servicePrincipals"] as? [[String: Any]])?.first { $0["appId"] as? String == app })
        let grants = (inspection["oauth2PermissionGrants"] as? [[String: Any]]) ?? []
        #expect(
            grants.contains {
                $0["clientId"] as? String == principal["id"] as? String
                    && $0["consentType"] as? String == "AllPrincipals"
                    && $0["scope"] as? String == "Application.ReadWrite.All User.ReadWrite.All"
            }, "\(grants)")
        let assignments = (inspection["appRoleAssignments"] as? [[String: Any]]) ?? []
        #expect(!assignments.contains { $0["principalId"] as? String == principal["id"] as? String })
        #expect((inspection["partnerAppRoles"] as? [String]) == [], "no application role comes with it")
        // The partner app now gets a token there (its principal exists), with no roles.
        #expect(
            try await call(
                "POST", "\(base)/a.onmicrosoft.com/oauth2/v2.0/token",
                form:
                    "grant_type=client_credentials&client_id=\(app)&client_secret=\(Self.encoded(world.partnerSecret))&scope=\(Self.encoded("https://graph.microsoft.com/.default"))"
            ).0 == 200)
        // A repeat: the permission entry exists.
        let (repeated, repeatBody, _) = try await consent("a.onmicrosoft.com", token: token)
        #expect(repeated == 409 && repeatBody?["description"] as? String == "Permission entry already exists.")
        // Not a delegated scope of the resource: 400.
        #expect(try await consent("d.onmicrosoft.com", token: token, scopes: "NotAScope.All").0 == 400)

        // Another MSP's customer: this partner has no relationship with it.
        let (otherMSPs, otherBody, _) = try await consent("acmes.onmicrosoft.com", token: token)
        #expect(otherMSPs == 403 && (otherBody?["description"] as? String)?.contains("relationship") == true)
        // A customer without a relationship with this partner; one where the agent lacks a consenting role.
        _ = try await call(
            "PATCH", "\(base)/_sim/partnercenter/customers/b.onmicrosoft.com", json: #"{"relationship": false}"#)
        let (noRelationship, noRelationshipBody, _) = try await consent("b.onmicrosoft.com", token: token)
        #expect(noRelationship == 403, "\(noRelationshipBody ?? [:])")
        #expect((noRelationshipBody?["description"] as? String)?.contains("relationship") == true)
        _ = try await call(
            "PATCH", "\(base)/_sim/partnercenter/customers/c.onmicrosoft.com",
            json: #"{"roles": ["User Administrator"]}"#)
        let (noRole, noRoleBody, _) = try await consent("c.onmicrosoft.com", token: token)
        #expect(
            noRole == 403
                && (noRoleBody?["description"] as? String)?.contains("Cloud Application Administrator") == true)
        for domain in ["b.onmicrosoft.com", "c.onmicrosoft.com"] {
            let principals =
                (try await call("GET", "\(base)/_sim/tenants/\(domain)").1?["servicePrincipals"] as? [[String: Any]])
                ?? []
            #expect(!principals.contains { $0["appId"] as? String == app }, "nothing made in \(domain)")
        }

        // Throttled past the per-application rate: 429 with Retry-After.
        _ = try await call("PUT", "\(base)/_sim/partnercenter/limit", json: #"{"requests_per_second": 1}"#)
        var throttled: HTTPResponse?
        for _ in 0..<4 {
            let (code, _, response) = try await consent("d.onmicrosoft.com", token: token)
            if code == 429 { throttled = response; break }
        }
        let response = try #require(throttled)
        #expect(Int(response.header("retry-after") ?? "") ?? 0 >= 1)
        _ = try await call("PUT", "\(base)/_sim/partnercenter/limit", json: #"{"requests_per_second": 50}"#)

        // DELETE removes the principal and its grants.
        let customerA = world.tenant("a.onmicrosoft.com")!.id.uuidString.lowercased()
        #expect(
            try await call("DELETE", "\(base)/v1/customers/\(customerA)/applicationconsents/\(app)", token: token).0
                == 204)
        let after =
            (try await call("GET", "\(base)/_sim/tenants/a.onmicrosoft.com").1?["servicePrincipals"] as? [[String: Any]])
            ?? []
        #expect(!after.contains { $0["appId"] as? String == app })
        await simulator.stop()
    }
}
