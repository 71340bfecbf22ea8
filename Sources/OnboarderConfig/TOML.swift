/// A value read from the configuration file.
public enum ConfigValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case integer(Int)
    case float(Double)
    case bool(Bool)
    case array([ConfigValue])

    public var description: String {
        switch self {
        case .string(let value): "\"\(value)\""
        case .integer(let value): String(value)
        case .float(let value): String(value)
        case .bool(let value): String(value)
        case .array(let values): "[" + values.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

/// The subset of TOML (https://toml.io/en/v1.0.0) Onboarder's configuration uses: tables, dotted keys,
/// basic and literal strings, integers, floats, booleans and arrays of those. Anything else is an error
/// that names the line, rather than a value silently misread.
public enum TOMLParser {
    /// Arrays nest at most this deep. The parser recurses once per level, and a line of 100,000 `[` once
    /// overflowed the stack of every command that read the file; Onboarder's settings are flat.
    public static let maxArrayDepth = 32

    public struct Entry: Sendable, Equatable {
        public var value: ConfigValue
        public var line: Int
    }

    /// Parses `text`; keys come back fully dotted (`database.url`).
    public static func parse(_ text: String, file: String) throws(ConfigError) -> [String: Entry] {
        var entries = [String: Entry]()
        var table: [String] = []
        var lineNumber = 0
        // A UTF-8 byte-order mark is tolerated at the start of the file.
        let body = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
        // Split on the byte: String's split sees CRLF as one Character, not "\n", and read a file saved with
        // Windows line ends as a single line.
        for rawLine in body.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.last == UInt8(ascii: "\r") ? rawLine.dropLast() : rawLine
            var cursor = Cursor(Array(String(decoding: line, as: UTF8.self)), file: file, line: lineNumber)
            cursor.skipWhitespace()
            if cursor.atEndOrComment { continue }
            if cursor.peek == "[" {
                cursor.advance()
                if cursor.peek == "[" { throw cursor.error("arrays of tables ([[…]]) are not supported") }
                table = try cursor.key()
                cursor.skipWhitespace()
                guard cursor.peek == "]" else { throw cursor.error("expected ] to close the table header") }
                cursor.advance()
                cursor.skipWhitespace()
                guard cursor.atEndOrComment else { throw cursor.error("unexpected text after the table header") }
                continue
            }
            let key = try cursor.key()
            cursor.skipWhitespace()
            guard cursor.peek == "=" else { throw cursor.error("expected = after the key") }
            cursor.advance()
            cursor.skipWhitespace()
            let value = try cursor.value()
            cursor.skipWhitespace()
            guard cursor.atEndOrComment else { throw cursor.error("unexpected text after the value") }
            let fullKey = (table + key).joined(separator: ".")
            if let previous = entries[fullKey] {
                throw ConfigError(
                    file: file, line: lineNumber, key: fullKey,
                    message: "duplicate key (first set on line \(previous.line))")
            }
            entries[fullKey] = Entry(value: value, line: lineNumber)
        }
        return entries
    }

    private struct Cursor {
        let chars: [Character]
        var index = 0
        let file: String
        let line: Int

        init(_ chars: [Character], file: String, line: Int) {
            self.chars = chars
            self.file = file
            self.line = line
        }

        var peek: Character? { index < chars.count ? chars[index] : nil }
        var atEndOrComment: Bool { peek == nil || peek == "#" }
        mutating func advance() { index += 1 }

        func error(_ message: String) -> ConfigError {
            ConfigError(file: file, line: line, column: index + 1, key: nil, message: message)
        }

        mutating func skipWhitespace() {
            while let c = peek, c == " " || c == "\t" { advance() }
        }

        mutating func key() throws(ConfigError) -> [String] {
            var parts = [String]()
            repeat {
                skipWhitespace()
                if peek == "\"" {
                    parts.append(try basicString())
                } else {
                    var part = ""
                    while let c = peek, c.isLetter || c.isNumber || c == "_" || c == "-" {
                        part.append(c)
                        advance()
                    }
                    guard !part.isEmpty else { throw error("expected a key") }
                    parts.append(part)
                }
                skipWhitespace()
            } while consume(".")
            return parts
        }

        mutating func consume(_ c: Character) -> Bool {
            guard peek == c else { return false }
            advance()
            return true
        }

        mutating func value(depth: Int = 1) throws(ConfigError) -> ConfigValue {
            guard let c = peek else { throw error("expected a value") }
            switch c {
            case "\"":
                if chars[index...].starts(with: ["\"", "\"", "\""]) {
                    throw error("multi-line strings are not supported")
                }
                return .string(try basicString())
            case "'":
                if chars[index...].starts(with: ["'", "'", "'"]) {
                    throw error("multi-line strings are not supported")
                }
                advance()
                var text = ""
                while let c = peek, c != "'" {
                    try checkAllowedInString(c)
                    text.append(c)
                    advance()
                }
                guard consume("'") else { throw error("unterminated string") }
                return .string(text)
            case "[":
                guard depth <= TOMLParser.maxArrayDepth else {
                    throw error("arrays nested more than \(TOMLParser.maxArrayDepth) deep")
                }
                advance()
                var items = [ConfigValue]()
                skipWhitespace()
                while !consume("]") {
                    items.append(try value(depth: depth + 1))
                    skipWhitespace()
                    if consume(",") {
                        skipWhitespace()
                        continue
                    }
                    skipWhitespace()
                    guard consume("]") else {
                        throw error("expected , or ] in the array (arrays must fit on one line)")
                    }
                    break
                }
                return .array(items)
            default:
                let start = index
                var token = ""
                while let c = peek, !(c == " " || c == "\t" || c == "," || c == "]" || c == "#") {
                    token.append(c)
                    advance()
                }
                if token == "true" { return .bool(true) }
                if token == "false" { return .bool(false) }
                let digits = token.replacingOccurrences(of: "_", with: "")
                if let integer = Int(digits) { return .integer(integer) }
                if let float = Double(digits), digits.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
                    return .float(float)
                }
                index = start  // point at the value, not past it
                throw error("cannot read \(token.isEmpty ? "the value" : "'\(token)'") (strings need quotes)")
            }
        }

        mutating func basicString() throws(ConfigError) -> String {
            advance()  // opening quote
            var text = ""
            while let c = peek {
                advance()
                switch c {
                case "\"": return text
                case "\\":
                    guard let escaped = peek else { break }
                    advance()
                    switch escaped {
                    case "\"": text.append("\"")
                    case "\\": text.append("\\")
                    case "n": text.append("\n")
                    case "t": text.append("\t")
                    case "r": text.append("\r")
                    case "u", "U":
                        let width = escaped == "u" ? 4 : 8
                        guard index + width <= chars.count,
                            let scalarValue = UInt32(String(chars[index..<index + width]), radix: 16),
                            let scalar = Unicode.Scalar(scalarValue)
                        else { throw error("invalid \\\(escaped) escape") }
                        text.unicodeScalars.append(scalar)
                        index += width
                    default: throw error("invalid escape \\\(escaped)")
                    }
                default:
                    try checkAllowedInString(c, behind: 1)
                    text.append(c)
                }
            }
            throw error("unterminated string")
        }

        /// TOML allows no control character but tab in a string, raw (U+0000–U+0008, U+000A–U+001F, U+007F).
        /// `behind`: how far the cursor already is past `c`, so the column named is the character's.
        func checkAllowedInString(_ c: Character, behind: Int = 0) throws(ConfigError) {
            guard let scalar = c.unicodeScalars.first(where: { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F })
            else { return }
            throw ConfigError(
                file: file, line: line, column: index + 1 - behind, key: nil,
                message: "control character \(Self.codePoint(scalar)) in a string (write it as an escape)")
        }

        static func codePoint(_ scalar: Unicode.Scalar) -> String {
            let hex = String(scalar.value, radix: 16, uppercase: true)
            return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        }
    }
}

/// A configuration problem, naming where it is: file and line, or the environment variable.
public struct ConfigError: Error, Sendable, CustomStringConvertible, Equatable {
    public var file: String?
    public var line: Int?
    public var column: Int?
    public var environmentVariable: String?
    public var key: String?
    public var message: String

    public init(
        file: String? = nil, line: Int? = nil, column: Int? = nil, environmentVariable: String? = nil,
        key: String?, message: String
    ) {
        self.file = file
        self.line = line
        self.column = column
        self.environmentVariable = environmentVariable
        self.key = key
        self.message = message
    }

    /// Printed on a terminal: the file's own text (a token, a key) is quoted in messages, so it goes
    /// through `TerminalText.sanitized`.
    public var description: String {
        var place: String
        if let environmentVariable {
            place = "environment variable \(environmentVariable)"
        } else if let file {
            place = file
            if let line { place += ":\(line)" }
            if let column { place += ":\(column)" }
        } else {
            place = "configuration"
        }
        if let key { place += " (\(key))" }
        return TerminalText.sanitized("\(place): \(message)")
    }
}
