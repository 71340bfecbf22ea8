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
    }

    /// `"name"` with embedded quotes doubled, as `quote_ident` does.
    public static func quoteIdentifier(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
