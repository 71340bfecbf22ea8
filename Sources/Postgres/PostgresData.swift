import Foundation

/// A PostgreSQL type, by OID (`pg_type.oid`). Only the types the project binds or decodes have names here.
public struct PostgresType: Hashable, Sendable, CustomStringConvertible {
    public let oid: UInt32
    public init(oid: UInt32) { self.oid = oid }

    /// Lets the server infer the parameter's type from context.
    public static let unspecified = PostgresType(oid: 0)
    public static let bool = PostgresType(oid: 16)
    public static let bytea = PostgresType(oid: 17)
    public static let int8 = PostgresType(oid: 20)
    public static let int2 = PostgresType(oid: 21)
    public static let int4 = PostgresType(oid: 23)
    public static let text = PostgresType(oid: 25)
    public static let json = PostgresType(oid: 114)
    public static let float8 = PostgresType(oid: 701)
    public static let int8Array = PostgresType(oid: 1016)
    public static let boolArray = PostgresType(oid: 1000)
    public static let timestamptzArray = PostgresType(oid: 1185)
    public static let textArray = PostgresType(oid: 1009)
    public static let varchar = PostgresType(oid: 1043)
    public static let timestamp = PostgresType(oid: 1114)
    public static let timestamptz = PostgresType(oid: 1184)
    public static let interval = PostgresType(oid: 1186)
    public static let uuid = PostgresType(oid: 2950)
    public static let uuidArray = PostgresType(oid: 2951)
    public static let jsonb = PostgresType(oid: 3802)

    public var description: String {
        switch self {
        case .bool: "bool"
        case .bytea: "bytea"
        case .int8: "int8"
        case .int2: "int2"
        case .int4: "int4"
        case .text: "text"
        case .json: "json"
        case .float8: "float8"
        case .int8Array: "int8[]"
        case .boolArray: "bool[]"
        case .timestamptzArray: "timestamptz[]"
        case .textArray: "text[]"
        case .varchar: "varchar"
        case .timestamp: "timestamp"
        case .timestamptz: "timestamptz"
        case .interval: "interval"
        case .uuid: "uuid"
        case .uuidArray: "uuid[]"
        case .jsonb: "jsonb"
        default: "oid \(oid)"
        }
    }
}

/// One bound query parameter: its type and its value in libpq's text or binary format.
public struct PostgresBind: Sendable {
    public enum Value: Sendable, Equatable {
        case null
        case text(String)
        case binary([UInt8])
    }
    public var type: PostgresType
    public var value: Value
    public init(type: PostgresType, value: Value) {
        self.type = type
        self.value = value
    }
}

/// A Swift value that can be sent as a query parameter.
public protocol PostgresEncodable: Sendable {
    static var postgresType: PostgresType { get }
    var postgresValue: PostgresBind.Value { get }
}

/// A Swift value that can be decoded from a result column (text format, as the server sends it with the
/// session settings `PostgresConnection` fixes: `DateStyle=ISO`, `TimeZone=UTC`, `IntervalStyle=iso_8601`).
public protocol PostgresDecodable: Sendable {
    init(postgresText text: String, type: PostgresType) throws(PostgresError)
    /// The value for SQL NULL; non-optional types throw.
    static func postgresNull(column: String) throws(PostgresError) -> Self
}

extension PostgresDecodable {
    public static func postgresNull(column: String) throws(PostgresError) -> Self {
        throw PostgresError(code: .decoding, message: "column \"\(column)\" is NULL; decode it as \(Self.self)?")
    }
}

func decodingError<T>(_ type: T.Type, from pgType: PostgresType) -> PostgresError {
    // The value itself is left out: it may be a secret.
    PostgresError(code: .decoding, message: "cannot decode a \(pgType) value as \(T.self)")
}

// MARK: - Optional (NULL)

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public static var postgresType: PostgresType { Wrapped.postgresType }
    public var postgresValue: PostgresBind.Value {
        switch self {
        case .none: .null
        case .some(let wrapped): wrapped.postgresValue
        }
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresText text: String, type: PostgresType) throws(PostgresError) {
        self = .some(try Wrapped(postgresText: text, type: type))
    }
    public static func postgresNull(column: String) throws(PostgresError) -> Self { .none }
}

// MARK: - Scalars

extension String: PostgresEncodable, PostgresDecodable {
    public static var postgresType: PostgresType { .text }
    public var postgresValue: PostgresBind.Value { .text(self) }
    public init(postgresText text: String, type: PostgresType) { self = text }
}

extension Bool: PostgresEncodable, PostgresDecodable {
    public static var postgresType: PostgresType { .bool }
    public var postgresValue: PostgresBind.Value { .text(self ? "t" : "f") }
    public init(postgresText text: String, type: PostgresType) throws(PostgresError) {
        switch text {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw decodingError(Bool.self, from: type)
        }
    }
}

/// Integers bind as the matching PostgreSQL width (`Int` as `int8`) and decode from any integer column
/// whose value fits.
public protocol PostgresInteger: FixedWidthInteger & PostgresEncodable & PostgresDecodable {}

extension PostgresInteger {
    public var postgresValue: PostgresBind.Value { .text(String(self)) }
    public init(postgresText text: String, type: PostgresType) throws(PostgresError) {
        guard let value = Self(text) else { throw decodingError(Self.self, from: type) }
        self = value
    }
}

extension Int: PostgresInteger { public static var postgresType: PostgresType { .int8 } }
extension Int64: PostgresInteger { public static var postgresType: PostgresType { .int8 } }
extension Int32: PostgresInteger { public static var postgresType: PostgresType { .int4 } }
extension Int16: PostgresInteger { public static var postgresType: PostgresType { .int2 } }

extension Double: PostgresEncodable, PostgresDecodable {
    public static var postgresType: PostgresType { .float8 }
    public var postgresValue: PostgresBind.Value {
        if isNaN { return .text("NaN") }
        if isInfinite { return .text(self > 0 ? "Infinity" : "-Infinity") }
        return .text("\(self)")
    }
    public init(postgresText text: String, type: PostgresType) throws(PostgresError) {
        guard let value = Double(text) else { throw decodingError(Double.self, from: type) }
        self = value
    }
}

extension UUID: PostgresEncodable, PostgresDecodable {
    public static var postgresType: PostgresType { .uuid }
    public var postgresValue: PostgresBind.Value { .text(uuidString.lowercased()) }
    public init(postgresText text: String, type: PostgresType) throws(PostgresError) {
        guard let value = UUID(uuidString: text) else { throw decodingError(UUID.self, from: type) }
        self = value
    }
}

/// `bytea`: sent in binary format (no escaping), received as the server's hex text (`\x…`).
extension Data: PostgresEncodable, PostgresDecodable {
    public static var postgresType: PostgresType { .bytea }
    public var postgresValue: PostgresBind.Value { .binary([UInt8](self)) }
    public init(postgresText text: String, type: PostgresType) throws(PostgresError) {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else {
            throw decodingError(Data.self, from: type)
        }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity((utf8.count - 2) / 2)
        var index = 2
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else {
                throw decodingError(Data.self, from: type)
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        self = Data(bytes)
    }
}

// MARK: - jsonb

/// A `jsonb` value, kept as JSON text. Build it from any `Encodable`, decode it into any `Decodable`.
public struct PostgresJSON: PostgresEncodable, PostgresDecodable, Hashable {
    public var text: String
    public init(text: String) { self.text = text }
    public init<T: Encodable>(encoding value: T, encoder: JSONEncoder = JSONEncoder()) throws {
        self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
    }
    public func decode<T: Decodable>(_ type: T.Type = T.self, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(T.self, from: Data(text.utf8))
    }
    public static var postgresType: PostgresType { .jsonb }
    public var postgresValue: PostgresBind.Value { .text(text) }
    public init(postgresText text: String, type: PostgresType) { self.text = text }
}

// MARK: - Arrays

/// Element types that have a one-dimensional array type (`text[]`, `uuid[]`, `int8[]`).
public protocol PostgresArrayElement: PostgresEncodable, PostgresDecodable {
    static var postgresArrayType: PostgresType { get }
}
extension String: PostgresArrayElement { public static var postgresArrayType: PostgresType { .textArray } }
extension UUID: PostgresArrayElement { public static var postgresArrayType: PostgresType { .uuidArray } }
extension Int: PostgresArrayElement { public static var postgresArrayType: PostgresType { .int8Array } }
extension Int64: PostgresArrayElement { public static var postgresArrayType: PostgresType { .int8Array } }
extension Bool: PostgresArrayElement { public static var postgresArrayType: PostgresType { .boolArray } }
extension Date: PostgresArrayElement { public static var postgresArrayType: PostgresType { .timestamptzArray } }
/// Arrays with NULL elements (`[String?]` → `text[]`).
extension Optional: PostgresArrayElement where Wrapped: PostgresArrayElement {
    public static var postgresArrayType: PostgresType { Wrapped.postgresArrayType }
}

extension Array: PostgresEncodable where Element: PostgresArrayElement {
    public static var postgresType: PostgresType { Element.postgresArrayType }
    /// `{"a","b \"c\"",NULL}`, written byte by byte: a bulk enqueue sends arrays of megabytes, and appending
    /// Character by Character was a fifth of `onboarder enqueue`'s CPU. `"` and `\` are ASCII, and UTF-8 never
    /// uses their bytes inside another character, so escaping bytes escapes characters.
    public var postgresValue: PostgresBind.Value {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        var literal: [UInt8] = [UInt8(ascii: "{")]
        for (index, element) in enumerated() {
            if index > 0 { literal.append(UInt8(ascii: ",")) }
            guard case .text(let text) = element.postgresValue else {
                literal += "NULL".utf8  // .null; array elements are always text-format types
                continue
            }
            literal.append(quote)
            for byte in text.utf8 {
                if byte == quote || byte == backslash { literal.append(backslash) }
                literal.append(byte)
            }
            literal.append(quote)
        }
        literal.append(UInt8(ascii: "}"))
        return .text(String(decoding: literal, as: UTF8.self))
    }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement {
    public init(postgresText text: String, type: PostgresType) throws(PostgresError) {
        guard let items = PostgresArrayLiteral.parse(text) else { throw decodingError([Element].self, from: type) }
        var result = [Element]()
        result.reserveCapacity(items.count)
        for item in items {
            guard let item else {
                result.append(try Element.postgresNull(column: "array element"))
                continue
            }
            result.append(try Element(postgresText: item, type: type))
        }
        self = result
    }
}

/// Parses a one-dimensional array in PostgreSQL's text output format: `{a,"b c",NULL,"d\"e"}`.
enum PostgresArrayLiteral {
    static func parse(_ text: String) -> [String?]? {
        var chars = Substring(text)
        // An explicit lower bound ("[0:2]={…}") precedes the braces when it is not 1.
        if chars.first == "[", let equals = chars.firstIndex(of: "=") { chars = chars[chars.index(after: equals)...] }
        guard chars.first == "{", chars.last == "}" else { return nil }
        chars = chars.dropFirst().dropLast()
        if chars.isEmpty { return [] }
        var items = [String?]()
        var iterator = chars.makeIterator()
        var current = ""
        var quoted = false
        var wasQuoted = false
        var escaped = false
        while let c = iterator.next() {
            if escaped {
                current.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if quoted {
                if c == "\"" { quoted = false } else { current.append(c) }
            } else if c == "\"" {
                quoted = true
                wasQuoted = true
            } else if c == "{" {
                return nil  // multidimensional arrays are not supported
            } else if c == "," {
                items.append(wasQuoted || current.uppercased() != "NULL" ? current : nil)
                current = ""
                wasQuoted = false
            } else {
                current.append(c)
            }
        }
        guard !quoted, !escaped else { return nil }
        items.append(wasQuoted || current.uppercased() != "NULL" ? current : nil)
        return items
    }
}
