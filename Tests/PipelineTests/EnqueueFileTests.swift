import Foundation
import Pipeline
import Postgres
import TestSupport
import Testing

@Suite("Enqueue files: CSV (RFC 4180) and JSON Lines, validated row by row")
struct EnqueueFileTests {
    static let header =
        "msp,tenant,display_name,path,pbx_url,pbx_client_id,pbx_secret,redirect_uri,sbc_domain,users,priority\n"

    func read(_ text: String, name: String = "customers.csv") -> EnqueueFile.Result {
        EnqueueFile.read(Data(text.utf8), name: name, rules: Self.rules)
    }

    /// PBX secret files under /etc and variables named PBX_SECRET_…, as an administrator would allow.
    static let rules = EnqueueRules(
        references: SecretReferencePolicy(directories: ["/etc"], environmentPrefixes: ["PBX_SECRET_"]))

    @Test func quotedFieldsEmbeddedCommasNewlinesAndABOM() throws {
        let text =
            "\u{FEFF}" + Self.header
            + "acme,contoso.onmicrosoft.com,\"Contoso, \"\"West\"\"\nDivision\",m365,https://pbx.contoso.example,onboarder,env:PBX_SECRET_1,,,\"alice@contoso.com; bob@contoso.com\",5\r\n"
            + "acme,3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f,,teams,https://pbx2.example,onboarder,file:/etc/pbx2,https://pbx2.example/cb,voice,,\r\n"
        let result = read(text)
        #expect(result.problems == [])
        #expect(result.rows.count == 2)
        let first = try #require(result.rows.first)
        #expect(first.line == 2)
        #expect(first.payload.displayName == "Contoso, \"West\"\nDivision")
        #expect(first.payload.users == ["alice@contoso.com", "bob@contoso.com"])
        #expect(first.priority == 5)
        // The second record starts on line 4: the quoted field above spans two lines.
        #expect(result.rows[1].line == 4)
        #expect(result.rows[1].tenant == "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f")
        #expect(result.rows[1].payload.sbcDomain == "voice")
        #expect(result.rows[1].payload.redirectURI == "https://pbx2.example/cb")
    }

    /// Found by scripts/fuzz: a stray quote on the second line of a row whose quoted field spans two lines
    /// was reported on that second line while the row (line 2) was the one rejected.
    @Test func aProblemInsideAMultiLineRowNamesTheRowsFirstLine() {
        let text =
            Self.header
            + "acme,a.example.com,\"Two\nlines\"x,m365,https://pbx.example,onboarder,env:PBX_SECRET_X,,,,\n"
            + "acme,b.example.com,,m365,https://pbx.example,onboarder,env:PBX_SECRET_X,,,,\n"
        let result = read(text)
        #expect(result.rejectedLines == [2])
        #expect(result.problems.map(\.line) == [2])
        #expect(result.problems.first?.reason.hasSuffix("on line 3 of this row") == true)
        #expect(result.rows.map(\.line) == [4])
        // A quoting problem in the header (found by libFuzzer): reported once on the header's line, the header
        // itself not counted as a rejected row, and no row read against a header that could not be read.
        let badHeader = read(
            "msp,\"tenant\"x,path,pbx_url,pbx_client_id,pbx_secret\nacme,c.example.com,m365,https://pbx.example,onboarder,env:PBX_SECRET_X\n"
        )
        #expect(!badHeader.problems.isEmpty && Set(badHeader.problems.map(\.line)) == [1])
        #expect(badHeader.rejectedLines == [2])
        #expect(badHeader.rows.isEmpty)
    }

    @Test func everyProblemIsReportedWithLineColumnAndReason() {
        let text =
            Self.header
            + "acme,not a domain,,fax,http://pbx.example,,s3cr3t,http://pbx.example/cb#x,,bob,high\n"
            + "acme,fine.example.com,,m365,https://pbx.example,onboarder,env:PBX_SECRET_X,,,alice@fine.example.com,\n"
            + "acme,FINE.example.com,,m365,https://pbx.example,onboarder,env:PBX_SECRET_X,,,,\n"
            + "acme,b.example.com,,teams,https://pbx.example,onboarder,env:PBX_SECRET_X,,,carol@b.example.com,\n"
            + "acme,c.example.com,,m365,https://pbx.example,onboarder,env:PBX_SECRET_X\n"
        let result = read(text)
        let byLine = Dictionary(grouping: result.problems, by: \.line)
        let line2 = Set((byLine[2] ?? []).compactMap(\.column))
        #expect(
            line2 == ["tenant", "path", "pbx_url", "pbx_client_id", "pbx_secret", "redirect_uri", "users", "priority"],
            "\(byLine[2] ?? [])")
        #expect(byLine[2]?.first { $0.column == "pbx_secret" }?.reason.contains("not the secret itself") == true)
        #expect(byLine[3] == nil)
        #expect(byLine[4]?.first?.reason.contains("also on line 3") == true)  // duplicates, case-insensitively
        #expect(byLine[5]?.first?.column == "users")
        #expect(byLine[6]?.first?.reason.contains("7 fields where the header has 11") == true)
        #expect(result.rejectedLines == [2, 4, 5, 6])
        #expect(result.rows.map(\.line) == [3])
        #expect(
            byLine[2]?.first { $0.column == "path" }?.description
                == "customers.csv:2: path: must be teams or m365, not 'fax'")
    }

    @Test func unknownAndMissingColumnsRejectTheFile() {
        let result = read("msp,tenant,colour,path\nacme,a.example.com,blue,m365\n")
        #expect(result.rows.isEmpty)
        #expect(result.problems.contains { $0.column == "colour" && $0.reason.contains("unknown column") })
        #expect(result.problems.contains { $0.column == "pbx_url" && $0.reason == "required column missing" })
        #expect(result.rejectedLines == [2])
        let unclosed = read(Self.header + "acme,\"a.example.com,m365\n")
        #expect(unclosed.problems.contains { $0.reason.contains("not closed") })
    }

    @Test func jsonLines() {
        let text = """
            {"msp": "acme", "tenant": "a.example.com", "path": "m365", "pbx_url": "https://pbx.example", "pbx_client_id": "x", "pbx_secret": "env:PBX_SECRET_A", "users": ["u@a.example.com"], "priority": 3}
            not json
            {"msp": "acme", "tenant": "b.example.com", "path": "m365", "pbx_url": "https://pbx.example", "pbx_client_id": "x", "pbx_secret": "env:PBX_SECRET_A", "colour": "blue"}
            """
        let result = read(text, name: "customers.jsonl")
        #expect(result.rows.count == 1)
        #expect(result.rows.first?.payload.users == ["u@a.example.com"] && result.rows.first?.priority == 3)
        #expect(result.problems.map(\.line) == [2, 3])
        #expect(result.problems.last?.column == "colour")
    }

    @Test func validators() {
        #expect(Validation.isDNSName("sbc.contoso.com"))
        #expect(!Validation.isDNSName("contoso"))
        #expect(!Validation.isDNSName("-bad.contoso.com"))
        #expect(!Validation.isDNSName("a..b.com"))
        #expect(Validation.isUPN("o'brien@contoso.com"))
        #expect(!Validation.isUPN("two@at@contoso.com"))
        #expect(!Validation.isUPN("space here@contoso.com"))
        #expect(Validation.redirectURIProblem("https://pbx.example.com/cb") == nil)
        #expect(Validation.redirectURIProblem("http://localhost:8080/cb") == nil)
        #expect(Validation.redirectURIProblem("http://pbx.example.com/cb") != nil)
        #expect(Validation.redirectURIProblem("https://*.example.com/cb") != nil)
        #expect(Validation.redirectURIProblem("https://pbx.example.com/" + String(repeating: "a", count: 300)) != nil)
    }
}

@Suite("onboarder enqueue against PostgreSQL", .serialized)
struct EnqueueCommandTests {
    @Test func allOrNothingSkipInvalidDryRunAndActiveJobsReported() async throws {
        let (configuration, name) = try await TestDatabase.makeMigratedScratchDatabase("enqueue")
        let pool = PostgresPool(configuration: configuration, maxConnections: 2)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("enqueue-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("customers.csv").path
        var text = EnqueueFileTests.header
        for index in 1...2000 {
            text += "acme,c\(index).example.com,,m365,https://pbx\(index).example.com,onboarder,env:PBX_SECRET_A,,,,\n"
        }
        text += "acme,bad domain,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,\n"
        FileManager.default.createFile(atPath: file, contents: Data(text.utf8))
        let onboarder = builtProductsDirectory.appendingPathComponent("onboarder").path
        let environment = ["ONBOARDER_DATABASE_URL": configuration.connectionString!, "ONBOARDER_LOG_FORMAT": "json"]
        func jobs() async throws -> Int {
            try await pool.query("SELECT count(*) FROM onboarder.jobs").single()[0].decode(Int.self)
        }

        let refused = try await runCommand([onboarder, "enqueue", file], environment: environment)
        #expect(refused.status == 2)
        #expect(refused.output.contains("customers.csv:2002: tenant: not a tenant id"))
        #expect(refused.output.contains("nothing enqueued"))
        #expect(try await jobs() == 0)

        let dry = try await runCommand(
            [onboarder, "enqueue", "--dry-run", "--skip-invalid", file], environment: environment)
        #expect(dry.status == 2 && dry.output.contains("2000 row(s) valid, 1 rejected"))
        #expect(try await jobs() == 0)

        let skipped = try await runCommand([onboarder, "enqueue", "--skip-invalid", file], environment: environment)
        #expect(skipped.status == 2)
        #expect(skipped.output.contains("2000 enqueued, 1 rejected"), "\(skipped.output)")
        #expect(try await jobs() == 2000)
        let payload = try await pool.query(
            "SELECT payload->>'pbx_url' FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id WHERE t.tenant_key = 'c7.example.com'"
        ).single()[0].decode(String.self)
        #expect(payload == "https://pbx7.example.com")

        // Again: every customer already has an active onboarding; nothing is duplicated.
        let again = try await runCommand([onboarder, "enqueue", "--skip-invalid", file], environment: environment)
        #expect(again.output.contains("0 enqueued, 2000 already had an active onboarding"), "\(again.output)")
        #expect(again.output.contains("customers.csv:2: already active: job"))
        #expect(try await jobs() == 2000)
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}
