import Foundation
import Logging
import Testing

@testable import OnboarderConfig

@Suite("Untrusted text: terminal sanitising, log lines, configuration files that try to break the parser")
struct UntrustedTextTests {
    @Test(arguments: [
        ("plain", "plain"),
        ("Zoë Ünïcødé 北京 🙂", "Zoë Ünïcødé 北京 🙂"),
        ("retitle\u{1B}]0;owned\u{7}", "retitle\\u{1B}]0;owned\\u{7}"),
        ("clear\u{1B}[2J", "clear\\u{1B}[2J"),
        ("csi\u{9B}31m", "csi\\u{9B}31m"),
        ("nul\u{0}del\u{7F}", "nul\\u{0}del\\u{7F}"),
        ("line\nbreak\r\ttab", "line\\u{A}break\\u{D}\\u{9}tab"),
        ("trojan\u{202E}txt.exe", "trojan\\u{202E}txt.exe"),
        ("isolates\u{2066}\u{2067}\u{2068}\u{2069}", "isolates\\u{2066}\\u{2067}\\u{2068}\\u{2069}"),
        ("embeddings\u{202A}\u{202B}\u{202C}\u{202D}", "embeddings\\u{202A}\\u{202B}\\u{202C}\\u{202D}"),
        ("dash — ellipsis … (E2 lead bytes, safe)", "dash — ellipsis … (E2 lead bytes, safe)"),
        ("nbsp\u{A0}é (C2/C3 lead bytes, safe)", "nbsp\u{A0}é (C2/C3 lead bytes, safe)"),
    ])
    func sanitised(_ text: String, _ shown: String) {
        #expect(TerminalText.sanitized(text) == shown)
        // Idempotent: printing a sanitised message again changes nothing.
        #expect(TerminalText.sanitized(shown) == shown)
    }

    /// JSON output keeps the values (a program reads them back unchanged) with the unsafe characters escaped.
    @Test func jsonOutputEscapesWhatJSONSerializationLeavesRaw() throws {
        let value = "a\u{9B}b\u{202E}c\u{7F}d\u{1B}e"
        let data = try JSONSerialization.data(withJSONObject: ["v": value])
        let escaped = TerminalText.jsonEscaped(String(decoding: data, as: UTF8.self))
        #expect(!escaped.unicodeScalars.contains(where: TerminalText.isUnsafe))
        let back = try JSONSerialization.jsonObject(with: Data(escaped.utf8)) as? [String: String]
        #expect(back?["v"] == value)
    }

    /// The human log format (a terminal's) printed metadata as it came: a tenant's name or a remote
    /// service's error could carry escape sequences. The JSON format escaped C0 only.
    @Test func logLinesCarryNoTerminalControls() throws {
        let handler = OnboarderLogHandler(label: "t", level: .info, format: .human, sink: LogSink { _ in })
        let hostile = "Contoso\u{1B}[2K\rERROR all is lost \u{202E}\u{9B}"
        let human = handler.humanLine(level: .info, message: "job\u{1B}", metadata: [("tenant.name", hostile)])
        #expect(!human.unicodeScalars.contains(where: TerminalText.isUnsafe), "\(human.debugDescription)")
        #expect(human.contains("job\\u{1B}"))
        #expect(human.contains(#"tenant.name="Contoso\u{1B}[2K\u{D}ERROR all is lost \u{202E}\u{9B}""#), "\(human)")
        let json = String(
            decoding: handler.jsonLine(level: .info, message: "m", metadata: [("tenant.name", hostile + " — ok")]),
            as: UTF8.self)
        #expect(!json.unicodeScalars.contains(where: TerminalText.isUnsafe), "\(json.debugDescription)")
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
        #expect(object?["tenant.name"] == hostile + " — ok")
    }

    /// A line of 100,000 `[` overflowed the stack in the recursive array parser: every command crashed.
    @Test func deeplyNestedArraysAreAnErrorNotACrash() throws {
        let deep = "[database]\nx = " + String(repeating: "[", count: 100_000)
        #expect {
            try TOMLParser.parse(deep, file: "deep.toml")
        } throws: { error in
            let error = error as? ConfigError
            return error?.line == 2 && error?.column == 37 && error?.message == "arrays nested more than 32 deep"
        }
        let limit = TOMLParser.maxArrayDepth
        let ok = "x = " + String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        #expect(try TOMLParser.parse(ok, file: "ok.toml")["x"] != nil)
        let over = "x = " + String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        #expect(throws: ConfigError.self) { try TOMLParser.parse(over, file: "over.toml") }
        // Through the loader, as every command reads it: file and line named.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("deep-\(UUID().uuidString).toml").path
        try deep.write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            try ResolvedConfiguration.load(file: path, environment: [:])
        } throws: { error in
            (error as? ConfigErrors)?.description.hasPrefix("\(path):2:37: arrays nested more than 32 deep") == true
        }
    }

    /// A configuration file saved with Windows line ends was read as one line: String.split(separator: "\n")
    /// does not split "\r\n", which Swift counts as one Character.
    @Test func crlfConfigurationFiles() throws {
        let entries = try TOMLParser.parse("[database]\r\npool_size = 4\r\nurl = \"x\"\r\n", file: "crlf.toml")
        #expect(entries["database.pool_size"] == TOMLParser.Entry(value: .integer(4), line: 2))
        #expect(entries["database.url"] == TOMLParser.Entry(value: .string("x"), line: 3))
    }

    /// TOML allows no raw control character but tab in a string; an escaped NUL is TOML, but a path or URL
    /// with one would be cut short where it meets C. Messages quoting the file's text are sanitised.
    @Test func controlCharactersInConfigurationStrings() throws {
        #expect {
            try TOMLParser.parse("url = \"a\u{1B}b\"", file: "c.toml")
        } throws: { error in
            (error as? ConfigError)?.description
                == "c.toml:1:9: control character U+001B in a string (write it as an escape)"
        }
        #expect(throws: ConfigError.self) { try TOMLParser.parse("url = 'a\u{0}b'", file: "c.toml") }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nul-\(UUID().uuidString).toml").path
        try "[database]\nurl = \"host=a\\u0000 host=b\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            try ResolvedConfiguration.load(file: path, environment: [:])
        } throws: { error in
            (error as? ConfigErrors)?.description == "\(path):2 (database.url): a NUL character (U+0000) in the value"
        }
        let echoed = ConfigError(file: "f.toml", line: 1, key: nil, message: "cannot read 'x\u{1B}[2J'")
        #expect(echoed.description == "f.toml:1: cannot read 'x\\u{1B}[2J'")
    }
}
