import ArgumentParser
import Foundation
import Logging
import Migrations
import OnboarderConfig
import Postgres

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending schema migrations (safe to run from several hosts at once).",
        discussion: """
            Applies sql/migrations/NNNN_name.sql in order, each in its own transaction, and records each with \
            its checksum in onboarder.schema_migrations. Running it again does nothing; an applied file that \
            was edited is refused. Then applies the files of sql/functions (the functions and views) that are \
            new or changed since they were last applied, in one transaction (onboarder.schema_functions). \
            Last it writes enqueue.approval_threshold into the database (queue_limits), where every enqueue is \
            held to it: enqueuers cannot change it.
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
                if migrator.functions.isEmpty {
                    // An install that copied only the migrations would never update a function or view.
                    logger.warning(
                        "no function files beside the migrations folder: functions and views are left as they are",
                        metadata: ["migrations.folder": "\(folder)"])
                }
            } catch let error as MigrationError {
                throw CleanExit.message("migrate: \(error)")
            }
            do {
                if status {
                    try await printStatus(migrator, config: config)
                    return
                }
                let report = try await migrator.migrate(configuration: config.postgres, logger: logger)
                let threshold = try await Self.writeApprovalThreshold(config)
                for migration in report.applied { print("applied \(migration.version) \(migration.name)") }
                for file in report.functionsApplied { print("applied functions/\(file.name)") }
                if report.applied.isEmpty && report.functionsApplied.isEmpty {
                    print("migrate: up to date (\(report.alreadyApplied.count) migrations applied earlier)")
                } else {
                    print(
                        "migrate: applied \(report.applied.count), \(report.alreadyApplied.count) were applied earlier; "
                            + "\(report.functionsApplied.count) function file(s) applied, \(report.functionsUnchanged.count) unchanged"
                    )
                }
                print(
                    threshold.map { "approval threshold: enqueues creating more than \($0) onboard jobs are held" }
                        ?? "approval threshold: off (only enqueue --from-gdap is held)")
            } catch let error as MigrationError {
                throw CleanExit.message("migrate: \(error)")
            } catch let error as PostgresError {
                throw CleanExit.message("migrate: \(error)")
            }
        }
    }

    /// `enqueue.approval_threshold` into `queue_limits` (0: NULL, off), as the owner: the database holds
    /// every client's enqueue to it, and only the owner may change it. Returns it (nil: off).
    static func writeApprovalThreshold(_ config: ResolvedConfiguration) async throws -> Int? {
        let value = config.integer(.enqueueApprovalThreshold)
        let threshold = value > 0 ? value : nil
        let connection = try await PostgresConnection.connect(config.postgres)
        do {
            try await connection.query(
                "UPDATE onboarder.queue_limits SET approval_threshold = \(threshold) WHERE singleton")
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
        return threshold
    }

    private func printStatus(_ migrator: Migrator, config: ResolvedConfiguration) async throws {
        let connection = try await PostgresConnection.connect(config.postgres)
        let applied = try await Migrator.applied(connection)
        let functions = try await Migrator.appliedFunctions(connection)
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
        for file in migrator.functions {
            let state: String
            switch functions[file.name] {
            case nil: state = "pending"
            case let record? where record.checksum != file.checksum: state = "changed: migrate applies it again"
            case let record?: state = "applied \(record.appliedAt)"
            }
            print("functions/\(file.name): \(state)")
        }
    }
}
