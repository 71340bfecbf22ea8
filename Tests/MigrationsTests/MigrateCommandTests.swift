import Foundation
import Postgres
import TestSupport
import Testing

/// `onboarder migrate`, as the database's owner runs it on an install: the binary finds the function files
/// beside the migrations folder it is given.
@Suite("onboarder migrate")
struct MigrateCommandTests {
    @Test func migrateAppliesTheFunctionFilesOnceAndStatusListsThem() async throws {
        let (owner, name) = try await TestDatabase.makeScratchDatabase("migratecli")
        let migrations = TestDatabase.repositoryRoot.appendingPathComponent("sql/migrations").path
        func onboarder(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await runCommand(
                [builtProductsDirectory.appendingPathComponent("onboarder").path] + arguments,
                environment: ["ONBOARDER_DATABASE_URL": owner.connectionString!, "ONBOARDER_LOG_FORMAT": "json"])
        }
        let first = try await onboarder(["migrate", "--directory", migrations])
        #expect(first.status == 0, "\(first.output)")
        for file in ["10_acting.sql", "20_enqueue.sql", "30_queue.sql", "40_operator_actions.sql", "50_dashboards.sql"]
        {
            #expect(first.output.contains("applied functions/\(file)\n"), "\(file)")
        }
        let second = try await onboarder(["migrate", "--directory", migrations])
        #expect(second.status == 0)
        #expect(second.output.contains("migrate: up to date"))
        #expect(!second.output.contains("applied functions/"))
        let status = try await onboarder(["migrate", "--status", "--directory", migrations])
        #expect(status.output.contains("functions/50_dashboards.sql: applied "))
        #expect(!status.output.contains("pending"))
        try await TestDatabase.dropScratchDatabase(name)
    }
}
