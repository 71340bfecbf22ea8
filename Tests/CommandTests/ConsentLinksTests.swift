import Foundation
import Store
import Testing

@testable import onboarder

@Suite("onboarder consent links' formats (pure)")
struct ConsentLinksTests {
    static func row(
        customer: String = "contoso.example", missing: [String] = ["Domain.ReadWrite.All"], principal: Bool = true,
        url: String? =
            "https://login.microsoftonline.com/11111111-2222-4333-8444-555555555555/adminconsent?client_id=abc"
    ) -> ConsentWaiting {
        ConsentWaiting(
            msp: "msp1", customer: customer, tenantID: "11111111-2222-4333-8444-555555555555", jobID: 7,
            waitingSince: Date(timeIntervalSince1970: 1_790_000_000), missing: missing, servicePrincipal: principal,
            consentURL: url, clientID: "abc", checks: 2, message: "resolve-tenant: waiting for input")
    }

    @Test func csvHasTheHeaderCRLFAndOneLinePerCustomer() {
        let csv = ConsentLinks.render([Self.row(), Self.row(customer: "fabrikam.example")], format: .csv)
        let lines = csv.components(separatedBy: "\r\n")
        #expect(lines.first == ConsentLinks.columns.joined(separator: ","))
        #expect(lines.count == 4 && lines.last == "", "header, two rows, then the final CRLF")
        #expect(
            lines[1]
                == "msp1,contoso.example,11111111-2222-4333-8444-555555555555,7,2026-09-21T14:13:20Z,Domain.ReadWrite.All,https://login.microsoftonline.com/11111111-2222-4333-8444-555555555555/adminconsent?client_id=abc,abc"
        )
    }

    @Test func outsideCellsAreNeutralisedAndQuoted() {
        let csv = ConsentLinks.render(
            [Self.row(customer: "=HYPERLINK(\"http://evil\",\"x\")", missing: ["A", "B"])], format: .csv)
        let line = csv.components(separatedBy: "\r\n")[1]
        #expect(line.hasPrefix("msp1,\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\","), "\(line)")
        #expect(line.contains(",A B,"), "several missing roles in one cell: \(line)")
    }

    @Test func textSaysWhatIsMissingAndSanitizes() {
        let text = ConsentLinks.render(
            [Self.row(customer: "evil\u{1B}[31m.example"), Self.row(missing: ["X", "Y"], principal: false)],
            format: .text)
        #expect(text.contains("2 customer(s) waiting"))
        #expect(!text.contains("\u{1B}"), "control characters are shown escaped")
        #expect(text.contains("Consent link   https://login.microsoftonline.com/"))
        #expect(text.contains("everything (the partner app has no service principal there): X, Y"))
        #expect(ConsentLinks.render([], format: .text).contains("No customer waits"))
        #expect(ConsentLinks.render([], format: .csv) == ConsentLinks.columns.joined(separator: ",") + "\r\n")
    }
}
