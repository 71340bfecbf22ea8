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
            + "acme,contoso.onmicrosoft.com,\"Contoso, \"\"West\"\" Division\",m365,https://pbx.contoso.example,onboarder,env:PBX_SECRET_1,,,\"alice@contoso.com;\nbob@contoso.com\",5\r\n"
            + "acme,3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f,,teams,https://pbx2.example,onboarder,file:/etc/pbx2,https://pbx2.example/cb,voice,,\r\n"
        let result = read(text)
        #expect(result.problems == [])
        #expect(result.rows.count == 2)
        let first = try #require(result.rows.first)
        #expect(first.line == 2)
        #expect(first.payload.displayName == "Contoso, \"West\" Division")
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

    /// A file large enough to be checked on several threads reads as one row after another would: its rows and
    /// problems in the file's order, each row's own, and a customer's second row refused across the parts.
    @Test func aLargeFileReadsInTheFilesOrder() {
        let count = 6_000
        var text = Self.header
        for i in 0..<count {
            // Every 997th row has a bad path; the last names the first row's customer again.
            let tenant = i == count - 1 ? "c0.example.com" : "c\(i).example.com"
            let path = i % 997 == 5 ? "fax" : "m365"
            text += "acme,\(tenant),,\(path),https://pbx.example,onboarder,env:PBX_SECRET_X,,,,\(i % 7)\n"
        }
        let result = read(text)
        let badPaths = (0..<count).filter { $0 % 997 == 5 }.map { $0 + 2 }  // row i is on line i + 2
        #expect(result.problems.map(\.line) == badPaths + [count + 1])
        #expect(result.problems.dropLast().allSatisfy { $0.column == "path" })
        #expect(result.problems.last?.reason == "the customer c0.example.com of acme is also on line 2")
        let rowLines = (2...(count + 1)).filter { !badPaths.contains($0) && $0 != count + 1 }
        #expect(result.rows.map(\.line) == rowLines)
        #expect(
            result.rows.allSatisfy { $0.tenant == "c\($0.line - 2).example.com" && $0.priority == ($0.line - 2) % 7 })
        #expect(result.rejectedLines == Set(badPaths + [count + 1]))
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

    static let goodRow = "acme,a.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,\n"

    /// A file that cannot be read as rows at all is rejected whole (the command exits 2 and writes nothing),
    /// with one problem naming the line where it can.
    @Test(
        arguments: [
            (
                "Latin-1, not UTF-8",
                Array((EnqueueFileTests.header + "acme,a.example.com,Caf").utf8) + [0xE9]
                    + Array(",m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,\n".utf8), 2,
                "not UTF-8 text (byte 0xE9 at byte 23 of the line); save the file as UTF-8"
            ),
            (
                "UTF-16 LE with a BOM", [0xFF, 0xFE] + EnqueueFileTests.utf16(bigEndian: false), 1,
                "UTF-16; save it as UTF-8"
            ),
            ("UTF-16 LE without a BOM", EnqueueFileTests.utf16(bigEndian: false), 1, "UTF-16; save it as UTF-8"),
            ("UTF-16 BE without a BOM", EnqueueFileTests.utf16(bigEndian: true), 1, "UTF-16; save it as UTF-8"),
            ("UTF-32 with a BOM", [0xFF, 0xFE, 0, 0, 0x6D, 0, 0, 0], 1, "UTF-32; save it as UTF-8"),
            ("empty", [], 1, "the file is empty"),
            ("a BOM and blank lines", [0xEF, 0xBB, 0xBF, 0x0A, 0x20, 0x0D, 0x0A], 1, "the file is empty"),
            ("header only", Array(EnqueueFileTests.header.utf8), 1, "no rows"),
            (
                "header only, CRLF and a blank line", Array((EnqueueFileTests.header.dropLast() + "\r\n\r\n").utf8), 1,
                "no rows"
            ),
            ("a bad header and no rows", Array("msp,tenant,colour\n".utf8), 1, "unknown column"),
        ].map(Bytes.init))
    func aFileThatIsNotRowsIsRejectedWhole(_ input: Bytes) {
        let (what, bytes, line, reason) = (input.what, input.bytes, input.line, input.reason)
        let result = EnqueueFile.read(Data(bytes), name: "customers.csv", rules: Self.rules)
        #expect(result.rejectedWhole, "\(what)")
        #expect(result.rows.isEmpty)
        #expect(
            result.problems.contains { $0.line == line && $0.reason.contains(reason) }, "\(what): \(result.problems)")
        let json = EnqueueFile.read(Data(bytes.isEmpty ? [0x0A] : bytes), name: "customers.jsonl", rules: Self.rules)
        if what == "empty" { #expect(json.rejectedWhole && json.problems.first?.reason.contains("empty") == true) }
    }

    /// A test case named by what it is, not by its bytes.
    struct Bytes: CustomTestStringConvertible, Sendable {
        let what: String
        let bytes: [UInt8]
        let line: Int
        let reason: String
        init(_ what: String, _ bytes: [UInt8], _ line: Int, _ reason: String) {
            (self.what, self.bytes, self.line, self.reason) = (what, bytes, line, reason)
        }
        var testDescription: String { what }
    }

    /// A header and a good row in UTF-16.
    static func utf16(bigEndian: Bool) -> [UInt8] {
        (header + goodRow).utf16.flatMap { unit in
            bigEndian ? [UInt8(unit >> 8), UInt8(unit & 0xFF)] : [UInt8(unit & 0xFF), UInt8(unit >> 8)]
        }
    }

    /// Control characters (PostgreSQL refuses NUL; terminals obey ESC) are refused where the row is read,
    /// with file, line and column; in users, line breaks and tabs separate names.
    @Test(
        arguments: [
            ("pbx_client_id", "on\u{0}boarder", "control character U+0000 in the field"),
            ("pbx_client_id", "\"on\nboarder\"", "control character U+000A in the field"),
            ("pbx_client_id", "\"on\r\nboarder\"", "control character U+000D in the field"),
            ("display_name", "Contoso\u{1B}]0;owned\u{7}", "control character U+001B in the field"),
            ("display_name", "Contoso\u{7F}", "control character U+007F in the field"),
            ("display_name", "Contoso\u{9B}31m", "control character U+009B in the field"),
            ("display_name", "Contoso\u{B}", "control character U+000B in the field"),
            ("tenant", "a\u{0}.example.com", "control character U+0000 in the field"),
            ("users", "u@a.example.com\u{0}", "control character U+0000 in the field"),
            ("display_name", "\"Two\nlines\"", "control character U+000A in the field"),
            ("display_name", "a\ttab", "control character U+0009 in the field"),
            ("display_name", "\tTrimmed Inc.\t", nil),
            ("users", "\"u@a.example.com\r\nv@a.example.com\tw@a.example.com\"", nil),
        ].map(Field.init))
    func controlCharactersAreRefusedWithTheirColumn(_ field: Field) throws {
        let (column, value, reason) = (field.column, field.value, field.reason)
        var fields = [
            "acme", "a.example.com", "", "m365", "https://pbx.example.com", "onboarder", "env:PBX_SECRET_A", "", "", "",
            "",
        ]
        fields[try #require(EnqueueFile.columns.firstIndex(of: column))] = value
        let result = read(Self.header + fields.joined(separator: ",") + "\n")
        if let reason {
            #expect(result.problems.map(\.description) == ["customers.csv:2: \(column): \(reason)"])
            #expect(result.rejectedLines == [2])
        } else {
            #expect(result.problems == [])
            #expect(result.rows.count == 1)
        }
        // The same value in JSON Lines (where "\u0000" is how a NUL arrives).
        let unquoted = value.hasPrefix("\"") ? String(value.dropFirst().dropLast()) : value
        var object: [String: Any] = Dictionary(
            uniqueKeysWithValues: zip(EnqueueFile.columns, fields).filter { !$0.1.isEmpty })
        object[column] = unquoted
        let json = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        let jsonResult = read(json + "\n", name: "customers.jsonl")
        #expect(jsonResult.problems.map(\.description) == reason.map { ["customers.jsonl:1: \(column): \($0)"] } ?? [])
    }

    /// A column and its value, shown with control characters escaped (the test log is read on a terminal too).
    struct Field: CustomTestStringConvertible, Sendable {
        let column: String
        let value: String
        let reason: String?
        init(_ column: String, _ value: String, _ reason: String?) {
            (self.column, self.value, self.reason) = (column, value, reason)
        }
        var testDescription: String { "\(column) = \(value.debugDescription)" }
    }

    /// Every column's limit (`EnqueueFile.Limits`): the longest value passes, one character more is refused
    /// naming the limit.
    @Test func everyFieldHasADocumentedLimit() throws {
        let domain253 = zip(["a", "b", "c", "d"], [63, 63, 63, 61]).map { String(repeating: $0, count: $1) }
            .joined(separator: ".")
        #expect(domain253.count == 253)
        let url = "https://pbx.example.com/"
        let cases: [(column: String, path: String, atLimit: String, over: String, limit: Int)] = [
            ("msp", "m365", String(repeating: "m", count: 63), String(repeating: "m", count: 64), 63),
            ("tenant", "m365", domain253, "e" + domain253, 253),
            ("display_name", "m365", String(repeating: "é", count: 256), String(repeating: "é", count: 257), 256),
            ("pbx_client_id", "m365", String(repeating: "c", count: 256), String(repeating: "c", count: 257), 256),
            (
                "pbx_url", "m365", url + String(repeating: "p", count: 2048 - url.count),
                url + String(repeating: "p", count: 2049 - url.count), 2048
            ),
            (
                "redirect_uri", "m365", url + String(repeating: "r", count: 256 - url.count),
                url + String(repeating: "r", count: 257 - url.count), 256
            ),
            ("sbc_domain", "teams", domain253, "e" + domain253, 253),
            (
                "pbx_secret", "m365", "env:PBX_SECRET_" + String(repeating: "S", count: 4096 - 15),
                "env:PBX_SECRET_" + String(repeating: "S", count: 4097 - 15), 4096
            ),
        ]
        #expect(Set(cases.map(\.column)) == Set(EnqueueFile.Limits.fieldLength.keys))
        for (column, path, atLimit, over, limit) in cases {
            #expect(EnqueueFile.Limits.fieldLength[column] == limit)
            func row(_ value: String) throws -> String {
                var fields = [
                    "acme", "a.example.com", "", path, "https://pbx.example.com", "onboarder", "env:PBX_SECRET_A", "",
                    "", "", "",
                ]
                fields[try #require(EnqueueFile.columns.firstIndex(of: column))] = value
                return Self.header + fields.joined(separator: ",") + "\n"
            }
            let accepted = read(try row(atLimit))
            #expect(!accepted.problems.contains { $0.reason.contains("at most") }, "\(column): \(accepted.problems)")
            let refused = read(try row(over))
            #expect(
                refused.problems.map(\.description) == [
                    "customers.csv:2: \(column): \(limit + 1) characters; at most \(limit)"
                ],
                "\(column)")
        }
        // users: 113 characters each (64 before the @), 10,000 per row.
        let longest = String(repeating: "u", count: 64) + "@" + String(repeating: "d", count: 44) + ".com"
        #expect(longest.count == 113 && Validation.isUPN(longest))
        func users(_ list: [String]) -> EnqueueFile.Result {
            read(
                Self.header
                    + "acme,a.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,\"\(list.joined(separator: ";"))\",\n"
            )
        }
        #expect(users([longest]).problems == [])
        #expect(
            users(["x" + longest]).problems.first?.reason.hasPrefix("a user principal name has at most 113 characters")
                == true)
        let many = (0..<10_001).map { "u\($0)@a.example.com" }
        #expect(users(Array(many.prefix(10_000))).problems == [])
        #expect(users(many).problems.map(\.reason) == ["10001 users; a row lists at most 10000"])
        // A row: 1 MiB, in CSV (a quote left open swallows the rest of the file) and in JSON Lines.
        let huge = String(repeating: "x", count: EnqueueFile.Limits.rowBytes)
        let csv = read(
            Self.header + "acme,b.example.com,\"\(huge)\",m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,\n"
                + Self.goodRow)
        #expect(csv.rejectedLines == [2] && csv.rows.map(\.line) == [3])
        #expect(csv.problems.first?.reason.hasSuffix("a row has at most 1048576 (1 MiB)") == true, "\(csv.problems)")
        let json = read("{\"display_name\": \"\(huge)\"}\n", name: "customers.jsonl")
        #expect(json.rejectedLines == [1] && json.problems.first?.reason.contains("at most 1048576") == true)
    }

    /// The nil GUID parses as a GUID but names no tenant.
    @Test(
        arguments: [
            ("00000000-0000-0000-0000-000000000000", "the nil GUID (all zeros) is not a tenant id"),
            ("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", nil),
            ("3F1C2D4E-5A6B-4C7D-8E9F-0A1B2C3D4E5F", nil),
        ] as [(String, String?)])
    func theNilGUIDIsNotATenant(_ tenant: String, _ reason: String?) {
        #expect(Validation.tenantProblem(tenant.lowercased()) == reason)
        let result = read(Self.header + "acme,\(tenant),,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,\n")
        #expect(result.problems.map(\.reason) == (reason.map { [$0] } ?? []))
    }

    /// A URL with user:password@ is refused, and the password is never quoted back.
    @Test(arguments: [
        ("redirect_uri", "https://admin:hunter2@pbx.example.com/cb"),
        ("redirect_uri", "https://admin:hunter2@pbx.example.com@evil.example/cb"),
        ("redirect_uri", "admin:hunter2@pbx.example.com/cb"),
        ("redirect_uri", "https://admin:hunter2@*.example.com/cb"),
        ("pbx_url", "https://admin:hunter2@pbx.example.com"),
        ("pbx_url", "admin:hunter2@pbx.example.com"),
    ])
    func userinfoInAURLIsRefusedAndNeverEchoed(_ column: String, _ url: String) throws {
        var fields = [
            "acme", "a.example.com", "", "m365", "https://pbx.example.com", "onboarder", "env:PBX_SECRET_A", "", "", "",
            "",
        ]
        fields[try #require(EnqueueFile.columns.firstIndex(of: column))] = url
        let result = read(Self.header + fields.joined(separator: ",") + "\n")
        #expect(result.rejectedLines == [2])
        #expect(result.problems.map(\.column) == [column])
        #expect(!result.problems.contains { $0.description.contains("hunter2") }, "\(result.problems)")
    }

    @Test func withoutUserinfo() {
        #expect(Validation.withoutUserinfo("https://a:b@host/x?q=@") == "https://***@host/x?q=@")
        #expect(Validation.withoutUserinfo("a:b@host/x") == "***@host/x")
        #expect(Validation.withoutUserinfo("https://a@b@host") == "https://***@host")
        #expect(Validation.withoutUserinfo("https://host/@x") == "https://host/@x")
    }

    /// JSON Lines saved with Windows line ends: Swift's String.split saw CRLF as one character, not "\n",
    /// and read the whole file as one line that was not a JSON object.
    @Test func jsonLinesWithCRLF() {
        let object =
            #"{"msp": "acme", "tenant": "%@.example.com", "path": "m365", "pbx_url": "https://pbx.example.com", "pbx_client_id": "x", "pbx_secret": "env:PBX_SECRET_A"}"#
        let text =
            ["a", "b"].map { object.replacingOccurrences(of: "%@", with: $0) }.joined(separator: "\r\n") + "\r\n\r\n"
        let result = read(text, name: "customers.jsonl")
        #expect(result.problems == [])
        #expect(result.rows.map(\.line) == [1, 2])
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
        let enqueuer = try await TestDatabase.login(.enqueuer, msps: ["acme"], database: name, owner: configuration)
        let environment = ["ONBOARDER_DATABASE_URL": enqueuer.connectionString!, "ONBOARDER_LOG_FORMAT": "json"]
        func jobs() async throws -> Int {
            try await pool.query("SELECT count(*) FROM onboarder.jobs").single()[0].decode(Int.self)
        }

        let refused = try await runCommand([onboarder, "enqueue", "--no-resolve", file], environment: environment)
        #expect(refused.status == 2)
        #expect(refused.output.contains("customers.csv:2002: tenant: not a tenant id"))
        #expect(refused.output.contains("nothing enqueued"))
        #expect(try await jobs() == 0)

        let dry = try await runCommand(
            [onboarder, "enqueue", "--dry-run", "--no-resolve", "--skip-invalid", file], environment: environment)
        #expect(dry.status == 2 && dry.output.contains("2000 row(s) valid, 1 rejected"))
        #expect(try await jobs() == 0)

        let skipped = try await runCommand(
            [onboarder, "enqueue", "--no-resolve", "--skip-invalid", file], environment: environment)
        #expect(skipped.status == 2)
        #expect(skipped.output.contains("2000 enqueued, 1 rejected"), "\(skipped.output)")
        #expect(try await jobs() == 2000)
        let payload = try await pool.query(
            "SELECT payload->>'pbx_url' FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id WHERE t.tenant_key = 'c7.example.com'"
        ).single()[0].decode(String.self)
        #expect(payload == "https://pbx7.example.com")

        // Again: every customer already has an active onboarding; nothing is duplicated.
        let again = try await runCommand(
            [onboarder, "enqueue", "--no-resolve", "--skip-invalid", file], environment: environment)
        #expect(again.output.contains("0 enqueued, 2000 already had an active onboarding"), "\(again.output)")
        #expect(again.output.contains("customers.csv:2: already active: job"))
        #expect(try await jobs() == 2000)
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}
