import Crypto
import Foundation
import Pipeline
import Postgres
import Queue
import TestSupport
import Testing

@Suite("onboarder keys rotate", .serialized)
struct KeyRotationTests {
    @Test func interruptedHalfwayThenRunAgainLeavesEverySecretUnderTheNewKeyOnly() async throws {
        let (configuration, name) = try await TestDatabase.makeMigratedScratchDatabase("keyrotate")
        let pool = PostgresPool(configuration: configuration, maxConnections: 2)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let old = "k1 " + Data(try SecureRandom.bytes(32)).base64EncodedString()
        let new = "k2 " + Data(try SecureRandom.bytes(32)).base64EncodedString()
        let oldVault = try SecretVault.parse(old, source: "test")
        let bound = SecretReference.sealingContext(msp: "acme", customer: "a.example.com")
        let reference = "sealed:" + (try oldVault.seal("pbx-api-secret", context: bound))
        var payload = OnboardingPayload(
            path: "m365", pbxURL: "https://pbx.example.com", pbxClientID: "onboarder", pbxSecret: reference)
        payload.displayName = "with a sealed reference"
        let job = try await JobQueue(pool: pool).enqueue(
            EnqueueRequest(
                msp: "acme", tenantKey: "a.example.com", kind: "onboard", payload: try PostgresJSON(encoding: payload)))
        let tenant = try await pool.query("SELECT tenant_id FROM onboarder.jobs WHERE id = \(job.jobID)").single()[0]
            .decode(Int64.self)
        var secrets: [String] = []
        for index in 0..<250 {
            let secret = "secret-\(index)-\(UUID().uuidString)"
            secrets.append(secret)
            let sealed = try oldVault.seal(secret, context: SecretVault.context(kind: "password", tenantID: tenant))
            try await pool.query(
                """
                INSERT INTO onboarder.credentials (tenant_id, kind, source, state, key_id, display_name, sealed, expires_at)
                VALUES (\(tenant), 'password', 'addPassword', 'active', gen_random_uuid(), \("s\(index)"), \(sealed), now())
                """)
        }
        let keyFile = directory.appendingPathComponent("keys").path
        FileManager.default.createFile(
            atPath: keyFile, contents: Data("\(new)\n\(old)\n".utf8), attributes: [.posixPermissions: 0o600])
        let onboarder = builtProductsDirectory.appendingPathComponent("onboarder").path
        // Re-keying runs on a worker host, as the worker role.
        let worker = try await TestDatabase.login(.worker, database: name, owner: configuration)
        var environment = [
            "ONBOARDER_DATABASE_URL": worker.connectionString!, "ONBOARDER_SECRETS_KEY_FILE": keyFile,
            "ONBOARDER_LOG_FORMAT": "json",
        ]
        func underNewKey() async throws -> Int {
            try await pool.query("SELECT count(*)::int FROM onboarder.credentials WHERE sealed LIKE 'og1.k2.%'")
                .single()[0]
                .decode(Int.self)
        }
        // Killed after its first batch, as a power cut would.
        environment["ONBOARDER_CRASH_AT"] = "after:keys-rotate-batch"
        let interrupted = try await runCommand(
            [onboarder, "keys", "rotate", "--batch", "100"], environment: environment)
        #expect(interrupted.status != 0)
        #expect(try await underNewKey() == 100)
        environment["ONBOARDER_CRASH_AT"] = nil
        let finished = try await runCommand([onboarder, "keys", "rotate", "--batch", "100"], environment: environment)
        #expect(finished.status == 0, "\(finished.output)")
        #expect(finished.output.contains("150 stored secret(s) and 1 job reference(s) re-sealed under k2; 0 left"))
        #expect(try await underNewKey() == 250)
        // The old key can go: everything opens with the new one alone.
        let newVault = try SecretVault.parse(new, source: "test")
        let rows = try await pool.query("SELECT display_name, sealed FROM onboarder.credentials ORDER BY id")
        for (index, row) in rows.enumerated() {
            let sealed = try row[1].decode(String.self)
            #expect(
                try newVault.open(sealed, context: SecretVault.context(kind: "password", tenantID: tenant))
                    == secrets[index])
            #expect(throws: (any Error).self) {
                try oldVault.open(sealed, context: SecretVault.context(kind: "password", tenantID: tenant))
            }
        }
        let resealed = try await pool.query("SELECT payload->>'pbx_secret' FROM onboarder.jobs WHERE id = \(job.jobID)")
            .single()[0].decode(String.self)
        #expect(resealed.hasPrefix("sealed:og1.k2."))
        let resolver = SecretResolver(policy: SecretReferencePolicy(), vault: newVault)
        #expect(try resolver.resolve(resealed, msp: "acme", customer: "a.example.com") == "pbx-api-secret")
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}
