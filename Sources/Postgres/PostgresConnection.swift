import CLibPQ
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// How to reach the database.
///
/// `connectionString` is a libpq URI (`postgresql://user@host:5432/db?sslmode=verify-full`) or keyword
/// string (`host=… dbname=…`). Anything it leaves out comes from libpq's own environment (`PGHOST`,
/// `PGPORT`, `PGUSER`, `PGDATABASE`, `PGPASSWORD`, `PGSSLMODE`, `PGPASSFILE`, …) and defaults, exactly as
/// for `psql`. Prefer `PGPASSWORD` or a `.pgpass` file over a password in the URI.
public struct PostgresConfiguration: Sendable {
    public var connectionString: String?
    /// Sent as `fallback_application_name`: visible in `pg_stat_activity`, overridable by `PGAPPNAME`.
    public var applicationName: String
    /// Seconds; used unless `PGCONNECT_TIMEOUT` or the connection string sets one.
    public var connectTimeout: Int

    /// Where the server's notices and warnings go (instead of libpq's default, raw text on stderr).
    public var logger: Logger

    public init(
        connectionString: String? = nil, applicationName: String = "onboarder", connectTimeout: Int = 10,
        logger: Logger = Logger(label: "onboarder.postgres")
    ) {
        self.connectionString = connectionString
        self.applicationName = applicationName
        self.connectTimeout = connectTimeout
        self.logger = logger
    }
}

/// libpq calls shared by `PostgresConnection` and `PostgresListener`. Blocking: callers run them on
/// their own `BlockingThread` or dedicated thread.
enum LibPQ {
    /// Session settings that fix the text formats the decoders parse.
    static let sessionDefaults =
        "SET DateStyle = ISO; SET TimeZone = 'UTC'; SET IntervalStyle = iso_8601; SET extra_float_digits = 3; SET client_min_messages = warning"

    /// Opens a connection whose server notices go to `notices` (which must outlive the connection).
    static func connect(_ configuration: PostgresConfiguration, notices: NoticeSink) throws(PostgresError)
        -> OpaquePointer
    {
        // Keywords are processed in order and later ones win, so the connection string goes last: what
        // the operator wrote overrides our defaults. Keywords we leave out fall back to PG* variables.
        var pairs: [(String, String)] = [
            ("fallback_application_name", configuration.applicationName),
            ("client_encoding", "UTF8"),
        ]
        if ProcessInfo.processInfo.environment["PGCONNECT_TIMEOUT"] == nil {
            pairs.append(("connect_timeout", String(configuration.connectTimeout)))
        }
        if let connectionString = configuration.connectionString, !connectionString.isEmpty {
            pairs.append(("dbname", connectionString))
        }
        let keys = pairs.map { strdup($0.0) }
        let values = pairs.map { strdup($0.1) }
        defer {
            keys.forEach { free($0) }
            values.forEach { free($0) }
        }
        let keyPointers = keys.map { UnsafePointer($0) } + [nil]
        let valuePointers = values.map { UnsafePointer($0) } + [nil]
        guard let conn = PQconnectdbParams(keyPointers, valuePointers, 1) else {
            throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = errorMessage(conn)
            PQfinish(conn)
            throw PostgresError(code: .connectionFailed, message: message)
        }
        PQsetNoticeReceiver(
            conn,
            { context, result in
                guard let context, let result else { return }
                Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue().receive(result)
            }, Unmanaged.passUnretained(notices).toOpaque())
        do {
            try applySessionDefaults(conn)
        } catch {
            PQfinish(conn)
            throw error
        }
        return conn
    }

    static func applySessionDefaults(_ conn: OpaquePointer) throws(PostgresError) {
        let result = PQexec(conn, sessionDefaults)
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else { throw error(conn: conn, result: result, query: nil) }
    }

    /// Re-opens a broken connection with the same parameters.
    static func reset(_ conn: OpaquePointer) throws(PostgresError) {
        PQreset(conn)
        guard PQstatus(conn) == CONNECTION_OK else {
            throw PostgresError(code: .connectionFailed, message: errorMessage(conn))
        }
        try applySessionDefaults(conn)
    }

    /// Whether an idle connection is still usable, without a round trip. Input on an idle connection is
    /// either a notification or the server saying goodbye (restart, failover, `pg_terminate_backend`: a
    /// FATAL message, then EOF, which may not have arrived yet). Anything but notifications counts as dead.
    static func isHealthy(_ conn: OpaquePointer) -> Bool {
        guard PQstatus(conn) == CONNECTION_OK else { return false }
        var descriptor = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, 0) > 0 else { return true }
        if PQconsumeInput(conn) == 0 { return false }
        var notifications = 0
        while let notification = PQnotifies(conn) {  // stale on a pooled connection: drop
            PQfreemem(notification)
            notifications += 1
        }
        return notifications > 0 && PQstatus(conn) == CONNECTION_OK
    }

    static func errorMessage(_ conn: OpaquePointer) -> String {
        String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Turns a failed result into a `PostgresError` with the server's diagnostic fields.
    static func error(conn: OpaquePointer, result: OpaquePointer?, query: String?) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let result, let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let connectionBroken = PQstatus(conn) != CONNECTION_OK
        let message = field("M") ?? errorMessage(conn)
        var error = PostgresError(code: connectionBroken ? .connectionClosed : .server, message: message)
        error.sqlState = field("C")
        if !connectionBroken && error.sqlState == nil { error.code = .unexpectedResponse }
        if error.sqlState == SQLState.adminShutdown { error.code = .connectionClosed }
        error.severity = field("V")
        error.detail = field("D")
        error.hint = field("H")
        error.position = field("P").flatMap { Int($0) }
        error.schemaName = field("s")
        error.tableName = field("t")
        error.columnName = field("c")
        error.constraintName = field("n")
        error.query = query
        return error
    }

    /// Copies a result out of libpq.
    static func rows(conn: OpaquePointer, result: OpaquePointer?, query: String) throws(PostgresError) -> PostgresRows {
        guard let result else { throw error(conn: conn, result: nil, query: query) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            break
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            throw PostgresError(code: .unexpectedResponse, message: "COPY is not supported through query()")
        default:
            throw error(conn: conn, result: result, query: query)
        }
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        var columns = [PostgresColumn]()
        columns.reserveCapacity(columnCount)
        for column in 0..<columnCount {
            columns.append(
                PostgresColumn(
                    name: String(cString: PQfname(result, Int32(column))),
                    type: PostgresType(oid: UInt32(PQftype(result, Int32(column))))))
        }
        var values = [String?]()
        values.reserveCapacity(rowCount * columnCount)
        for row in 0..<Int32(rowCount) {
            for column in 0..<Int32(columnCount) {
                if PQgetisnull(result, row, column) == 1 {
                    values.append(nil)
                } else {
                    let length = Int(PQgetlength(result, row, column))
                    let bytes = UnsafeRawBufferPointer(start: PQgetvalue(result, row, column), count: length)
                    values.append(String(decoding: bytes, as: UTF8.self))
                }
            }
        }
        let tag = String(cString: PQcmdStatus(result))
        let affected = Int(String(cString: PQcmdTuples(result))) ?? rowCount
        return PostgresRows(columns: columns, values: values, commandTag: tag, affectedRows: affected)
    }
}

/// Receives the server's notices and warnings (libpq's notice receiver) and logs them.
/// Sendable: immutable.
final class NoticeSink: Sendable {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }

    func receive(_ result: OpaquePointer) {
        func field(_ code: Character) -> String? {
            PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
        }
        let severity = field("V") ?? "NOTICE"
        let level: Logger.Level =
            severity == "WARNING" || severity == "FATAL" || severity == "PANIC" ? .warning : .notice
        logger.log(
            level: level, "postgres server message",
            metadata: [
                "postgres.severity": "\(severity)", "postgres.sqlstate": "\(field("C") ?? "")",
                "postgres.message": "\(field("M") ?? "")",
            ])
    }
}

/// One libpq connection.
///
/// Every libpq call for it runs on the connection's own `BlockingThread` (a dedicated OS thread, never
/// Swift's cooperative pool): async callers suspend, the thread blocks in libpq. Calls from several tasks
/// are serialised in arrival order, but interleaving statements of different logical transactions is the
/// caller's problem: check connections out of a `PostgresPool` so each has one user at a time.
///
/// Sendable: the libpq handle is touched on the connection's thread; outside it only where no job can be
/// pending — in `deinit` (every job holds a strong reference) and by the pool between two users
/// (`prepareForUse`, `cleanUpAfterUse`, which look without blocking).
public final class PostgresConnection: @unchecked Sendable {
    public let configuration: PostgresConfiguration
    private let thread: BlockingThread
    private var raw: OpaquePointer?  // on `thread`; read between users by the pool (see prepareForUse)
    private let notices: NoticeSink
    /// Statements prepared on this session; confined to `thread`, emptied whenever the session is new.
    private var statements = PreparedStatements()

    private init(configuration: PostgresConfiguration) {
        self.configuration = configuration
        self.thread = BlockingThread(name: "onboarder.postgres")
        self.notices = NoticeSink(logger: configuration.logger)
    }

    deinit {
        if let raw { PQfinish(raw) }
        thread.stop()
    }

    /// Opens a connection (on its own thread: connecting blocks for DNS, TCP, TLS and authentication).
    public static func connect(_ configuration: PostgresConfiguration) async throws(PostgresError) -> PostgresConnection
    {
        let connection = PostgresConnection(configuration: configuration)
        try await connection.onThread { () throws(PostgresError) in
            connection.raw = try LibPQ.connect(configuration, notices: connection.notices)
        }
        return connection
    }

    /// Runs a statement and returns its rows.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws(PostgresError) -> PostgresRows {
        try await onThread { () throws(PostgresError) in try self.run(query) }
    }

    /// Runs several `;`-separated statements with no parameters (migration files). Runs them in one
    /// implicit transaction unless the text has its own BEGIN/COMMIT.
    public func executeScript(unsafeSQL script: String) async throws(PostgresError) {
        try await onThread { () throws(PostgresError) in
            let conn = try self.handle()
            let result = PQexec(conn, script)
            defer { PQclear(result) }
            _ = try LibPQ.rows(conn: conn, result: result, query: "(script)")
        }
    }

    /// Runs `body` inside BEGIN … COMMIT, rolling back if it throws (the error is rethrown).
    ///
    /// On a connection already inside a transaction, `body` joins it: a nested BEGIN would only warn, and the
    /// inner COMMIT would commit the caller's work early. The outermost `transaction` commits or rolls back all.
    @discardableResult
    public func transaction<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        guard try await beginUnlessInTransaction() else { return try await body(self) }
        let value: T
        do {
            value = try await body(self)
        } catch {
            // A broken connection has no transaction left to roll back.
            _ = try? await query("ROLLBACK")
            throw error
        }
        // COMMIT of a transaction that had a failed statement (one the body caught and ignored) "succeeds"
        // with the tag ROLLBACK: nothing was committed, and the caller must not believe otherwise.
        let commit = try await query("COMMIT")
        if commit.commandTag == "ROLLBACK" {
            var error = PostgresError(
                code: .server, message: "the transaction was rolled back: a statement in it failed earlier")
            error.sqlState = "25P02"  // in_failed_sql_transaction
            throw error
        }
        return value
    }

    /// Whether a transaction is open on this connection (libpq's own record: no round trip).
    public func isInTransaction() async throws(PostgresError) -> Bool {
        try await onThread { () throws(PostgresError) in Self.inTransaction(try self.handle()) }
    }

    /// BEGIN, unless a transaction is already open (then false: the caller joins it). One hop to the
    /// connection's thread for both, since every `transaction` — the worker's completions among them — pays it.
    private func beginUnlessInTransaction() async throws(PostgresError) -> Bool {
        try await onThread { () throws(PostgresError) in
            let conn = try self.handle()
            if Self.inTransaction(conn) { return false }
            _ = try self.run("BEGIN")
            return true
        }
    }

    private static func inTransaction(_ conn: OpaquePointer) -> Bool {
        let status = PQtransactionStatus(conn)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    /// Sends a notification on `channel` (delivered when the surrounding transaction commits).
    public func notify(channel: String, payload: String = "") async throws(PostgresError) {
        try await query("SELECT pg_notify(\(channel), \(payload))")
    }

    /// Closes the connection. Later calls fail with `connectionClosed`.
    public func close() async {
        _ = try? await onThread { () throws(PostgresError) in
            if let raw = self.raw { PQfinish(raw) }
            self.raw = nil
            self.statements = PreparedStatements()
        }
    }

    // MARK: Pool support

    // The pool calls these two between users, when none of the connection's jobs is pending (a job resumes the
    // task that submitted it as its last act, and a pooled connection's user is done with it when it is checked
    // in; a connection kept past `withConnection` would break this): the last job's effects are visible to
    // whichever task holds the connection now.
    // They look at libpq's state without blocking (`PQstatus`, `PQtransactionStatus`; `isHealthy` polls the
    // socket with no timeout and may consume what the server sent, logging a notice) from that task, and hop to
    // the connection's thread only to talk to the server. Each hop is a wake-up of that thread and of the task
    // again: with a hop for each, a one-statement `pool.query` cost three instead of one (issue 23, BENCHMARKS.md).

    /// Makes a pooled connection ready for its next user: reconnects if the server closed it (restart,
    /// failover, idle timeout). Throws `connectionFailed` when the server cannot be reached.
    func prepareForUse() async throws(PostgresError) {
        if let raw, LibPQ.isHealthy(raw) { return }
        // Found dead (or never opened): reopened without looking again — the look above may have consumed the
        // server's goodbye, and a second one, before the socket's end arrives, would find it healthy.
        try await onThread { () throws(PostgresError) in
            self.statements = PreparedStatements()  // a new session: the server forgot them
            guard let raw = self.raw else {
                self.raw = try LibPQ.connect(self.configuration, notices: self.notices)
                return
            }
            try LibPQ.reset(raw)
        }
    }

    /// Ends whatever transaction a previous user left open. Returns false if the connection is unusable.
    func cleanUpAfterUse() async -> Bool {
        guard let raw, PQstatus(raw) == CONNECTION_OK else { return false }
        switch PQtransactionStatus(raw) {
        case PQTRANS_IDLE: return true
        case PQTRANS_INTRANS, PQTRANS_INERROR:
            let rolledBack: Void? = try? await onThread { () throws(PostgresError) in _ = try self.run("ROLLBACK") }
            return rolledBack != nil
        default: return false
        }
    }

    /// How many jobs the connection has handed to its thread (tests count the pool's hops with it).
    var hopsToItsThread: Int { thread.jobsSubmitted }

    // MARK: Thread confinement

    private func onThread<T: Sendable>(_ body: @escaping @Sendable () throws(PostgresError) -> T)
        async throws(PostgresError) -> T
    {
        do {
            return try await thread.run { try body() }
        } catch let error as PostgresError {
            throw error
        } catch {
            throw PostgresError(code: .unexpectedResponse, message: "\(error)")
        }
    }

    private func handle() throws(PostgresError) -> OpaquePointer {
        guard let raw else { throw PostgresError(code: .connectionClosed, message: "the connection is closed") }
        return raw
    }

    /// Binds and runs one statement. On the connection's thread only.
    private func run(_ query: PostgresQuery) throws(PostgresError) -> PostgresRows {
        let conn = try handle()
        let binds = query.binds
        let types = binds.map { Oid($0.type.oid) }
        var formats = [Int32]()
        var lengths = [Int32]()
        var buffers = [UnsafeMutablePointer<CChar>?]()
        formats.reserveCapacity(binds.count)
        lengths.reserveCapacity(binds.count)
        buffers.reserveCapacity(binds.count)
        defer { buffers.forEach { free($0) } }
        for bind in binds {
            switch bind.value {
            case .null:
                buffers.append(nil)
                lengths.append(0)
                formats.append(0)
            case .text(let text):
                buffers.append(strdup(text))
                lengths.append(0)
                formats.append(0)
            case .binary(let bytes):
                // malloc, like strdup above: every buffer is released with free().
                let buffer = malloc(max(bytes.count, 1))!.assumingMemoryBound(to: CChar.self)
                bytes.withUnsafeBytes { source in
                    if let base = source.baseAddress {
                        UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: bytes.count)
                    }
                }
                buffers.append(buffer)
                lengths.append(Int32(bytes.count))
                formats.append(1)
            }
        }
        let values = buffers.map { UnsafePointer($0) }
        let key = PreparedStatements.Key(sql: query.sql, types: types)
        guard let name = try statement(key, on: conn) else {
            let result = PQexecParams(conn, query.sql, Int32(binds.count), types, values, lengths, formats, 0)
            defer { PQclear(result) }
            return try LibPQ.rows(conn: conn, result: result, query: query.sql)
        }
        let wasIdle = PQtransactionStatus(conn) == PQTRANS_IDLE
        let result = PQexecPrepared(conn, name, Int32(binds.count), values, lengths, formats, 0)
        defer { PQclear(result) }
        do {
            return try LibPQ.rows(conn: conn, result: result, query: query.sql)
        } catch let error where error.sqlState == "0A000" && error.message.contains("cached plan") {
            // The statement's result type changed under it (a migration replaced a function or view): the
            // server refuses the old plan. Prepared again; run again only when the failure ended no transaction.
            statements.forget(key)
            guard wasIdle, PQtransactionStatus(conn) == PQTRANS_IDLE else { throw error }
            return try run(query)
        }
    }

    /// The name `key` is prepared under on this session, preparing it now if it is new; nil when the session holds
    /// as many as it keeps (the statement then runs unprepared). Each statement is parsed and analysed once per
    /// session, and the server may keep its plan: `scripts/bench e2e` found parsing and planning to be about
    /// 40 % of PostgreSQL's CPU when every statement was sent afresh.
    private func statement(_ key: PreparedStatements.Key, on conn: OpaquePointer) throws(PostgresError) -> String? {
        if let name = statements.names[key] { return name }
        guard statements.names.count < PreparedStatements.limit else { return nil }
        let name = "onboarder_\(statements.names.count + statements.forgotten)"
        let result = PQprepare(conn, name, key.sql, Int32(key.types.count), key.types)
        defer { PQclear(result) }
        _ = try LibPQ.rows(conn: conn, result: result, query: key.sql)
        statements.names[key] = name
        return name
    }
}

/// The statements a session has prepared, by their text and parameter types.
struct PreparedStatements {
    struct Key: Hashable {
        let sql: String
        let types: [Oid]
    }
    /// Statements a session keeps prepared. The product's statements are a few hundred call sites; a caller that
    /// builds statements with values in their text (`unsafeSQL`) runs its statements unprepared beyond this.
    static let limit = 1_000
    var names: [Key: String] = [:]
    /// Names given out and forgotten since (never reused: the server may still hold them).
    var forgotten = 0

    mutating func forget(_ key: Key) {
        if names.removeValue(forKey: key) != nil { forgotten += 1 }
    }
}

/// Reports libpq's version, e.g. for `onboarder version`.
public enum PostgresLibrary {
    public static var version: String {
        let number = Int(PQlibVersion())
        return "\(number / 10000).\(number % 10000)"
    }
}
