import Postgres

/// One schema migration file, `NNNN_name.sql`.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    /// The path it was read from, as given (for messages).
    public let path: String
    public let sql: String
    /// SHA-256 of the file's bytes, hex.
    public let checksum: String
}

/// One file of `sql/functions`, `NN_concern.sql`: functions and views with one live definition each,
/// applied again whenever the file's checksum changes.
public struct FunctionFile: Sendable, Equatable {
    /// The file name (`20_enqueue.sql`): its key in `onboarder.schema_functions`.
    public let name: String
    public let path: String
    public let sql: String
    /// SHA-256 of the file's bytes, hex.
    public let checksum: String
}

/// A migration problem, worded for the operator who ran `onboarder migrate`.
public struct MigrationError: Error, Sendable, CustomStringConvertible {
    public let message: String
    /// The server's error, when a migration's SQL failed.
    public let underlying: PostgresError?
    public init(_ message: String, underlying: PostgresError? = nil) {
        self.message = message
        self.underlying = underlying
    }
    public var description: String { message }
}

/// What `migrate` did.
public struct MigrationReport: Sendable {
    public var applied: [Migration] = []
    public var alreadyApplied: [Migration] = []
    /// Versions the database has that this build does not know (a newer build migrated it).
    public var unknownVersions: [Int] = []
    /// Function files applied this run (new, or changed since they were last applied).
    public var functionsApplied: [FunctionFile] = []
    /// Function files whose recorded checksum is the file's: not run again.
    public var functionsUnchanged: [FunctionFile] = []
}
