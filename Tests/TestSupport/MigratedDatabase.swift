import Foundation
import Logging
import Migrations
import Postgres

extension TestDatabase {
    /// A scratch database with the shipped migrations applied (`sql/migrations`) by its owner,
    /// `onboarder_owner`, a login that is not a superuser, as in production. Returns the owner's
    /// configuration: tests set up and inspect through it (the owner bypasses row-level security as the
    /// tables' owner), and make staff logins with `login` to act as workers, enqueuers or operators.
    /// `ONBOARDER_TEST_MIGRATIONS_DIR` names another folder of migrations (to see a test fail against a
    /// changed copy).
    public static func makeMigratedScratchDatabase(_ label: String) async throws -> (
        PostgresConfiguration, name: String
    ) {
        let (configuration, name) = try await makeScratchDatabase(label)
        let directory =
            ProcessInfo.processInfo.environment["ONBOARDER_TEST_MIGRATIONS_DIR"].flatMap { $0.isEmpty ? nil : $0 }
            ?? repositoryRoot.appendingPathComponent("sql/migrations").path
        let migrator = try Migrator.load(directory: directory)
        _ = try await migrator.migrate(
            configuration: configuration, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        return (configuration, name)
    }
}
