import Foundation
import Logging
import Migrations
import Postgres
import TestSupport
import Testing

/// A scratch database and a scratch `sql` folder (`migrations/`, `functions/`) for one test.
struct MigrationSandbox {
    let folder: URL
    var migrations: URL { folder.appendingPathComponent("migrations") }
    var functions: URL { folder.appendingPathComponent("functions") }
    let database: String
    let configuration: PostgresConfiguration

    static func make(_ label: String) async throws -> MigrationSandbox {
        let (configuration, name) = try await TestDatabase.makeScratchDatabase(label)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sql-\(UUID().uuidString)")
        let sandbox = MigrationSandbox(folder: folder, database: name, configuration: configuration)
        try FileManager.default.createDirectory(at: sandbox.migrations, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: sandbox.functions, withIntermediateDirectories: true)
        return sandbox
    }

    /// Writes a migration.
    func write(_ name: String, _ sql: String) throws {
        try sql.write(to: migrations.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    /// Writes a function file.
    func writeFunctions(_ name: String, _ sql: String) throws {
        try sql.write(to: functions.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    /// The migrator of this sandbox's folder (its functions found beside the migrations, as installed).
    func migrator() throws -> Migrator { try Migrator.load(directory: migrations.path) }

    func query(_ query: PostgresQuery) async throws -> PostgresRows {
        let connection = try await PostgresConnection.connect(configuration)
        let rows = try await connection.query(query)
        await connection.close()
        return rows
    }

    func cleanUp() async throws {
        try? FileManager.default.removeItem(at: folder)
        try await TestDatabase.dropScratchDatabase(database)
    }
}

let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

@Suite("Migrations")
struct MigratorTests {
    @Test func applyingTwiceIsANoOp() async throws {
        let sandbox = try await MigrationSandbox.make("twice")
        try sandbox.write("0001_people.sql", "CREATE TABLE people (id int PRIMARY KEY);")
        try sandbox.write(
            "0002_pets.sql",
            "CREATE TABLE pets (id int PRIMARY KEY, owner int REFERENCES people);\nINSERT INTO people VALUES (1);")

        let first = try await sandbox.migrator().migrate(configuration: sandbox.configuration, logger: quietLogger)
        #expect(first.applied.map(\.version) == [1, 2])
        let second = try await sandbox.migrator().migrate(configuration: sandbox.configuration, logger: quietLogger)
        #expect(second.applied.isEmpty)
        #expect(second.alreadyApplied.map(\.version) == [1, 2])
        // The INSERT ran once.
        #expect(
            try await sandbox.query("SELECT count(*)::int AS n FROM people").single().decode(Int.self, column: "n") == 1
        )
        let ledger = try await sandbox.query(
            "SELECT version, name, checksum FROM onboarder.schema_migrations ORDER BY version")
        #expect(try ledger.map { try $0.decode(String.self, column: "name") } == ["people", "pets"])
        #expect(try ledger[0].decode(String.self, column: "checksum") == sandbox.migrator().migrations[0].checksum)
        try await sandbox.cleanUp()
    }

    @Test func aChangedAppliedMigrationIsRefusedAndNothingRuns() async throws {
        let sandbox = try await MigrationSandbox.make("changed")
        try sandbox.write("0001_people.sql", "CREATE TABLE people (id int);")
        _ = try await sandbox.migrator().migrate(configuration: sandbox.configuration, logger: quietLogger)

        try sandbox.write("0001_people.sql", "CREATE TABLE people (id bigint);")
        try sandbox.write("0002_more.sql", "CREATE TABLE more (id int);")
        let error = await #expect(throws: MigrationError.self) {
            try await sandbox.migrator().migrate(configuration: sandbox.configuration, logger: quietLogger)
        }
        #expect(error?.message.contains("0001_people.sql was changed after it was applied") == true)
        #expect(error?.message.contains("Nothing was applied") == true)
        let more = try await sandbox.query("SELECT to_regclass('public.more') IS NOT NULL AS present").single()
        #expect(try more.decode(Bool.self, column: "present") == false)
        try await sandbox.cleanUp()
    }

    @Test func concurrentMigrateRunsApplyEachFileOnce() async throws {
        let sandbox = try await MigrationSandbox.make("concurrent")
        // No IF NOT EXISTS: a second application would fail. The sleep widens the race window.
        try sandbox.write(
            "0001_log.sql",
            "CREATE TABLE applied (file text);\nINSERT INTO applied VALUES ('0001');\nSELECT pg_sleep(0.3);")
        try sandbox.write("0002_more.sql", "CREATE TABLE more (id int);\nINSERT INTO applied VALUES ('0002');")
        let migrator = try sandbox.migrator()
        let reports = try await withThrowingTaskGroup(of: MigrationReport.self) { group in
            for _ in 0..<4 {
                group.addTask { try await migrator.migrate(configuration: sandbox.configuration, logger: quietLogger) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(reports.flatMap(\.applied).map(\.version).sorted() == [1, 2])
        let log = try await sandbox.query("SELECT file FROM applied ORDER BY file").map {
            try $0.decode(String.self, column: "file")
        }
        #expect(log == ["0001", "0002"])
        let ledger = try await sandbox.query("SELECT count(*)::int AS n FROM onboarder.schema_migrations").single()
        #expect(try ledger.decode(Int.self, column: "n") == 2)
        try await sandbox.cleanUp()
    }

    @Test func aFailingMigrationNamesFileAndLineAndLeavesNothingHalfDone() async throws {
        let sandbox = try await MigrationSandbox.make("failing")
        try sandbox.write("0001_ok.sql", "CREATE TABLE ok (id int);")
        try sandbox.write("0002_broken.sql", "CREATE TABLE half (id int);\n\nCREATE TABLE broken (id int,);\n")
        let error = await #expect(throws: MigrationError.self) {
            try await sandbox.migrator().migrate(configuration: sandbox.configuration, logger: quietLogger)
        }
        #expect(error?.message.contains("0002_broken.sql:3:") == true)
        #expect(error?.underlying?.sqlState == SQLState.syntaxError)
        let tables = try await sandbox.query(
            "SELECT to_regclass('public.ok') IS NOT NULL AS ok, to_regclass('public.half') IS NOT NULL AS half"
        ).single()
        #expect(try tables.decode(Bool.self, column: "ok"))
        #expect(try tables.decode(Bool.self, column: "half") == false)  // rolled back with its file
        let versions = try await sandbox.query("SELECT version FROM onboarder.schema_migrations").map {
            try $0.decode(Int.self, column: "version")
        }
        #expect(versions == [1])
        try await sandbox.cleanUp()
    }

    @Test func badFileNamesAndDuplicateVersionsAreRefused() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "SELECT 1;".write(to: folder.appendingPathComponent("0001_a.sql"), atomically: true, encoding: .utf8)
        try "SELECT 1;".write(to: folder.appendingPathComponent("0001_b.sql"), atomically: true, encoding: .utf8)
        try "SELECT 1;".write(to: folder.appendingPathComponent("add-users.sql"), atomically: true, encoding: .utf8)
        let error = #expect(throws: MigrationError.self) { try Migrator.load(directory: folder.path) }
        #expect(error?.message.contains("0001_b.sql: version 1 is also") == true)
        #expect(error?.message.contains("add-users.sql: migration files are named NNNN_name.sql") == true)
    }

    @Test func theShippedMigrationsApplyCleanlyTwice() async throws {
        let (configuration, name) = try await TestDatabase.makeScratchDatabase("shipped")
        let migrator = try Migrator.load(
            directory: TestDatabase.repositoryRoot.appendingPathComponent("sql/migrations").path)
        #expect(!migrator.migrations.isEmpty)
        let first = try await migrator.migrate(configuration: configuration, logger: quietLogger)
        #expect(first.applied.count == migrator.migrations.count)
        let second = try await migrator.migrate(configuration: configuration, logger: quietLogger)
        #expect(second.applied.isEmpty)
        try await TestDatabase.dropScratchDatabase(name)
    }
}
