import Foundation
import Logging
import Testing

@testable import OnboarderConfig

@Suite("Configuration")
struct ConfigurationTests {
    func writeTemporary(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("onboarder-\(UUID().uuidString).toml")
            .path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func tomlSubset() throws {
        let entries = try TOMLParser.parse(
            """
            \u{FEFF}# comment
            top = "level"
            [database]
            url = "postgresql://h/db" # trailing comment
            pool_size = 1_000
            [log]
            level = 'literal \\n kept'
            flags = ["a", "b\\"c"]
            ratio = 0.5
            on = true
            a.b = "dotted"
            """, file: "x.toml")
        #expect(entries["top"]?.value == .string("level"))
        #expect(entries["database.url"] == TOMLParser.Entry(value: .string("postgresql://h/db"), line: 4))
        #expect(entries["database.pool_size"]?.value == .integer(1000))
        #expect(entries["log.level"]?.value == .string("literal \\n kept"))
        #expect(entries["log.flags"]?.value == .array([.string("a"), .string("b\"c")]))
        #expect(entries["log.ratio"]?.value == .float(0.5))
        #expect(entries["log.on"]?.value == .bool(true))
        #expect(entries["log.a.b"]?.value == .string("dotted"))
    }

    @Test func tomlErrorsNameFileLineAndColumn() {
        let unquoted = #expect(throws: ConfigError.self) {
            try TOMLParser.parse("[database]\nurl = postgres://x\n", file: "c.toml")
        }
        #expect(unquoted?.description == "c.toml:2:7: cannot read 'postgres://x' (strings need quotes)")
        let duplicate = #expect(throws: ConfigError.self) { try TOMLParser.parse("a = 1\na = 2\n", file: "c.toml") }
        #expect(duplicate?.description == "c.toml:2 (a): duplicate key (first set on line 1)")
        let unterminated = #expect(throws: ConfigError.self) {
            try TOMLParser.parse("\n\nname = \"open\n", file: "c.toml")
        }
        #expect(unterminated?.line == 3)
    }

    @Test func layersAndSourcesDefaultsFileEnvironmentFlags() throws {
        let path = try writeTemporary(
            "[database]\nconnect_timeout = 4\nurl = \"postgresql://file/db\"\n[log]\nlevel = \"debug\"\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try ResolvedConfiguration.load(
            file: path,
            environment: ["ONBOARDER_DATABASE_URL": "postgresql://env/db"],
            overrides: [(key: .logLevel, value: "error", flag: "--log-level")])
        #expect(config.integer(.databaseConnectTimeout) == 4)
        #expect(config.setting(.databaseConnectTimeout).source == .file(path: path, line: 2))
        #expect(config.string(.databaseURL) == "postgresql://env/db")
        #expect(config.setting(.databaseURL).source == .environment("ONBOARDER_DATABASE_URL"))
        #expect(config.string(.logLevel) == "error")
        #expect(config.setting(.logLevel).source == .commandLine("--log-level"))
        #expect(config.string(.logFormat) == "auto")
        #expect(config.setting(.logFormat).source == .defaultValue)
    }

    @Test func azureIdentityVariablesAreHonouredAndOursWin() throws {
        let config = try ResolvedConfiguration.load(
            file: nil,
            environment: [
                "AZURE_CLIENT_ID": "from-azure", "AZURE_CLIENT_SECRET": "s3cret", "AZURE_TENANT_ID": "t",
                "ONBOARDER_PARTNER_TENANT_ID": "ours",
            ])
        #expect(config.string(.partnerClientID) == "from-azure")
        #expect(config.setting(.partnerClientID).source == .environment("AZURE_CLIENT_ID"))
        #expect(config.string(.partnerTenantID) == "ours")
        #expect(config.displayValue(config.setting(.partnerClientSecret)) == "<redacted>")
    }

    /// The PBX's own certificate is the default (its old name `file` still accepted); Onboarder-generated
    /// certificates only when asked for; anything else is refused with the choices.
    @Test func certificateSourceDefaultsToThePBXs() throws {
        #expect(
            try ResolvedConfiguration.load(file: nil, environment: [:]).string(.onboardingCertificateSource) == "pbx")
        for accepted in ["pbx", "file", "generate"] {
            let config = try ResolvedConfiguration.load(
                file: nil, environment: ["ONBOARDER_ONBOARDING_CERTIFICATE_SOURCE": accepted])
            #expect(config.string(.onboardingCertificateSource) == accepted)
        }
        #expect(throws: ConfigErrors.self) {
            try ResolvedConfiguration.load(
                file: nil, environment: ["ONBOARDER_ONBOARDING_CERTIFICATE_SOURCE": "onboarder"])
        }
        let reports = try ResolvedConfiguration.load(
            file: nil, environment: ["ONBOARDER_MICROSOFT_GRAPH_REPORTS_BASE_URL": "https://graph.example/beta"])
        #expect(reports.string(.graphReportsBaseURL) == "https://graph.example/beta")
    }

    /// Found by scripts/fuzz: the "did you mean" suggestion compared a megabyte-long unknown key with every
    /// known key character by character (minutes). The time limit only catches that hang coming back; the
    /// load itself takes milliseconds.
    @Test(.timeLimit(.minutes(1))) func aHugeUnknownKeyIsReportedWithoutASuggestionAtOnce() throws {
        let path = try writeTemporary(
            "[worker]\nconcurrency = 4\n" + String(repeating: "a", count: 1_000_000) + " = 1\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let errors = #expect(throws: ConfigErrors.self) { try ResolvedConfiguration.load(file: path, environment: [:]) }
        let problem = try #require(errors?.errors.first)
        #expect(problem.line == 3 && problem.message == "unknown key")
        // Bytes that are not UTF-8 are named as such, not as "the file isn't in the correct format".
        let binary = NSTemporaryDirectory() + "onboarder-binary-\(UUID().uuidString).toml"
        try Data([0x5B, 0x77, 0xFF, 0xFE, 0x5D, 0x0A]).write(to: URL(fileURLWithPath: binary))
        defer { try? FileManager.default.removeItem(atPath: binary) }
        let unreadable = #expect(throws: ConfigErrors.self) {
            try ResolvedConfiguration.load(file: binary, environment: [:])
        }
        #expect(unreadable?.errors.map(\.description) == ["\(binary): the file is not UTF-8 text"])
    }

    @Test func everyProblemIsReportedWithItsPlace() throws {
        let path = try writeTemporary(
            "[database]\nconnect_timout = 4\nconnect_timeout = \"soon\"\n[log]\nformat = \"xml\"\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let errors = #expect(throws: ConfigErrors.self) {
            try ResolvedConfiguration.load(file: path, environment: ["ONBOARDER_DATABASE_CONNECT_TIMEOUT": "many"])
        }
        let lines = errors?.errors.map(\.description) ?? []
        #expect(
            lines.contains("\(path):2 (database.connect_timout): unknown key (did you mean database.connect_timeout?)"))
        #expect(lines.contains("\(path):3 (database.connect_timeout): expected an integer, got \"soon\""))
        #expect(lines.contains("\(path):5 (log.format): 'xml' is not one of auto, json, human"))
        #expect(
            lines.contains(
                "environment variable ONBOARDER_DATABASE_CONNECT_TIMEOUT (database.connect_timeout): expected an integer, got 'many'"
            ))
        #expect(lines.count == 4)
    }

    @Test func theExampleFileDocumentsEveryKeyWithItsDefault() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/onboarder.example.toml").path
        let entries = try TOMLParser.parse(try String(contentsOfFile: example, encoding: .utf8), file: example)
        #expect(Set(entries.keys) == Set(ConfigKey.all.map(\.name)))
        for key in ConfigKey.all {
            #expect(entries[key.name]?.value == key.defaultValue, "\(key.name) in the example differs from its default")
        }
    }

    @Test func redaction() {
        #expect(
            Redaction.connectionString("postgresql://app:s3cr%40t@db.example.com:5432/onboarder?sslmode=verify-full")
                == "postgresql://app:***@db.example.com:5432/onboarder?sslmode=verify-full")
        #expect(
            Redaction.connectionString("postgresql://db/x?user=a&password=hunter2&sslmode=require")
                == "postgresql://db/x?user=a&password=***&sslmode=require")
        #expect(
            Redaction.connectionString("host=db password='it\\'s secret' user=app") == "host=db password=*** user=app")
        #expect(Redaction.connectionString("host=db password=hunter2 user=app") == "host=db password=*** user=app")
        #expect(Redaction.connectionString("postgresql://app@db/x") == "postgresql://app@db/x")
        let secret = Secret("hunter2")
        #expect("\(secret)" == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
    }

    @Test func jsonLogLinesAreValidJSONWithDottedMetadata() throws {
        final class Capture: @unchecked Sendable {
            var lines: [String] = []
        }
        let capture = Capture()
        let sink = LogSink { capture.lines.append($0) }
        var logger = Logger(label: "test") { label in
            OnboarderLogHandler(label: label, level: .debug, format: .json, sink: sink)
        }
        logger[metadataKey: "worker"] = "w1"
        logger.info(
            "step finished",
            metadata: ["job": ["id": "42"], "note": "quote \" and\nnewline", "odd": "tab\t bell\u{07} back\\ café ✓"])
        logger.trace("below the level")
        #expect(capture.lines.count == 1)
        let object = try JSONSerialization.jsonObject(with: Data(capture.lines[0].utf8)) as? [String: String]
        #expect(object?["msg"] == "step finished")
        #expect(object?["level"] == "info")
        #expect(object?["job.id"] == "42")
        #expect(object?["worker"] == "w1")
        #expect(object?["note"] == "quote \" and\nnewline")
        #expect(object?["odd"] == "tab\t bell\u{07} back\\ café ✓")
        #expect(capture.lines[0].contains(#""odd":"tab\t bell\u0007 back\\ café ✓""#))
        // 2026-11-27T03:35:54.944Z
        let stamp = Array((object?["ts"] ?? "").utf8)
        #expect(stamp.count == 24)
        #expect(
            stamp.enumerated().allSatisfy { index, byte in
                switch index {
                case 4, 7: byte == UInt8(ascii: "-")
                case 10: byte == UInt8(ascii: "T")
                case 13, 16: byte == UInt8(ascii: ":")
                case 19: byte == UInt8(ascii: ".")
                case 23: byte == UInt8(ascii: "Z")
                default: (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                }
            })
        #expect(capture.lines[0].hasSuffix("}\n"))
    }
}
