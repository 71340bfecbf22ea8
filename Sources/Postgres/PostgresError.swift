/// Every failure of the Postgres layer: connection problems, server errors (with their SQLSTATE and the
/// server's diagnostic fields), and values that cannot be decoded into the requested Swift type.
///
/// `description` is safe for logs: it never includes `detail`, which can quote row values
/// ("Key (name)=(…) already exists"); `debugDescription` has everything.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What kind of failure this is. Extensible: switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Could not open a connection (server down, bad credentials, unknown database, …).
        public static let connectionFailed = Code("connection failed")
        /// The connection broke during or before the call; the server may or may not have run the statement.
        public static let connectionClosed = Code("connection closed")
        /// The server answered with an error; see `sqlState`.
        public static let server = Code("server error")
        /// A value could not be decoded into the requested Swift type, or a column is missing.
        public static let decoding = Code("decoding error")
        /// The server answered something the caller did not ask for (e.g. COPY mode).
        public static let unexpectedResponse = Code("unexpected response")
        /// The pool or listener was shut down.
        public static let shutdown = Code("shut down")
    }

    public var code: Code
    public var message: String
    /// The five-character SQLSTATE, e.g. `23505` for a unique violation.
    public var sqlState: String?
    public var severity: String?
    public var detail: String?
    public var hint: String?
    /// 1-based character position of the error in the statement text (syntax errors).
    public var position: Int?
    public var schemaName: String?
    public var tableName: String?
    public var columnName: String?
    public var constraintName: String?
    /// The statement text (never its parameter values), for `debugDescription`.
    public var query: String?

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var isUniqueViolation: Bool { sqlState == SQLState.uniqueViolation }
    /// True when the statement may not have reached the server or its outcome is unknown: retry on a new connection.
    public var isConnectionError: Bool { code == .connectionFailed || code == .connectionClosed }

    public var description: String {
        var text = "\(code)"
        if let sqlState { text += " \(sqlState)" }
        text += ": \(message)"
        if let constraintName { text += " (constraint \(constraintName))" }
        if let position { text += " at character \(position)" }
        return text
    }

    public var debugDescription: String {
        var text = description
        if let detail { text += "\ndetail: \(detail)" }
        if let hint { text += "\nhint: \(hint)" }
        if let tableName { text += "\ntable: \(schemaName.map { "\($0)." } ?? "")\(tableName)" }
        if let columnName { text += "\ncolumn: \(columnName)" }
        if let query { text += "\nquery: \(query)" }
        return text
    }
}

/// SQLSTATE codes the project acts on (https://www.postgresql.org/docs/current/errcodes-appendix.html).
public enum SQLState {
    public static let uniqueViolation = "23505"
    public static let foreignKeyViolation = "23503"
    public static let checkViolation = "23514"
    public static let notNullViolation = "23502"
    public static let serializationFailure = "40001"
    public static let deadlockDetected = "40P01"
    public static let syntaxError = "42601"
    public static let undefinedTable = "42P01"
    public static let lockNotAvailable = "55P03"
    public static let queryCanceled = "57014"
    public static let adminShutdown = "57P01"
    public static let cannotConnectNow = "57P03"
}
