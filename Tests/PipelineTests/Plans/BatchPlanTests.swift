import Foundation
import Testing

@testable import Pipeline

@Suite("BatchPlan: what a held enqueue will create in each tenant")
struct BatchPlanTests {
    static var settings: OnboardingSettings {
        var settings = OnboardingSettings()
        settings.appName = "PBX Integration"
        settings.roles = ["User.Read.All", "Domain.ReadWrite.All"]
        settings.scopes = ["User.Read"]
        settings.redirectURITemplate = "{pbx_url}/api/microsoft365/callback"
        settings.secretDisplayName = "PBX Secret"
        settings.secretLifetimeDays = 365
        settings.sbcParentDomain = "SBC.msp.example"
        settings.usageLocation = "DE"
        return settings
    }

    static func payload(
        _ path: String, pbx: String = "https://pbx.example.com/", redirect: String? = nil, sbc: String? = nil,
        users: [String]? = nil
    ) -> OnboardingPayload {
        OnboardingPayload(
            path: path, pbxURL: pbx, pbxClientID: "onboarder", pbxSecret: "env:PBX_SECRET_A", redirectURI: redirect,
            sbcDomain: sbc, users: users)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var tenant: String
        var payload: OnboardingPayload
        var expected: BatchPlan.Customer
        var testDescription: String { name }
    }

    static let guid = "0f0e0d0c-0b0a-4908-8706-050403020100"

    static let cases: [Case] = [
        Case(
            name: "Teams, a domain key: the label under the parent domain, its TXT record and activation user",
            tenant: "contoso.com", payload: payload("teams"),
            expected: .init(
                msp: "acme", tenant: "contoso.com", path: "teams", pbxURL: "https://pbx.example.com/",
                redirectURI: "https://pbx.example.com/api/microsoft365/callback", sbcDomain: "contoso.sbc.msp.example",
                activationUPN: "teams-activation@contoso.sbc.msp.example", users: nil)),
        Case(
            name: "Teams, a full SBC domain given: used as it is", tenant: guid,
            payload: payload("teams", sbc: "Voice.Contoso.com"),
            expected: .init(
                msp: "acme", tenant: guid, path: "teams", pbxURL: "https://pbx.example.com/",
                redirectURI: "https://pbx.example.com/api/microsoft365/callback", sbcDomain: "voice.contoso.com",
                activationUPN: "teams-activation@voice.contoso.com", users: nil)),
        Case(
            name: "Teams, a tenant id key and no SBC domain: known only when the job reads the tenant", tenant: guid,
            payload: payload("teams"),
            expected: .init(
                msp: "acme", tenant: guid, path: "teams", pbxURL: "https://pbx.example.com/",
                redirectURI: "https://pbx.example.com/api/microsoft365/callback", sbcDomain: nil, activationUPN: nil,
                users: nil)),
        Case(
            name: "Microsoft 365, users listed, its own redirect URI", tenant: "fabrikam.com",
            payload: payload(
                "m365", redirect: "https://pbx.fabrikam.com/cb", users: ["a@fabrikam.com", "b@fabrikam.com"]),
            expected: .init(
                msp: "acme", tenant: "fabrikam.com", path: "m365", pbxURL: "https://pbx.example.com/",
                redirectURI: "https://pbx.fabrikam.com/cb", sbcDomain: nil, activationUPN: nil,
                users: ["a@fabrikam.com", "b@fabrikam.com"])),
        Case(
            name: "Microsoft 365 without users: every licensed user (nil)", tenant: "fabrikam.com",
            payload: payload("m365", users: []),
            expected: .init(
                msp: "acme", tenant: "fabrikam.com", path: "m365", pbxURL: "https://pbx.example.com/",
                redirectURI: "https://pbx.example.com/api/microsoft365/callback", sbcDomain: nil, activationUPN: nil,
                users: nil)),
    ]

    @Test(arguments: cases)
    func eachCustomer(_ test: Case) {
        let plan = BatchPlan(
            rows: [BatchPlan.Row(msp: "acme", tenant: test.tenant, payload: test.payload)], settings: Self.settings)
        #expect(plan.customers == [test.expected])
    }

    @Test func theCommonPartsComeFromTheSettings() {
        var settings = Self.settings
        let pbx = BatchPlan(rows: [], settings: settings)
        #expect(
            pbx.common
                == .init(
                    appName: "PBX Integration", applicationPermissions: ["User.Read.All", "Domain.ReadWrite.All"],
                    delegatedPermissions: ["User.Read"], secretName: "PBX Secret · onboarder job …",
                    secretLifetimeDays: 365, certificate: "pbx", activationUser: "teams-activation",
                    usageLocation: "DE"))
        settings.certificateSource = "generate"
        #expect(BatchPlan(rows: [], settings: settings).common.certificate == "generate")
    }

    @Test func linesNameEveryCustomerUpToTheLimitAndCountTheRest() {
        let rows = (1...4).map { index in
            BatchPlan.Row(
                msp: index == 4 ? "zeta" : "acme", tenant: "c\(index).com",
                payload: Self.payload(index == 1 ? "teams" : "m365"))
        }
        let lines = BatchPlan(rows: rows, settings: Self.settings).lines(limit: 2)
        #expect(lines[0] == "plan: 4 customer(s) of MSP acme, zeta (1 teams, 3 m365)")
        #expect(lines.contains { $0.contains("app registration \"PBX Integration\"") && $0.contains("User.Read.All") })
        #expect(lines.contains { $0.contains("client secret \"PBX Secret · onboarder job …\" valid 365 days") })
        #expect(lines.contains { $0.contains("activation user teams-activation@<domain> (usage location DE") })
        #expect(
            lines.contains(
                "  acme c1.com teams → PBX https://pbx.example.com/: redirect URI https://pbx.example.com/api/microsoft365/callback; domain c1.sbc.msp.example (TXT c1.sbc.msp.example); activation user teams-activation@c1.sbc.msp.example"
            ))
        #expect(
            lines.contains {
                $0.hasPrefix("  acme c2.com m365") && $0.hasSuffix("PBX sync: every licensed, enabled user")
            })
        #expect(!lines.contains { $0.contains("c3.com") })
        #expect(lines.last == "  … and 2 more (onboarder batch show lists them all)")
        // Without Teams customers, no Teams line.
        let m365 = BatchPlan(rows: Array(rows.dropFirst()), settings: Self.settings).lines()
        #expect(!m365.contains { $0.contains("Direct Routing") })
    }

    @Test func theStoredJSONHasTheCustomersTheDatabaseAppendsTo() throws {
        let rows = (1...3).map { BatchPlan.Row(msp: "acme", tenant: "c\($0).com", payload: Self.payload("m365")) }
        let plan = BatchPlan(rows: rows, settings: Self.settings)
        let part = try plan.json(customers: 1..<3)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(part.utf8)) as? [String: Any])
        let customers = try #require(object["customers"] as? [[String: Any]])
        #expect(customers.map { $0["tenant"] as? String } == ["c2.com", "c3.com"])
        #expect((object["common"] as? [String: Any])?["app_name"] as? String == "PBX Integration")
        #expect(try JSONDecoder().decode(BatchPlan.self, from: Data(try plan.json().utf8)) == plan)
    }
}
