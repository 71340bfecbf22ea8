import Crypto
import Foundation
import Logging
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
}

/// Applies `sql/migrations` in order, each file in its own transaction, recorded with its checksum in
/// `onboarder.schema_migrations`.
///
/// - Applying twice is a no-op.
/// - An applied file whose content changed is refused before anything runs: applied migrations are
///   history, a change goes in a new file.
/// - Any number of `migrate` runs at once (several hosts deploying together) are safe: each holds the
///   session advisory lock `Migrator.advisoryLockKey` for its whole run, so they apply one after another
///   and the later ones find nothing to do.
/// - Migration files must not contain BEGIN/COMMIT: the migrator wraps each one in a transaction, with
///   `search_path` set to `public` (qualify names: `onboarder.jobs`).
public struct Migrator: Sendable {
    /// `pg_advisory_lock` key: the ASCII bytes of "onbmigr8".
    public static let advisoryLockKey: Int64 = 0x6F6E_626D_6967_7238

    public let migrations: [Migration]

    public init(migrations: [Migration]) {
        self.migrations = migrations
    }

    /// Reads every `NNNN_name.sql` in `directory`, ordered by version. Any other `.sql` file, or two
    /// files with one version, is an error naming the files.
    public static func load(directory: String) throws(MigrationError) -> Migrator {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw MigrationError("cannot read the migrations folder \(directory): \(error.localizedDescription)")
        }
        var migrations = [Migration]()
        var problems = [String]()
        for name in names.sorted() where name.hasSuffix(".sql") {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let match = name.wholeMatch(of: /(\d{4,})_([A-Za-z0-9_]+)\.sql/), let version = Int(match.output.1)
            else {
                problems.append(
                    "\(path): migration files are named NNNN_name.sql (digits, underscore, letters/digits/underscores)")
                continue
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                problems.append("\(path): cannot read the file")
                continue
            }
            guard let sql = String(data: data, encoding: .utf8) else {
                problems.append("\(path): not UTF-8 text")
                continue
            }
            if let other = migrations.first(where: { $0.version == version }) {
                problems.append("\(path): version \(version) is also \(other.path)")
                continue
            }
            let checksum: String
            do { checksum = try Digest.sha256(data).hexString } catch { throw MigrationError("\(path): \(error)") }
            migrations.append(
                Migration(version: version, name: String(match.output.2), path: path, sql: sql, checksum: checksum))
        }
        guard problems.isEmpty else { throw MigrationError(problems.joined(separator: "\n")) }
        return Migrator(migrations: migrations.sorted { $0.version < $1.version })
    }

    /// The first folder that exists of: `configured` (when set, it must exist), the install location
    /// beside the binary (`<bin>/../share/onboarder/migrations`), and `./sql/migrations`.
    public static func locateDirectory(configured: String, executablePath: String = CommandLine.arguments[0])
        throws(MigrationError) -> String
    {
        var isDirectory: ObjCBool = false
        if !configured.isEmpty {
            guard FileManager.default.fileExists(atPath: configured, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                throw MigrationError("database.migrations_dir is \(configured), which is not a folder")
            }
            return configured
        }
        let executable = URL(fileURLWithPath: executablePath).resolvingSymlinksInPath()
        let candidates = [
            executable.deletingLastPathComponent().appendingPathComponent("../share/onboarder/migrations").standardized
                .path,
            "sql/migrations",
        ]
        for candidate in candidates
        where FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory) && isDirectory.boolValue {
            return candidate
        }
        throw MigrationError(
            "no migrations folder found (looked in \(candidates.joined(separator: ", "))); set database.migrations_dir")
    }

    /// Applies what is pending. See the type's documentation for the guarantees.
    public func migrate(configuration: PostgresConfiguration, logger: Logger) async throws -> MigrationReport {
        let connection = try await PostgresConnection.connect(configuration)
        do {
            let gotLock = try await connection.query("SELECT pg_try_advisory_lock(\(Self.advisoryLockKey)) AS locked")
                .single().decode(Bool.self, column: "locked")
            if !gotLock {
                logger.notice("another migrate holds the lock; waiting for it")
                try await connection.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))")
            }
            // Closing the session releases the lock too, whatever happens below.
            let report = try await migrateHoldingLock(connection, logger: logger)
            await connection.close()
            return report
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Applied migrations as recorded: version → (checksum, applied at).
    public static func applied(_ connection: PostgresConnection) async throws -> [Int: (
        checksum: String, appliedAt: Date
    )] {
        let exists = try await connection.query(
            "SELECT to_regclass('onboarder.schema_migrations') IS NOT NULL AS present"
        )
        .single().decode(Bool.self, column: "present")
        guard exists else { return [:] }
        var applied = [Int: (checksum: String, appliedAt: Date)]()
        for row in try await connection.query("SELECT version, checksum, applied_at FROM onboarder.schema_migrations") {
            let (version, checksum, appliedAt) = try row.decode((Int, String, Date).self)
            applied[version] = (checksum, appliedAt)
        }
        return applied
    }

    private func migrateHoldingLock(_ connection: PostgresConnection, logger: Logger) async throws -> MigrationReport {
        // The ledger itself: created here, under the lock, because it must exist to record migration 1.
        try await connection.executeScript(
            unsafeSQL: """
                CREATE SCHEMA IF NOT EXISTS onboarder;
                CREATE TABLE IF NOT EXISTS onboarder.schema_migrations (
                    version      integer     PRIMARY KEY,
                    name         text        NOT NULL,
                    checksum     text        NOT NULL,
                    applied_at   timestamptz NOT NULL DEFAULT now(),
                    applied_by   text        NOT NULL DEFAULT current_user,
                    duration_ms  integer     NOT NULL
                );
                """)
        let applied = try await Self.applied(connection)
        var report = MigrationReport()
        var changed = [String]()
        for migration in migrations {
            guard let record = applied[migration.version] else { continue }
            if record.checksum == migration.checksum {
                report.alreadyApplied.append(migration)
            } else {
                changed.append(
                    "\(migration.path) was changed after it was applied (on \(record.appliedAt)): "
                        + "recorded checksum \(record.checksum.prefix(12))…, the file's is now \(migration.checksum.prefix(12))…"
                )
            }
        }
        if !changed.isEmpty {
            throw MigrationError(
                changed.joined(separator: "\n")
                    + "\nApplied migrations are history: restore the file and put the change in a new migration. Nothing was applied."
            )
        }
        let known = Set(migrations.map(\.version))
        report.unknownVersions = applied.keys.filter { !known.contains($0) }.sorted()
        if !report.unknownVersions.isEmpty {
            logger.warning(
                "the database has migrations this build does not know; a newer onboarder migrated it",
                metadata: ["migration.versions": "\(report.unknownVersions)"])
        }
        for migration in migrations where applied[migration.version] == nil {
            let started = ContinuousClock.now
            do {
                try await connection.transaction { connection in
                    // Pinned, so an unqualified name means the same whatever the role is called (the default
                    // "$user", public would put tables in a schema named like the role, e.g. onboarder).
                    try await connection.query("SET LOCAL search_path TO public")
                    try await connection.executeScript(unsafeSQL: migration.sql)
                    let elapsed = started.duration(to: .now)
                    let milliseconds = Int(
                        elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
                    try await connection.query(
                        """
                        INSERT INTO onboarder.schema_migrations (version, name, checksum, duration_ms)
                        VALUES (\(migration.version), \(migration.name), \(migration.checksum), \(milliseconds))
                        """)
                }
            } catch let error as PostgresError {
                throw MigrationError(
                    "\(Self.place(of: error, in: migration)): \(error.message) (nothing of this file was applied)",
                    underlying: error)
            }
            logger.info(
                "applied migration",
                metadata: ["migration.version": "\(migration.version)", "migration.name": "\(migration.name)"])
            report.applied.append(migration)
        }
        return report
    }

    /// `file:line` for a server error with a position inside the script, else the file.
    static func place(of error: PostgresError, in migration: Migration) -> String {
        guard let position = error.position, position > 0 else { return migration.path }
        let prefix = migration.sql.prefix(position - 1)
        let line = prefix.reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
        return "\(migration.path):\(line)"
    }
}
