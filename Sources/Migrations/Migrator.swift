import Foundation
import Logging
import Postgres

/// Applies `sql/migrations` in order, each file in its own transaction, recorded with its checksum in
/// `onboarder.schema_migrations`; then the files of `sql/functions` that are new or changed, all in one
/// transaction, recorded in `onboarder.schema_functions`.
///
/// - Applying twice is a no-op.
/// - An applied migration whose content changed is refused before anything runs: applied migrations are
///   history, a change goes in a new file. Function files are state: a changed one is applied again (so
///   each function and view has one live definition, in one file; see `sql/functions/README.md`).
/// - Any number of `migrate` runs at once (several hosts deploying together) are safe: each holds the
///   session advisory lock `Migrator.advisoryLockKey` for its whole run, so they apply one after another
///   and the later ones find nothing to do.
/// - Files must not contain BEGIN/COMMIT: the migrator wraps them in a transaction, with `search_path` set
///   to `public` (qualify names: `onboarder.jobs`).
public struct Migrator: Sendable {
    /// `pg_advisory_lock` key: the ASCII bytes of "onbmigr8".
    public static let advisoryLockKey: Int64 = 0x6F6E_626D_6967_7238

    public let migrations: [Migration]
    /// Applied after every migration, in this (name) order.
    public let functions: [FunctionFile]

    public init(migrations: [Migration], functions: [FunctionFile] = []) {
        self.migrations = migrations
        self.functions = functions
    }

    /// Reads every `NNNN_name.sql` in `directory`, ordered by version, and every `.sql` file of
    /// `functionsDirectory` (default: the folder `functions` beside `directory`, when there is one), ordered
    /// by name. Any other `.sql` file among the migrations, or two migrations with one version, is an error
    /// naming the files.
    public static func load(directory: String, functionsDirectory: String? = nil) throws(MigrationError) -> Migrator {
        var problems = [String]()
        var migrations = [Migration]()
        for file in try SQLFolder.read(directory, problems: &problems) {
            guard let match = file.name.wholeMatch(of: /(\d{4,})_([A-Za-z0-9_]+)\.sql/),
                let version = Int(match.output.1)
            else {
                problems.append(
                    "\(file.path): migration files are named NNNN_name.sql (digits, underscore, letters/digits/underscores)"
                )
                continue
            }
            if let other = migrations.first(where: { $0.version == version }) {
                problems.append("\(file.path): version \(version) is also \(other.path)")
                continue
            }
            migrations.append(
                Migration(
                    version: version, name: String(match.output.2), path: file.path, sql: file.sql,
                    checksum: file.checksum))
        }
        var functions = [FunctionFile]()
        if let folder = functionsDirectory ?? siblingFunctionsFolder(of: directory) {
            functions = try SQLFolder.read(folder, problems: &problems).map {
                FunctionFile(name: $0.name, path: $0.path, sql: $0.sql, checksum: $0.checksum)
            }
        }
        guard problems.isEmpty else { throw MigrationError(problems.joined(separator: "\n")) }
        return Migrator(migrations: migrations.sorted { $0.version < $1.version }, functions: functions)
    }

    /// `<migrations>/../functions`, when it is a folder: where the repository (`sql/`) and an install
    /// (`share/onboarder/`) keep the function files.
    static func siblingFunctionsFolder(of directory: String) -> String? {
        let folder = URL(fileURLWithPath: directory).deletingLastPathComponent().appendingPathComponent("functions")
            .path
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) && isDirectory.boolValue
            ? folder : nil
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
            var report = try await migrateHoldingLock(connection, logger: logger)
            try await applyFunctions(connection, logger: logger, into: &report)
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
        guard try await exists("onboarder.schema_migrations", connection) else { return [:] }
        var applied = [Int: (checksum: String, appliedAt: Date)]()
        for row in try await connection.query("SELECT version, checksum, applied_at FROM onboarder.schema_migrations") {
            let (version, checksum, appliedAt) = try row.decode((Int, String, Date).self)
            applied[version] = (checksum, appliedAt)
        }
        return applied
    }

    /// Applied function files as recorded: file name → (checksum, applied at).
    public static func appliedFunctions(_ connection: PostgresConnection) async throws -> [String: (
        checksum: String, appliedAt: Date
    )] {
        guard try await exists("onboarder.schema_functions", connection) else { return [:] }
        var applied = [String: (checksum: String, appliedAt: Date)]()
        for row in try await connection.query("SELECT name, checksum, applied_at FROM onboarder.schema_functions") {
            let (name, checksum, appliedAt) = try row.decode((String, String, Date).self)
            applied[name] = (checksum, appliedAt)
        }
        return applied
    }

    private static func exists(_ table: String, _ connection: PostgresConnection) async throws -> Bool {
        try await connection.query("SELECT to_regclass(\(table)) IS NOT NULL AS present").single().decode(
            Bool.self, column: "present")
    }

    private func migrateHoldingLock(_ connection: PostgresConnection, logger: Logger) async throws -> MigrationReport {
        // The ledgers themselves: created here, under the lock, because they must exist to record migration 1.
        // Only the owner writes them (0007 revokes the workers' rights on schema_migrations; schema_functions
        // was never granted to anyone).
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
                CREATE TABLE IF NOT EXISTS onboarder.schema_functions (
                    name         text        PRIMARY KEY,
                    checksum     text        NOT NULL,
                    applied_at   timestamptz NOT NULL DEFAULT now(),
                    applied_by   text        NOT NULL DEFAULT current_user
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
                    "\(SQLFolder.place(of: error, path: migration.path, sql: migration.sql)): \(error.message) (nothing of this file was applied)",
                    underlying: error)
            }
            logger.info(
                "applied migration",
                metadata: ["migration.version": "\(migration.version)", "migration.name": "\(migration.name)"])
            report.applied.append(migration)
        }
        return report
    }

    /// Applies the function files that are new or changed since they were recorded, in name order, in one
    /// transaction with their ledger rows: a failing file leaves every function as it was.
    private func applyFunctions(
        _ connection: PostgresConnection, logger: Logger, into report: inout MigrationReport
    ) async throws {
        let recorded = try await Self.appliedFunctions(connection)
        let pending = functions.filter { recorded[$0.name]?.checksum != $0.checksum }
        report.functionsUnchanged = functions.filter { recorded[$0.name]?.checksum == $0.checksum }
        guard !pending.isEmpty else { return }
        var current: FunctionFile?
        do {
            try await connection.transaction { connection in
                try await connection.query("SET LOCAL search_path TO public")
                for file in pending {
                    current = file
                    try await connection.executeScript(unsafeSQL: file.sql)
                    try await connection.query(
                        """
                        INSERT INTO onboarder.schema_functions AS f (name, checksum) VALUES (\(file.name), \(file.checksum))
                        ON CONFLICT (name) DO UPDATE
                           SET checksum = EXCLUDED.checksum, applied_at = now(), applied_by = current_user
                        """)
                }
            }
        } catch let error as PostgresError {
            let place = current.map { SQLFolder.place(of: error, path: $0.path, sql: $0.sql) } ?? "sql/functions"
            throw MigrationError(
                "\(place): \(error.message) (no function file was applied)", underlying: error)
        }
        for file in pending {
            logger.info("applied function file", metadata: ["functions.file": "\(file.name)"])
        }
        report.functionsApplied = pending
    }
}
