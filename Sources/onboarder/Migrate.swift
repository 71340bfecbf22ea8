import ArgumentParser
import Foundation
import Logging
import OnboarderConfig
import Postgres
import Store

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending schema migrations (safe to run from several hosts at once).",
        discussion: """
            Applies sql/migrations/NNNN_name.sql in order, each in its own transaction, and records each with \
            its checksum in onboarder.schema_migrations. Running it again does nothing; an applied file that \
            was edited is refused.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: "Migrations folder (overrides database.migrations_dir).")
    var directory: String?

    @Flag(name: .long, help: "List migrations and whether each is applied; change nothing.")
    var status = false

    func run() async throws {
        try await reportingErrors {
            let (config, logger) = try global.load()
            let migrator: Migrator
            do {
                let folder =
                    try directory ?? Migrator.locateDirectory(configured: config.string(.databaseMigrationsDirectory))
                migrator = try Migrator.load(directory: folder)
            } catch let error as MigrationError {
                throw CleanExit.message("migrate: \(error)")
            }
            do {
                if status {
                    try await printStatus(migrator, config: config)
                    return
                }
                let report = try await migrator.migrate(configuration: config.postgres, logger: logger)
                if report.applied.isEmpty {
                    print("migrate: up to date (\(report.alreadyApplied.count) migrations applied earlier)")
                } else {
                    for migration in report.applied { print("applied \(migration.version) \(migration.name)") }
                    print(
                        "migrate: applied \(report.applied.count), \(report.alreadyApplied.count) were applied earlier")
                }
            } catch let error as MigrationError {
                throw CleanExit.message("migrate: \(error)")
            } catch let error as PostgresError {
                throw CleanExit.message("migrate: \(error)")
            }
        }
    }

    private func printStatus(_ migrator: Migrator, config: ResolvedConfiguration) async throws {
        let connection = try await PostgresConnection.connect(config.postgres)
        let applied = try await Migrator.applied(connection)
        await connection.close()
        for migration in migrator.migrations {
            let state: String
            switch applied[migration.version] {
            case nil: state = "pending"
            case let record? where record.checksum != migration.checksum: state = "CHANGED after it was applied"
            case let record?: state = "applied \(record.appliedAt)"
            }
            print("\(String(format: "%04d", migration.version)) \(migration.name): \(state)")
        }
    }
}
