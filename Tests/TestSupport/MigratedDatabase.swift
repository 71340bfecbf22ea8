import Logging
import Postgres
import Store

extension TestDatabase {
    /// A scratch database with the shipped migrations applied (`sql/migrations`).
    public static func makeMigratedScratchDatabase(_ label: String) async throws -> (
        PostgresConfiguration, name: String
    ) {
        let (configuration, name) = try await makeScratchDatabase(label)
        let migrator = try Migrator.load(directory: repositoryRoot.appendingPathComponent("sql/migrations").path)
        _ = try await migrator.migrate(
            configuration: configuration, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        return (configuration, name)
    }
}
