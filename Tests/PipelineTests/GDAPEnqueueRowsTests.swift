import Foundation
import Testing

@testable import Pipeline

@Suite("GDAPEnqueueRows and GDAPPBXTable: the PBX fields of customers that come without a file")
struct GDAPEnqueueRowsTests {
    static let contoso = GDAPSelection.Customer(
        tenantID: "52eaad04-13a2-4a2f-9ce8-93a294fadf36", displayName: "Contoso Ltd.")
    static let fabrikam = GDAPSelection.Customer(
        tenantID: "8777b240-c6f0-4469-9e98-a3205431b836", displayName: "Fabrikam & Söhne GmbH")
    static let templates = GDAPEnqueueRows.Templates(
        pbxURL: "https://{label}.pbx.example.com", pbxClientID: "onboarder",
        pbxSecret: "file:/etc/onboarder/pbx/{msp}/{tenant_id}")

    struct LabelCase: CustomTestStringConvertible, Sendable {
        var name: String
        var expected: String
        var testDescription: String { "\(name) → \(expected)" }
    }

    @Test(arguments: [
        LabelCase(name: "Contoso Ltd.", expected: "contoso-ltd"),
        LabelCase(name: "Fabrikam & Söhne GmbH", expected: "fabrikam-s-hne-gmbh"),
        LabelCase(name: "  --A--  ", expected: "a"),
        LabelCase(name: "日本", expected: "52eaad04"),
        LabelCase(name: String(repeating: "a", count: 62) + " b", expected: String(repeating: "a", count: 62)),
    ])
    func labels(_ c: LabelCase) {
        #expect(GDAPEnqueueRows.label(.init(tenantID: Self.contoso.tenantID, displayName: c.name)) == c.expected)
    }

    @Test func templatesFillEveryRowAndTheTableWins() throws {
        let table = [Self.fabrikam.tenantID: ["pbx_url": "https://pbx7.example.net", "priority": "5"]]
        let rules = EnqueueRules(references: SecretReferencePolicy(directories: ["/etc/onboarder/pbx/{msp}"]))
        let result = GDAPEnqueueRows.build(
            [Self.contoso, Self.fabrikam], msp: "acme", path: "teams", templates: Self.templates, table: table,
            rules: rules)
        #expect(result.problems.isEmpty, "\(result.problems)")
        let rows = result.rows.map(\.row)
        try #require(rows.count == 2)
        #expect(rows.map(\.tenant) == [Self.contoso.tenantID, Self.fabrikam.tenantID])
        #expect(rows.map(\.payload.pbxURL) == ["https://contoso-ltd.pbx.example.com", "https://pbx7.example.net"])
        #expect(rows[0].payload.pbxSecret == "file:/etc/onboarder/pbx/acme/\(Self.contoso.tenantID)")
        #expect(
            GDAPEnqueueRows.expand("env:PBX_SECRET_{LABEL}", Self.fabrikam, msp: "acme")
                == "env:PBX_SECRET_FABRIKAM_S_HNE_GMBH")
        #expect(rows[0].payload.displayName == "Contoso Ltd." && rows[1].priority == 5)
        #expect(
            rows.allSatisfy { $0.msp == "acme" && $0.payload.path == "teams" && $0.payload.pbxClientID == "onboarder" })
    }

    /// A name the customer chose never stops the row: control characters become spaces, a long one is cut.
    @Test func theCustomersNameNeverStopsItsRow() throws {
        let odd = GDAPSelection.Customer(
            tenantID: Self.contoso.tenantID,
            displayName: "Evil\u{1B}[31mCorp\u{85}" + String(repeating: "x", count: 300))
        let rules = EnqueueRules(references: SecretReferencePolicy(directories: ["/etc/onboarder/pbx/{msp}"]))
        let result = GDAPEnqueueRows.build([odd], msp: "acme", path: "m365", templates: Self.templates, rules: rules)
        #expect(result.problems.isEmpty, "\(result.problems)")
        let name = try #require(result.rows.first?.row.payload.displayName)
        #expect(name.hasPrefix("Evil [31mCorp x") && name.unicodeScalars.count == 256)
    }

    /// A missing field or a bad value is the file's own problem, named by customer.
    @Test func problemsAreTheFileRulesNamedByCustomer() {
        let result = GDAPEnqueueRows.build(
            [Self.contoso, Self.fabrikam], msp: "acme", path: "m365",
            templates: GDAPEnqueueRows.Templates(pbxURL: "http://{label}.pbx.example.com", pbxClientID: "x"),
            table: [Self.fabrikam.tenantID: ["pbx_secret": "env:PBX_SECRET_FABRIKAM"]])
        #expect(result.rows.isEmpty)
        let contoso = result.problems.filter { $0.customer == Self.contoso }.map(\.reason)
        #expect(contoso.contains("pbx_secret: required"))
        #expect(contoso.contains { $0.hasPrefix("pbx_url: ") && $0.contains("https") })
    }

    @Test(
        arguments: [
            ("https://{label}.example.com", nil),
            ("https://{domain}.example.com", "{domain} is not known from GDAP"),
            ("https://{name}.example.com", "unknown placeholder {name}"),
            ("https://{label.example.com", "a { is not closed"),
        ] as [(String, String?)])
    func templateProblems(_ template: String, _ expected: String?) {
        let problem = GDAPEnqueueRows.templateProblem(template)
        if let expected {
            #expect(problem?.hasPrefix(expected) == true, "\(problem ?? "nil")")
        } else {
            #expect(problem == nil)
        }
    }

    @Test func theTableIsReadByTenantID() {
        let text = """
            tenant_id,pbx_url,pbx_secret\r
            52EAAD04-13A2-4A2F-9CE8-93A294FADF36,"https://a.example.com","env:PBX_SECRET_A"\r
            not-a-guid,https://b.example.com,x\r
            52eaad04-13a2-4a2f-9ce8-93a294fadf36,https://c.example.com,y\r

            """
        let result = GDAPPBXTable.read(Data(text.utf8), name: "pbx.csv")
        #expect(
            result.rows == [
                Self.contoso.tenantID: ["pbx_url": "https://a.example.com", "pbx_secret": "env:PBX_SECRET_A"]
            ])
        #expect(result.problems.count == 2)
        #expect(result.problems[0].hasPrefix("pbx.csv:3: tenant_id: not a tenant id"))
        #expect(result.problems[1] == "pbx.csv:4: tenant_id: \(Self.contoso.tenantID) is listed twice")
        let unknown = GDAPPBXTable.read(Data("tenant_id,pbx_password\n".utf8), name: "pbx.csv")
        #expect(unknown.problems.first?.hasPrefix("pbx.csv:1: pbx_password: unknown column") == true)
    }
}
