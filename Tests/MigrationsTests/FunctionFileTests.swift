import Foundation
import Migrations
import Postgres
import TestSupport
import Testing

@Suite("Function files (sql/functions)")
struct FunctionFileTests {
    /// A table the test files append to: how often each file ran.
    static let log = "CREATE TABLE ran (file text);"

    @Test func aChangedFileIsAppliedAgainAndAnUnchangedOneIsNot() async throws {
        let sandbox = try await MigrationSandbox.make("fnchanged")
        try sandbox.write("0001_log.sql", Self.log)
        try sandbox.writeFunctions(
            "10_answer.sql",
            "CREATE OR REPLACE FUNCTION answer() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\nINSERT INTO ran VALUES ('10');"
        )
        try sandbox.writeFunctions(
            "20_name.sql",
            "CREATE OR REPLACE FUNCTION name() RETURNS text LANGUAGE sql AS $$ SELECT 'a' $$;\nINSERT INTO ran VALUES ('20');"
        )

        let first = try await sandbox.migrator().migrate(configuration: sandbox.configuration, logger: quietLogger)
        #expect(first.functionsApplied.map(\.name) == ["10_answer.sql", "20_name.sql"])
        let second = try await sandbox.migrator().migrate(configuration: sandbox.configuration, logger: quietLogger)
        #expect(second.functionsApplied.isEmpty)
        #expect(second.functionsUnchanged.map(\.name) == ["10_answer.sql", "20_name.sql"])

        try sandbox.writeFunctions(
            "10_answer.sql",
            "CREATE OR REPLACE FUNCTION answer() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$;\nINSERT INTO ran VALUES ('10');"
        )
        let third = try await sandbox.migrator().migrate(configuration: sandbox.configuration, logger: quietLogger)
        #expect(third.functionsApplied.map(\.name) == ["10_answer.sql"])
        #expect(third.functionsUnchanged.map(\.name) == ["20_name.sql"])

        #expect(try await sandbox.query("SELECT answer() AS a").single().decode(Int.self, column: "a") == 42)
        let ran = try await sandbox.query("SELECT file FROM ran ORDER BY file").map {
            try $0.decode(String.self, column: "file")
        }
        #expect(ran == ["10", "10", "20"])
        let recorded = try await sandbox.query(
            "SELECT checksum FROM onboarder.schema_functions WHERE name = '10_answer.sql'"
        )
        .single().decode(String.self, column: "checksum")
        #expect(recorded == (try sandbox.migrator().functions.first { $0.name == "10_answer.sql" }?.checksum))
        try await sandbox.cleanUp()
    }

    @Test func aFailingFileNamesFileAndLineAndLeavesEveryFileAsItWas() async throws {
        let sandbox = try await MigrationSandbox.make("fnfailing")
        try sandbox.write("0001_log.sql", Self.log)
        try sandbox.writeFunctions(
            "10_answer.sql", "CREATE OR REPLACE FUNCTION answer() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;")
        try sandbox.writeFunctions(
            "20_name.sql", "CREATE OR REPLACE FUNCTION name() RETURNS text LANGUAGE sql AS $$ SELECT 'a' $$;")
        _ = try await sandbox.migrator().migrate(configuration: sandbox.configuration, logger: quietLogger)
        let ledger = try await sandbox.query("SELECT name, checksum FROM onboarder.schema_functions ORDER BY name").map
        {
            try $0.decode((String, String).self)
        }

        try sandbox.writeFunctions(
            "10_answer.sql", "CREATE OR REPLACE FUNCTION answer() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$;")
        try sandbox.writeFunctions(
            "20_name.sql", "-- a comment\n\nCREATE OR REPLACE FUNCTION name() RETURNS text LANGUAGE sql AS $$ SELEC $$;"
        )
        let error = await #expect(throws: MigrationError.self) {
            try await sandbox.migrator().migrate(configuration: sandbox.configuration, logger: quietLogger)
        }
        #expect(error?.message.contains("20_name.sql:3:") == true)
        #expect(error?.message.contains("no function file was applied") == true)
        // 10_answer.sql applied cleanly before 20 failed, and was rolled back with it.
        #expect(try await sandbox.query("SELECT answer() AS a").single().decode(Int.self, column: "a") == 1)
        let after = try await sandbox.query("SELECT name, checksum FROM onboarder.schema_functions ORDER BY name").map {
            try $0.decode((String, String).self)
        }
        #expect(after.map(\.0) == ledger.map(\.0) && after.map(\.1) == ledger.map(\.1))
        try await sandbox.cleanUp()
    }

    /// An install migrated before sql/functions existed (migrations only, up to 0006 and up to 0007),
    /// upgraded to the shipped files, then to an edited copy of them, ends with the same functions, views
    /// and privileges as a database migrated once from scratch, and the edit is live.
    @Test(arguments: [6, 7])
    func aFreshAndAnUpgradedDatabaseEndWithTheSameFunctionsAndViews(installedUpTo: Int) async throws {
        let shipped = TestDatabase.repositoryRoot.appendingPathComponent("sql")
        let stages = FileManager.default.temporaryDirectory.appendingPathComponent("sql-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: stages) }
        let old = stages.appendingPathComponent("old/migrations")
        let edited = stages.appendingPathComponent("edited")
        try FileManager.default.createDirectory(at: old, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: shipped, to: edited)
        for name in try FileManager.default.contentsOfDirectory(
            atPath: shipped.appendingPathComponent("migrations").path)
        where (Int(name.prefix(4)) ?? .max) <= installedUpTo {
            try FileManager.default.copyItem(
                at: shipped.appendingPathComponent("migrations/\(name)"), to: old.appendingPathComponent(name))
        }
        // A later edit of a function's body, as a developer would make it.
        let queue = edited.appendingPathComponent("functions/30_queue.sql")
        let text = try String(contentsOf: queue, encoding: .utf8)
        #expect(text.contains("-- Cheap exit, without the global lock"))
        try text.replacingOccurrences(of: "-- Cheap exit, without the global lock", with: "-- Edited: cheap exit")
            .write(to: queue, atomically: true, encoding: .utf8)

        let (upgraded, upgradedName) = try await TestDatabase.makeScratchDatabase("fnupgraded")
        for folder in [old, shipped.appendingPathComponent("migrations"), edited.appendingPathComponent("migrations")] {
            _ = try await Migrator.load(directory: folder.path).migrate(configuration: upgraded, logger: quietLogger)
        }
        let (fresh, freshName) = try await TestDatabase.makeScratchDatabase("fnfresh")
        _ = try await Migrator.load(directory: edited.appendingPathComponent("migrations").path).migrate(
            configuration: fresh, logger: quietLogger)

        let upgradedCatalog = try await Self.catalog(upgraded)
        let freshCatalog = try await Self.catalog(fresh)
        #expect(upgradedCatalog.count > 30)
        // Named by their first line (the function's signature, the view's name), so a failure lists what differs.
        let differing = Set(upgradedCatalog).symmetricDifference(freshCatalog).map { $0.prefix { $0 != "\n" } }
        #expect(Set(differing).sorted() == [])
        #expect(upgradedCatalog.contains { $0.contains("-- Edited: cheap exit") })
        try await TestDatabase.dropScratchDatabase(upgradedName)
        try await TestDatabase.dropScratchDatabase(freshName)
    }

    /// Every function's and view's definition, settings and privileges in the two schemas, one line each.
    static func catalog(_ configuration: PostgresConfiguration) async throws -> [String] {
        let connection = try await PostgresConnection.connect(configuration)
        let functions = try await connection.query(
            """
            SELECT p.oid::regprocedure::text || E'\\n' || pg_get_functiondef(p.oid) || E'\\n'
                   || coalesce(array_to_string(p.proconfig, ','), '') || E'\\n'
                   || array_to_string(ARRAY(SELECT a::text FROM aclexplode(p.proacl) a ORDER BY 1), ',') AS line
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname IN ('onboarder', 'dashboard') ORDER BY p.oid::regprocedure::text
            """)
        let views = try await connection.query(
            """
            SELECT c.oid::regclass::text || E'\\n' || coalesce(pg_get_viewdef(c.oid), '') || E'\\n'
                   || coalesce(array_to_string(c.reloptions, ','), '') || E'\\n'
                   || array_to_string(ARRAY(SELECT a::text FROM aclexplode(c.relacl) a ORDER BY 1), ',') AS line
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname IN ('onboarder', 'dashboard') AND c.relkind IN ('v', 'r')
             ORDER BY c.oid::regclass::text
            """)
        await connection.close()
        return try (Array(functions) + Array(views)).map { try $0.decode(String.self, column: "line") }
    }
}
