import Foundation
import Postgres

/// The PostgreSQL that `scripts/test` starts (`scripts/dev-db`), for integration tests.
public enum TestDatabase {
    /// `ONBOARDER_TEST_DATABASE_URL`, which `scripts/test` exports.
    public static var url: String {
        guard let url = ProcessInfo.processInfo.environment["ONBOARDER_TEST_DATABASE_URL"], !url.isEmpty else {
            fatalError(
                "integration tests need ONBOARDER_TEST_DATABASE_URL: run scripts/test, or export $(scripts/dev-db url)")
        }
        return url
    }

    public static var configuration: PostgresConfiguration {
        PostgresConfiguration(connectionString: url, applicationName: "onboarder-tests")
    }

    /// Creates an empty database for one test and returns its configuration; the test drops it with `drop`.
    public static func makeScratchDatabase(_ label: String) async throws -> (PostgresConfiguration, name: String) {
        let name = "t_\(label)_\(UUID().uuidString.prefix(8).lowercased())"
        let admin = try await PostgresConnection.connect(configuration)
        try await admin.query("CREATE DATABASE \(identifier: name)")
        await admin.close()
        return (
            PostgresConfiguration(connectionString: urlNaming(database: name), applicationName: "onboarder-tests"), name
        )
    }

    public static func dropScratchDatabase(_ name: String) async throws {
        let admin = try await PostgresConnection.connect(configuration)
        try await admin.query("DROP DATABASE IF EXISTS \(identifier: name) WITH (FORCE)")
        await admin.close()
    }

    /// The repository's root, found from this source file's path.
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    /// The test URL with its database name replaced: works for `postgresql://…/db?…` URIs and keyword strings.
    public static func urlNaming(database name: String) -> String {
        if url.contains("://"), var components = URLComponents(string: url) {
            components.path = "/" + name
            return components.string ?? url
        }
        return url + " dbname=\(name)"
    }
}
