/// A statement and its parameters, injection-safe by construction: every interpolated value becomes a
/// `$n` parameter, never text in the statement.
///
///     let rows = try await pool.query("SELECT id FROM onboarder.tenants WHERE name = \(name)")
///
/// SQL text that is not a literal goes in only through the loudly named `unsafeSQL` entry points.
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public private(set) var sql: String
    public private(set) var binds: [PostgresBind]

    /// Takes `sql` verbatim. The caller vouches that no untrusted text was formatted into it.
    public init(unsafeSQL sql: String, binds: [PostgresBind] = []) {
        self.sql = sql
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.sql, binds: stringInterpolation.binds)
    }

    /// The statement text only: parameter values are never printed (they may be secrets).
    public var description: String { sql }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [PostgresBind] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// Binds `value` as the next `$n` parameter.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value) {
            binds.append(PostgresBind(type: Value.postgresType, value: value.postgresValue))
            sql += "$\(binds.count)"
        }

        /// Binds `value` as the next `$n` parameter, NULL when nil.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            binds.append(PostgresBind(type: Value.postgresType, value: value.postgresValue))
            sql += "$\(binds.count)"
        }

        /// Inserts an identifier (table, column, channel name), double-quoted and escaped.
        public mutating func appendInterpolation(identifier: String) {
            sql += PostgresQuery.quoteIdentifier(identifier)
        }

        /// Inserts raw SQL text. The caller vouches that it holds no untrusted input.
        public mutating func appendInterpolation(unsafeSQL text: String) {
            sql += text
        }

        /// Inserts a piece of statement built elsewhere: its values become parameters numbered from here.
        public mutating func appendInterpolation(_ fragment: PostgresFragment) {
            for part in fragment.parts {
                switch part {
                case .sql(let text): sql += text
                case .bind(let bind):
                    binds.append(bind)
                    sql += "$\(binds.count)"
                }
            }
        }
    }

    /// `"name"` with embedded quotes doubled, as `quote_ident` does.
    public static func quoteIdentifier(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// A piece of a statement with its values, written like a `PostgresQuery` and interpolated into one
/// (`"WITH i AS (\(upsert)) ..."`): one piece of SQL shared by the statements that need it, its values
/// numbered where it lands. Empty (`""`) adds nothing.
public struct PostgresFragment: Sendable, ExpressibleByStringInterpolation {
    enum Part: Sendable {
        case sql(String)
        case bind(PostgresBind)
    }
    var parts: [Part]

    public init(stringLiteral value: String) {
        parts = value.isEmpty ? [] : [.sql(value)]
    }

    public init(stringInterpolation: StringInterpolation) {
        parts = stringInterpolation.parts
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var parts: [Part] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            parts.reserveCapacity(interpolationCount * 2 + 1)
        }

        public mutating func appendLiteral(_ literal: String) {
            if !literal.isEmpty { parts.append(.sql(literal)) }
        }

        /// Binds `value` as a parameter.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value) {
            parts.append(.bind(PostgresBind(type: Value.postgresType, value: value.postgresValue)))
        }

        /// Binds `value` as a parameter, NULL when nil.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            parts.append(.bind(PostgresBind(type: Value.postgresType, value: value.postgresValue)))
        }

        /// Inserts raw SQL text. The caller vouches that it holds no untrusted input.
        public mutating func appendInterpolation(unsafeSQL text: String) {
            parts.append(.sql(text))
        }

        /// Inserts another fragment.
        public mutating func appendInterpolation(_ fragment: PostgresFragment) {
            parts += fragment.parts
        }
    }
}
