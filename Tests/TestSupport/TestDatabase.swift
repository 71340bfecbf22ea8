import Foundation
import Postgres
import Synchronization

/// The PostgreSQL that `scripts/test` starts (`scripts/dev-db`), for integration tests.
///
/// The test URL logs in as the cluster's superuser, which plays the database administrator only: it runs
/// `sql/bootstrap.sql` (once per test process), creates scratch databases owned by `onboarder_owner`, and
/// creates staff logins (`login`). Everything else runs as those least-privileged roles, as in production:
/// migrations and fixtures as the owner, the code under test as a worker, enqueuer or operator login. The
/// test cluster trusts local connections, so the logins have no passwords.
public enum TestDatabase {
    /// The login that owns scratch databases and runs their migrations (`sql/bootstrap.sql`).
    public static let ownerRole = "onboarder_owner"

    /// `ONBOARDER_TEST_DATABASE_URL`, which `scripts/test` exports.
    public static var url: String {
        guard let url = ProcessInfo.processInfo.environment["ONBOARDER_TEST_DATABASE_URL"], !url.isEmpty else {
            fatalError(
                "integration tests need ONBOARDER_TEST_DATABASE_URL: run scripts/test, or export $(scripts/dev-db url)")
        }
        return url
    }

    /// The administrator's (superuser's) configuration.
    public static var configuration: PostgresConfiguration {
        PostgresConfiguration(connectionString: url, applicationName: "onboarder-tests")
    }

    /// Creates an empty database owned by `onboarder_owner` for one test and returns the owner's
    /// configuration; the test drops it with `dropScratchDatabase`.
    public static func makeScratchDatabase(_ label: String) async throws -> (PostgresConfiguration, name: String) {
        try await ClusterBootstrap.shared.ensure()
        let name = "t_\(label)_\(UUID().uuidString.prefix(8).lowercased())"
        try await asAdministrator { admin in
            try await admin.query("CREATE DATABASE \(identifier: name) OWNER \(identifier: ownerRole)")
        }
        return (configuration(user: ownerRole, database: name), name)
    }

    /// Drops a scratch database and the logins `login` made for it.
    public static func dropScratchDatabase(_ name: String) async throws {
        let roles = logins.withLock { $0.removeValue(forKey: name) ?? [] }
        try await asAdministrator { admin in
            try await admin.query("DROP DATABASE IF EXISTS \(identifier: name) WITH (FORCE)")
            // A role can be dropped once nothing refers to it: its database (privileges, its row in
            // operator_msps) is gone, and it owns nothing.
            for role in roles { try await admin.query("DROP ROLE IF EXISTS \(identifier: role)") }
        }
    }

    /// A staff login, as an administrator would make it: a new role (unique name, LOGIN, member of
    /// `group`) mapped in `database`'s `onboarder.operator_msps` to `msps`, which are created (as the
    /// owner, `owner`) when missing. Returns the configuration that logs in as it. Roles belong to the
    /// cluster and test processes share it, hence the unique names; `dropScratchDatabase` drops them.
    public static func login(
        _ group: StaffRole, msps: [String] = [], database: String, owner: PostgresConfiguration
    ) async throws -> PostgresConfiguration {
        let role = "t_\(group.shortName)_\(UUID().uuidString.prefix(12).lowercased())"
        try await asAdministrator { admin in
            try await admin.query("CREATE ROLE \(identifier: role) LOGIN IN ROLE \(identifier: group.rawValue)")
        }
        logins.withLock { $0[database, default: []].append(role) }
        if !msps.isEmpty {
            let connection = try await PostgresConnection.connect(owner)
            do {
                try await connection.query(
                    """
                    INSERT INTO onboarder.msps (id, display_name) SELECT m, m FROM unnest(\(msps)::text[]) AS m
                    ON CONFLICT (id) DO NOTHING
                    """)
                try await connection.query(
                    """
                    INSERT INTO onboarder.operator_msps (role_name, msp_id)
                    SELECT \(role), m FROM unnest(\(msps)::text[]) AS m
                    """)
            } catch {
                await connection.close()
                throw error
            }
            await connection.close()
        }
        return configuration(user: role, database: database)
    }

    /// The configuration that logs in as `user` to `database` (no password: the test cluster trusts).
    public static func configuration(user: String, database: String) -> PostgresConfiguration {
        PostgresConfiguration(connectionString: url(user: user, database: database), applicationName: "onboarder-tests")
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

    /// The test URL for another login and database (a later keyword wins in a keyword string).
    public static func url(user: String, database: String) -> String {
        if url.contains("://"), var components = URLComponents(string: url) {
            components.path = "/" + database
            components.user = user
            components.password = nil
            return components.string ?? url
        }
        return url + " dbname=\(database) user=\(user) password=''"
    }

    /// Makes `login` (one that `login(_:msps:database:owner:)` made) a member of `group` as well.
    public static func grant(_ group: StaffRole, to login: String) async throws {
        try await asAdministrator { admin in
            try await admin.query("GRANT \(identifier: group.rawValue) TO \(identifier: login)")
        }
    }

    /// Makes every later session of `database` count the calls of its PL/pgSQL functions
    /// (`track_functions = 'pl'`, a setting only a superuser may make), for `functionCalls`.
    public static func countFunctionCalls(database name: String) async throws {
        try await asAdministrator { admin in
            try await admin.query("ALTER DATABASE \(identifier: name) SET track_functions = 'pl'")
        }
    }

    /// How many times the sessions that ended called each of `functions` (`schema.name`, counted since
    /// `countFunctionCalls`), once a session that called any of them has ended and reported: a command's
    /// server session ends a moment after the command exits.
    public static func functionCalls(_ functions: [String], on pool: PostgresPool) async throws -> [String: Int] {
        for _ in 0..<100 {
            try await pool.query("SELECT pg_stat_clear_snapshot()")
            let rows = try await pool.query(
                """
                SELECT schemaname || '.' || funcname, calls::int FROM pg_stat_user_functions
                 WHERE schemaname || '.' || funcname = ANY (\(functions))
                """)
            let calls = try rows.reduce(into: [String: Int]()) { calls, row in
                let (name, count) = try row.decode((String, Int).self)
                calls[name, default: 0] += count
            }
            if !calls.isEmpty { return calls }
            try await Task.sleep(for: .milliseconds(100))
        }
        return [:]
    }

    /// Logins made by `login`, by database, for `dropScratchDatabase`.
    private static let logins = Mutex<[String: [String]]>([:])

    static func asAdministrator(_ body: (PostgresConnection) async throws -> Void) async throws {
        let admin = try await PostgresConnection.connect(configuration)
        do {
            try await body(admin)
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()
    }
}

/// The group roles of staff logins (`sql/bootstrap.sql`).
public enum StaffRole: String, Sendable, CaseIterable {
    /// Runs the workers; acts for every MSP.
    case worker = "onboarder_worker"
    /// MSP staff who enqueue onboardings for their MSPs.
    case enqueuer = "onboarder_enqueuer"
    /// MSP staff who watch and act on their MSPs' jobs.
    case `operator` = "onboarder_operator"
    /// MSP staff who approve held batches (`onboarder approve`) of their MSPs.
    case approver = "onboarder_approver"

    var shortName: String { String(rawValue.dropFirst("onboarder_".count)) }
}

/// Runs `sql/bootstrap.sql` as the administrator once per test process (it is idempotent, and safe when
/// several processes run it at once).
actor ClusterBootstrap {
    static let shared = ClusterBootstrap()
    private var done = false

    func ensure() async throws {
        guard !done else { return }
        let script = try String(
            contentsOf: TestDatabase.repositoryRoot.appendingPathComponent("sql/bootstrap.sql"), encoding: .utf8)
        try await TestDatabase.asAdministrator { admin in try await admin.executeScript(unsafeSQL: script) }
        done = true
    }
}
