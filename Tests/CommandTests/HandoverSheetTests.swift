import Foundation
import Store
import Testing

@testable import onboarder

@Suite("The hand-over sheet's formats and the cert folder's matching (pure)")
struct HandoverSheetTests {
    static func entry(
        customer: String = "contoso.example", kind: String = "onboard", step: String = "verify",
        message: String? = "verify: the PBX's check fails", certificateNeeded: Bool = false,
        secret: String? = "s3cr~et", shownBefore: Bool = false
    ) -> HandoverSheetEntry {
        HandoverSheetEntry(
            waiting: HandoverWaiting(
                msp: "msp1", customer: customer, tenantID: "11111111-2222-4333-8444-555555555555", jobID: 7,
                kind: kind, step: step, waitingSince: Date(timeIntervalSince1970: 1_790_000_000), message: message,
                pbxURL: "https://pbx.example/pbx/contoso", applicationID: "66666666-7777-4888-9999-000000000000",
                certificateNeeded: certificateNeeded, customerID: 3),
            secretKeyID: kind == "rotate-certificate" ? nil : "aaaaaaaa-0000-4000-8000-000000000001", secret: secret,
            secretShownBefore: shownBefore)
    }

    @Test(arguments: [
        ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"), ("+1", "'+1"), ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("contoso.example", "contoso.example"),
        ("", ""), ("a=b", "a=b"),
    ])
    func formulaCellsAreNeutralised(_ cell: String, _ expected: String) {
        #expect(HandoverSheet.neutralised(cell) == expected)
    }

    @Test(arguments: [
        ("plain", "plain"), ("a,b", "\"a,b\""), ("say \"hi\"", "\"say \"\"hi\"\"\""), ("two\nlines", "\"two\nlines\""),
        ("cr\r\nlf", "\"cr\r\nlf\""), ("", ""),
    ])
    func csvFieldsAreQuotedAsRFC4180Says(_ text: String, _ expected: String) {
        #expect(HandoverSheet.csvField(text) == expected)
        // And read back as they were.
        if !text.contains("\n") { #expect(CertificateFolderPlan.csvFields(expected) == [text]) }
    }

    /// Customer-controlled cells are neutralised; the secret never is (it is pasted byte for byte), even
    /// when it starts with a character a spreadsheet reads as a formula.
    @Test func theCSVNeutralisesWhatCameFromOutsideButNotTheSecret() {
        let csv = HandoverSheet.csv([
            Self.entry(customer: "=cmd|' /C calc'!A0", message: "verify: -1+1 @evil", secret: "-starts~with.minus")
        ])
        let lines = csv.components(separatedBy: "\r\n")
        #expect(lines.count == 3 && lines[2] == "", "CRLF after every row")
        #expect(lines[0] == HandoverSheet.columns.joined(separator: ","))
        let cells = CertificateFolderPlan.csvFields(lines[1])
        let column = { HandoverSheet.columns.firstIndex(of: $0)! }
        #expect(cells.count == HandoverSheet.columns.count)
        #expect(cells[column("customer")] == "'=cmd|' /C calc'!A0")
        #expect(cells[column("secret")] == "-starts~with.minus")
        #expect(cells[column("todo")].hasPrefix("Check the PBX shows"))
        #expect(cells[column("todo")].hasSuffix("Last check: -1+1 @evil"))
        #expect(cells[column("waiting_since")] == "2026-09-21T14:13:20Z")
        // Shown before: the cell says how to see it again.
        let before = CertificateFolderPlan.csvFields(
            HandoverSheet.csv([Self.entry(secret: nil, shownBefore: true)]).components(separatedBy: "\r\n")[1])
        #expect(before[column("secret")] == "(shown before; --again)")
    }

    @Test func theJSONHasTheAgreedKeysAndNullsForWhatIsMissing() throws {
        let json = HandoverSheet.json([
            Self.entry(), Self.entry(kind: "rotate-certificate", step: "rotate-cert-new", secret: nil),
        ])
        let rows = try #require(try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]], "\(json)")
        #expect(rows.count == 2)
        #expect(Set(rows[0].keys) == Set(HandoverSheet.columns))
        #expect(rows[0]["secret"] as? String == "s3cr~et" && rows[0]["job_id"] as? Int == 7)
        #expect(rows[1]["secret"] is NSNull && rows[1]["secret_key_id"] is NSNull)
        #expect(rows[1]["secret_shown_before"] as? Bool == false && rows[1]["certificate_needed"] as? Bool == false)
        #expect(HandoverSheet.json([]) == "[]\n")
    }

    /// What the technician is told, per kind of wait.
    @Test(arguments: [
        ("onboard", "verify", false, ["Check the PBX shows", "paste the client secret", "Log into Microsoft 365"]),
        ("onboard", "certificate", true, ["Generate New Key Pair", "contoso.example.pem", "Log into Microsoft 365"]),
        ("rotate-secret", "rotate-handover", false, ["Paste the new client secret (key id aaaaaaaa-"]),
        ("rotate-certificate", "rotate-cert-new", true, ["Generate New Key Pair"]),
    ])
    func theTodoSaysWhatToDo(_ kind: String, _ step: String, _ certificateNeeded: Bool, _ phrases: [String]) {
        let todo = HandoverSheet.todo(
            Self.entry(
                kind: kind, step: step, message: "\(step): what the check found", certificateNeeded: certificateNeeded))
        for phrase in phrases { #expect(todo.contains(phrase), "\(todo)") }
        #expect(todo.contains("then run: onboarder handover done contoso.example."))
        #expect(todo.hasSuffix("Last check: what the check found"), "\(todo)")
        #expect(todo.contains("Generate New Key Pair") == certificateNeeded)
        #expect(todo.contains("secret") == (kind != "rotate-certificate"))
    }

    @Test func theTextEscapesWhatCameFromOutside() {
        let text = HandoverSheet.text([Self.entry(customer: "evil\u{1B}[2J.example", message: "verify: \u{202E}gnp")])
        #expect(!text.contains("\u{1B}") && !text.contains("\u{202E}"))
        #expect(text.contains("evil\\u{1B}[2J.example") && text.contains("\\u{202E}gnp"))
        #expect(text.contains("Client secret    s3cr~et"))
        #expect(HandoverSheet.text([]) == "No customer waits for its technician.\n")
    }

    // MARK: cert add --dir

    @Test(
        arguments: [
            // Named after customers, any case of the extension; other files ignored.
            (
                ["a.example.pem", "B.example.CER", "c.example.crt", "README.md", ".hidden.pem", "notes.txt"], nil,
                ["a.example.pem a.example", "B.example.CER B.example", "c.example.crt c.example"], []
            ),
            // The index names the customer (and may name a file of any extension); a name match is not needed.
            (
                ["pbx1.pem", "pbx2.der", "index.csv"], "file,customer\npbx1.pem,a.example\r\n\"pbx2.der\", b.example\n",
                ["pbx1.pem a.example", "pbx2.der b.example"], []
            ),
            // The index overrides the name; its line errors name the line.
            (
                ["a.example.pem", "index.csv"],
                "File,Customer\na.example.pem,other.example\nmissing.pem,x.example\nonly-one-field\na.example.pem,y.example\n../etc/passwd,z.example\n",
                ["a.example.pem other.example"],
                [
                    "index.csv:3: missing.pem: no such file in the folder",
                    "index.csv:4: expected two fields, file,customer",
                    "index.csv:5: a.example.pem: listed twice",
                    "index.csv:6: ../etc/passwd: a file name in the folder, without a path",
                ]
            ),
            // No header: the index is refused, the names still match.
            (
                ["a.example.pem", "index.csv"], "a.example.pem,b.example\n", ["a.example.pem a.example"],
                ["index.csv:1: the first line must be the header file,customer"]
            ),
            ([".pem"], nil, [], []),
        ] as [([String], String?, [String], [String])])
    func theFolderPlanMatchesFilesToCustomers(
        _ files: [String], _ index: String?, _ assignments: [String], _ problems: [String]
    ) {
        let plan = CertificateFolderPlan.plan(fileNames: files, index: index)
        #expect(plan.assignments.map { "\($0.file) \($0.customer)" } == assignments)
        #expect(plan.problems == problems)
    }
}
