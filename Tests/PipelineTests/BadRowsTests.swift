import Foundation
import Pipeline
import Postgres
import TestSupport
import Testing

@Suite("onboarder enqueue: thirty kinds of bad rows, and 100,000 good ones", .serialized)
struct BadRowsTests {
    static let header =
        "msp,tenant,display_name,path,pbx_url,pbx_client_id,pbx_secret,redirect_uri,sbc_domain,users,priority"
    static let good = "acme,%@,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"

    /// One row per mistake: (what is wrong, the row). Lines are counted in the test, since quoted
    /// newlines in valid rows shift them.
    static let bad: [(String, String)] = [
        (
            "tenant GUID with a typo",
            "acme,3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5g,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"
        ),
        ("tenant neither GUID nor domain", "acme,contoso,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"),
        (
            "tenant domain ends in a dot",
            "acme,contoso.com.,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"
        ),
        (
            "tenant label over 63 characters",
            "acme,\(String(repeating: "a", count: 64)).com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"
        ),
        ("tenant missing", "acme,,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"),
        ("msp missing", ",m1.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"),
        ("msp with a space", "ac me,m2.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"),
        ("path unknown", "acme,m3.example.com,,fax,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"),
        ("path missing", "acme,m4.example.com,,,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"),
        ("PBX URL not https", "acme,m5.example.com,,m365,http://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"),
        ("PBX URL without scheme", "acme,m6.example.com,,m365,pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"),
        (
            "PBX URL with a query",
            "acme,m7.example.com,,m365,https://pbx.example.com/?x=1,onboarder,env:PBX_SECRET_A,,,,"
        ),
        ("PBX client id missing", "acme,m8.example.com,,m365,https://pbx.example.com,,env:PBX_SECRET_A,,,,"),
        ("PBX secret given in clear", "acme,m9.example.com,,m365,https://pbx.example.com,onboarder,s3cr3t,,,,"),
        ("PBX secret missing", "acme,m10.example.com,,m365,https://pbx.example.com,onboarder,,,,,"),
        (
            "redirect URI over http",
            "acme,m11.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,http://pbx.example.com/cb,,,"
        ),
        (
            "redirect URI with a wildcard",
            "acme,m12.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,https://*.example.com/cb,,,"
        ),
        (
            "redirect URI with a fragment",
            "acme,m13.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,https://pbx.example.com/cb#x,,,"
        ),
        (
            "redirect URI too long",
            "acme,m14.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,https://pbx.example.com/\(String(repeating: "p", count: 250)),,,"
        ),
        (
            "SBC domain on the m365 path",
            "acme,m15.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,sbc.example.com,,"
        ),
        (
            "SBC domain not a name",
            "acme,m16.example.com,,teams,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,-bad-,,"
        ),
        (
            "users on the teams path",
            "acme,m17.example.com,,teams,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,a@m17.example.com,"
        ),
        (
            "a user that is not a UPN",
            "acme,m18.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,bob,"
        ),
        (
            "a UPN with two @",
            "acme,m19.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,a@b@m19.example.com,"
        ),
        (
            "a user listed twice",
            "acme,m20.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,a@m20.example.com;A@m20.example.com,"
        ),
        (
            "priority not a number",
            "acme,m21.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,high"
        ),
        (
            "priority out of range",
            "acme,m22.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,99999999"
        ),
        ("too few fields", "acme,m23.example.com,,m365,https://pbx.example.com"),
        ("too many fields", "acme,m24.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,,extra"),
        (
            "text after a closing quote",
            "acme,\"m25.example.com\"x,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"
        ),
        (
            "a NUL in the client id (it failed inside PostgreSQL, without a line)",
            "acme,m26.example.com,,m365,https://pbx.example.com,on\u{0}boarder,env:PBX_SECRET_A,,,,"
        ),
        (
            "an escape sequence in the display name",
            "acme,m27.example.com,Evil\u{1B}[2J,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"
        ),
        (
            "the nil GUID",
            "acme,00000000-0000-0000-0000-000000000000,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"
        ),
        (
            "a redirect URI with a password",
            "acme,m28.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,https://u:pw@pbx.example.com/cb,,,"
        ),
        (
            "a display name over 256 characters",
            "acme,m29.example.com,\(String(repeating: "n", count: 257)),m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"
        ),
        (
            "a tenant twice in the file",
            "acme,good1.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,"
        ),
    ]

    @Test func everyBadRowIsReportedByLineAndNothingIsWritten() async throws {
        // A BOM, CRLF line ends, quoted newlines and commas in the valid rows around the bad ones.
        var lines = [Self.header]
        var expected: [(Int, String)] = []
        var line = 2
        for (index, (mistake, row)) in Self.bad.enumerated() {
            // A line break inside quotes: in users, where it separates names (a display name has none).
            let valid =
                "acme,good\(index + 1).example.com,\"Good \(index + 1), Inc.\",m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,\"a@good\(index + 1).example.com\nb@good\(index + 1).example.com\","
            lines.append(valid)
            line += 2  // the quoted newline
            lines.append(row)
            expected.append((line, mistake))
            line += 1
        }
        let text = "\u{FEFF}" + lines.joined(separator: "\r\n") + "\r\n"
        #expect(Self.bad.count >= 30)
        let (configuration, name) = try await TestDatabase.makeMigratedScratchDatabase("badrows")
        let pool = PostgresPool(configuration: configuration, maxConnections: 1)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).csv").path
        FileManager.default.createFile(atPath: file, contents: Data(text.utf8))
        let onboarder = builtProductsDirectory.appendingPathComponent("onboarder").path
        // As MSP staff enqueue: an enqueuer login mapped to acme.
        let enqueuer = try await TestDatabase.login(.enqueuer, msps: ["acme"], database: name, owner: configuration)
        let environment = ["ONBOARDER_DATABASE_URL": enqueuer.connectionString!, "ONBOARDER_LOG_FORMAT": "json"]
        let refused = try await runCommand([onboarder, "enqueue", "--no-resolve", file], environment: environment)
        #expect(refused.status == 2)
        for (line, mistake) in expected {
            #expect(refused.output.contains("\(file):\(line):"), "line \(line) (\(mistake)) is not reported")
        }
        #expect(
            refused.output.contains("\(Self.bad.count) row(s) rejected, \(Self.bad.count) valid"), "\(refused.output)")
        #expect(try await pool.query("SELECT count(*) FROM onboarder.jobs").single()[0].decode(Int.self) == 0)

        let skipped = try await runCommand(
            [onboarder, "enqueue", "--no-resolve", "--skip-invalid", file], environment: environment)
        #expect(skipped.status == 2)
        let written = try await pool.query(
            "SELECT tenant_key FROM onboarder.tenants ORDER BY tenant_key"
        ).map { try $0[0].decode(String.self) }
        #expect(written == (1...Self.bad.count).map { "good\($0).example.com" }.sorted())
        let names = try await pool.query(
            "SELECT payload->>'display_name' FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id WHERE t.tenant_key = 'good3.example.com'"
        ).single()[0].decode(String.self)
        #expect(names == "Good 3, Inc.")
        let users = try await pool.query(
            "SELECT payload->>'users' FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id WHERE t.tenant_key = 'good3.example.com'"
        ).single()[0].decode(String.self)
        #expect(users == #"["a@good3.example.com", "b@good3.example.com"]"#)
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    @Test func oneHundredThousandRows() async throws {
        let (configuration, name) = try await TestDatabase.makeMigratedScratchDatabase("bulk")
        let pool = PostgresPool(configuration: configuration, maxConnections: 1)
        var text = Self.header + "\n"
        text.reserveCapacity(8_000_000)
        for index in 0..<100_000 {
            text +=
                "msp\(index % 7),c\(index).example.com,,m365,https://pbx\(index).example.com,onboarder,env:PBX_SECRET_A,,,,\n"
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bulk-\(UUID().uuidString).csv").path
        FileManager.default.createFile(atPath: file, contents: Data(text.utf8))
        // An enqueuer login of the seven MSPs, as MSP staff would run it.
        let enqueuer = try await TestDatabase.login(
            .enqueuer, msps: (0..<7).map { "msp\($0)" }, database: name, owner: configuration)
        let result = try await runCommand(
            [builtProductsDirectory.appendingPathComponent("onboarder").path, "enqueue", "--no-resolve", file],
            environment: ["ONBOARDER_DATABASE_URL": enqueuer.connectionString!, "ONBOARDER_LOG_FORMAT": "json"])
        #expect(result.status == 0, "\(result.output.suffix(500))")
        #expect(result.output.contains("100000 enqueued"))
        let counts = try await pool.query(
            "SELECT count(*)::int, count(DISTINCT tenant_id)::int, count(DISTINCT msp_id)::int FROM onboarder.jobs WHERE state = 'queued'"
        ).single().decode((Int, Int, Int).self)
        #expect(counts == (100_000, 100_000, 7))
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}

@Suite("onboarder enqueue: files refused whole, input capped, output sanitised")
struct EnqueueInputTests {
    static let onboarder = builtProductsDirectory.appendingPathComponent("onboarder").path
    static let row = "acme,a.example.com,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,\n"

    static func file(_ bytes: [UInt8], name: String = "customers.csv") -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("input-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(name).path
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// A file with no rows to read printed its problem and exited 0, as if all had gone well. It is rejected
    /// input (2), whatever the flags, and nothing is enqueued (no database is needed to say so).
    @Test(
        arguments: [
            ("empty", []),
            ("header only", Array((BadRowsTests.header + "\n").utf8)),
            (
                "UTF-16",
                [0xFF, 0xFE] + (BadRowsTests.header + "\n" + row).utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
            ),
            ("not UTF-8", Array((BadRowsTests.header + "\n").utf8) + [0x61, 0xE9, 0x0A]),
        ] as [(String, [UInt8])])
    func aFileWithoutRowsExitsTwo(_ what: String, _ bytes: [UInt8]) async throws {
        let path = Self.file(bytes)
        for flags in [[], ["--dry-run"], ["--skip-invalid"]] {
            let result = try await runCommand([Self.onboarder, "enqueue"] + flags + [path])
            #expect(result.status == 2, "\(what) \(flags): \(result.output)")
            #expect(result.output.contains("nothing enqueued: \(path) was rejected as a whole"), "\(result.output)")
        }
    }

    /// `enqueue -` read standard input to its end: `< /dev/zero` grew past 5 GB. It stops one byte past
    /// 256 MiB (here 300 MiB of zeros), and a file over the limit is refused before a byte is read.
    @Test(.timeLimit(.minutes(2))) func inputIsCappedAt256MiB() async throws {
        let piped = try await runCommand([
            "/bin/sh", "-c", "head -c 314572800 /dev/zero | \"$0\" enqueue -", Self.onboarder,
        ])
        #expect(piped.status == 2, "\(piped.output.suffix(500))")
        #expect(
            piped.output.contains(
                "nothing enqueued: <stdin> has more than 268435456 bytes; enqueue reads at most 268435456 (256 MiB)"),
            "\(piped.output.suffix(500))")
        // A sparse file: 300 MiB long, nothing on disk, and never read.
        let path = Self.file([])
        #expect(truncate(path, 314_572_800) == 0)
        let sparse = try await runCommand([Self.onboarder, "enqueue", path])
        #expect(sparse.status == 2)
        #expect(
            sparse.output.contains("\(path) has 314572800 bytes; enqueue reads at most 268435456"), "\(sparse.output)")
        #expect(EnqueueFile.Limits.fileBytes == 268_435_456)
        unlink(path)
    }

    /// Problems quote the file's own text: a bidi override or an escape sequence in a value (or in the file's
    /// name) reaches the terminal escaped.
    @Test func problemsReachTheTerminalSanitised() async throws {
        let path = Self.file(
            Array(
                (BadRowsTests.header
                    + "\nacme,a\u{202E}moc.elpmaxe,,m365,https://pbx.example.com,onboarder,env:PBX_SECRET_A,,,,\n").utf8
            ),
            name: "evil\u{1B}[2J.csv")
        let result = try await runCommand([Self.onboarder, "enqueue", "--dry-run", path])
        #expect(result.status == 2)
        #expect(
            result.output.contains(
                "evil\\u{1B}[2J.csv:2: tenant: not a tenant id (GUID) or a domain name: 'a\\u{202E}moc.elpmaxe'"),
            "\(result.output)")
        #expect(!result.output.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{202E}" })
    }
}
