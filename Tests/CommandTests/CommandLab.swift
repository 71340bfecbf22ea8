import Crypto
import Foundation
import Pipeline
import Postgres
import TestSupport

/// A migrated scratch database with a key file and the logins a deployment gives: the service login
/// (a worker, with the key file) and an operator of msp1. Commands run as the built `onboarder`.
///
/// The customers, one job each: a.example (msp1) onboarding at `verify`; b.example (msp1) secret rotation
/// at `rotate-handover`, its new secret pending; c.example (msp1) certificate rotation at `rotate-cert-new`;
/// d.example (msp1) onboarding at `certificate`, its secret exported before; e.example (msp1) onboarding
/// queued; z.example (msp2) onboarding at `verify`. Each waits from an hour apart, a.example longest.
final class CommandLab: @unchecked Sendable {
    let name: String
    let owner: PostgresConfiguration
    let pool: PostgresPool
    let workerURL: String
    let operatorURL: String
    let directory: URL
    let keyFile: String

    /// The plaintext secrets, by what the fixture calls them.
    static let secrets = [
        "a": "secret-A~active.1", "b-old": "secret-B~old.1", "b-new": "-secret-B~new.2", "c": "secret-C~active.1",
        "d": "secret-D~active.1", "z": "secret-Z~active.1",
    ]

    /// Key ids, by the same names.
    static func keyID(_ name: String) -> String {
        let index = ["a", "b-old", "b-new", "c", "d", "z"].firstIndex(of: name)!
        return "00000000-0000-4000-8000-00000000000\(index)"
    }

    init(_ label: String) async throws {
        (owner, name) = try await TestDatabase.makeMigratedScratchDatabase(label)
        pool = PostgresPool(configuration: owner, maxConnections: 2)
        workerURL = try await TestDatabase.login(.worker, database: name, owner: owner).connectionString!
        operatorURL = try await TestDatabase.login(.operator, msps: ["msp1"], database: name, owner: owner)
            .connectionString!
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "commands-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        keyFile = directory.appendingPathComponent("keys").path
        let key = Data(try SecureRandom.bytes(32)).base64EncodedString()
        _ = FileManager.default.createFile(
            atPath: keyFile, contents: Data("k1 \(key)\n".utf8), attributes: [.posixPermissions: 0o600])
        try await pool.query(
            """
            INSERT INTO onboarder.msps (id, display_name) VALUES ('msp1', 'MSP 1'), ('msp2', 'MSP 2')
            ON CONFLICT (id) DO NOTHING
            """)
        let setup = try await PostgresConnection.connect(owner)
        try await setup.executeScript(
            unsafeSQL: """
                INSERT INTO onboarder.tenants (msp_id, tenant_key) VALUES ('msp1', 'a.example'), ('msp1', 'b.example'),
                    ('msp1', 'c.example'), ('msp1', 'd.example'), ('msp1', 'e.example'), ('msp2', 'z.example');
                INSERT INTO onboarder.integrations (tenant_id, path, entra_tenant_id, app_id, pbx_url)
                SELECT id, 'm365', md5(tenant_key)::uuid, md5('app' || tenant_key)::uuid,
                       'https://pbx.example/pbx/' || split_part(tenant_key, '.', 1)
                  FROM onboarder.tenants;
                INSERT INTO onboarder.jobs (kind, msp_id, tenant_id, state, wait_reason, current_step, last_error,
                                            run_at, created_at)
                SELECT s.kind, t.msp_id, t.id, s.state, s.reason, s.step, s.step || ': do the PBX part',
                       now() + interval '1 hour', now() - s.hours * interval '1 hour'
                  FROM onboarder.tenants t JOIN (VALUES
                    ('a.example', 'onboard', 'waiting', 'input', 'verify', 6),
                    ('b.example', 'rotate-secret', 'waiting', 'input', 'rotate-handover', 5),
                    ('c.example', 'rotate-certificate', 'waiting', 'input', 'rotate-cert-new', 4),
                    ('d.example', 'onboard', 'waiting', 'input', 'certificate', 3),
                    ('e.example', 'onboard', 'queued', NULL, NULL, 2),
                    ('z.example', 'onboard', 'waiting', 'input', 'verify', 1)
                  ) AS s(key, kind, state, reason, step, hours) ON s.key = t.tenant_key
                 ORDER BY t.id;
                """)
        await setup.close()
        let vault = try SecretVault.load(file: keyFile, inline: "")
        for (secretName, customer, state) in [
            ("a", "a", "active"), ("b-old", "b", "active"), ("b-new", "b", "pending"), ("c", "c", "active"),
            ("d", "d", "active"), ("z", "z", "active"),
        ] {
            let (tenant, job) = try await pool.query(
                """
                SELECT t.id, j.id FROM onboarder.tenants t JOIN onboarder.jobs j ON j.tenant_id = t.id
                 WHERE t.tenant_key = \(customer + ".example")
                """
            ).single().decode((Int64, Int64).self)
            let sealed = try vault.seal(
                Self.secrets[secretName]!, context: SecretVault.context(kind: "password", tenantID: tenant))
            try await pool.query(
                """
                INSERT INTO onboarder.credentials (tenant_id, kind, source, state, key_id, display_name, sealed,
                                                   expires_at, job_id, exported_at)
                VALUES (\(tenant), 'password', 'addPassword', \(state), \(Self.keyID(secretName))::uuid, 'PBX Secret',
                        \(sealed), now() + interval '300 days', \(job),
                        CASE WHEN \(secretName) = 'd' THEN now() - interval '1 day' END)
                """)
        }
    }

    /// Runs `onboarder ARGS` logged in as `login` (the service login holds the key file; so does every
    /// command here, as on a worker host: the database's grants are what tell them apart).
    func onboarder(_ arguments: [String], as login: StaffRole) async throws -> (status: Int32, output: String) {
        try await runCommand(
            [builtProductsDirectory.appendingPathComponent("onboarder").path] + arguments,
            environment: [
                "ONBOARDER_DATABASE_URL": login == .worker ? workerURL : operatorURL,
                "ONBOARDER_SECRETS_KEY_FILE": keyFile, "ONBOARDER_LOG_LEVEL": "critical", "ONBOARDER_CONFIG": "",
            ])
    }

    func strings(_ sql: PostgresQuery) async throws -> [String] {
        try await pool.query(sql).map { try $0[0].decode(String.self) }
    }

    func close() async throws {
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
        try? FileManager.default.removeItem(at: directory)
    }
}

extension String {
    /// The user of a `postgresql://user@…` URL or a `user=` keyword string.
    var userName: String {
        if let components = URLComponents(string: self), let user = components.user { return user }
        return split(separator: " ").last { $0.hasPrefix("user=") }.map { String($0.dropFirst(5)) } ?? ""
    }
}
