import Foundation
import OnboarderConfig
import Testing

@testable import onboarder

@Suite("status and show print what came from outside escaped")
struct StatusOutputTests {
    /// A display name, an attention text or a Graph error can carry escape sequences and bidi overrides;
    /// `status` and `show` printed them as they were.
    static let hostile = "Contoso\u{1B}]0;owned\u{7}\u{1B}[2J\rstate       succeeded\u{202E}\u{9B}"

    @Test func tablesAndFieldLinesAreSanitised() {
        let table = formatRows(["tenant", "last error"], [["contoso.example", Self.hostile]], format: .table)
        let fields = fieldLines(["tenant", "attention"], ["contoso.example", Self.hostile + "\nsecond line"])
        for line in table + fields {
            #expect(!line.unicodeScalars.contains(where: TerminalText.isUnsafe), "\(line.debugDescription)")
        }
        #expect(fields.count == 2)
        #expect(fields[1].hasSuffix(#"\u{202E}\u{9B}\u{A}second line"#), "\(fields[1])")
    }

    @Test func jsonKeepsTheValuesWithTheCharactersEscaped() throws {
        let lines = formatRows(["tenant", "last error"], [["contoso.example", Self.hostile]], format: .json)
        #expect(lines.count == 1)
        let line = try #require(lines.first)
        #expect(!line.unicodeScalars.contains(where: TerminalText.isUnsafe), "\(line.debugDescription)")
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
        #expect(object?["last error"] == Self.hostile)
    }
}
