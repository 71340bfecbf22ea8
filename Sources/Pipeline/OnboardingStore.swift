import Foundation
import Postgres

/// What a pipeline run has learnt so far; checkpointed as the output of every step it completes, so a run
/// that resumes (after a retry, a crash, a rescue) starts from the facts, not from scratch.
public struct OnboardingFacts: Codable, Sendable, Equatable {
    public var entraTenantID: String?
    public var defaultDomain: String?
    public var graphServicePrincipalID: String?
    public var roleIDs: [String: String]?
    public var scopeIDs: [String: String]?
    public var phoneSystemAvailable: Bool?
    public var appObjectID: String?
    public var appID: String?
    public var appRegisteredAt: Date?
    public var servicePrincipalID: String?
    public var servicePrincipalAt: Date?
    public var passwordKeyID: String?
    public var passwordAddedAt: Date?
    public var certificateThumbprint: String?
    public var certificateAddedAt: Date?
    public var secretHandedOff: Bool?
    public var sbcFQDN: String?
    public var activationUPN: String?
    public var selectedUsers: [String]?
    public var warnings: [String] = []
    // Rotation
    public var rotatedCredentialID: Int64?
    public var rotatedKeyID: String?
    public var newCredentialID: Int64?
    public var handedOverAt: Date?
    public var rotatedThumbprint: String?

    public init() {}
}

/// The pipeline's SQL: checkpoints, the per-tenant records and credentials. Every statement is short;
/// none spans a network call.
public struct OnboardingStore: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// The steps a job has done, the facts of the latest one, and its MSP's allowed PBX hosts (nil: any), read
    /// once per run: every PBX step checks its URL against them before a secret leaves the worker.
    public func load(job: Int64) async throws -> (
        done: Set<String>, facts: OnboardingFacts, allowedPBXHosts: [String]?
    ) {
        let rows = try await pool.query(
            """
            SELECT s.step, s.output::text, m.allowed_pbx_hosts
              FROM onboarder.jobs j JOIN onboarder.msps m ON m.id = j.msp_id
              LEFT JOIN onboarder.job_steps s ON s.job_id = j.id AND s.state = 'done'
             WHERE j.id = \(job) ORDER BY s.finished_at, s.step
            """)
        var done = Set<String>()
        var facts = OnboardingFacts()
        var allowedPBXHosts: [String]?
        for row in rows {
            let (step, output, hosts) = try row.decode((String?, String?, [String]?).self)
            allowedPBXHosts = hosts
            guard let step else { continue }
            done.insert(step)
            if let output, let decoded = try? Self.decoder.decode(OnboardingFacts.self, from: Data(output.utf8)) {
                facts = decoded
            }
        }
        return (done, facts, allowedPBXHosts)
    }

    /// Marks `step` running (what the dashboard shows as the job's current step).
    public func start(job: Int64, step: String) async throws {
        try await pool.query(
            """
            WITH s AS (
                INSERT INTO onboarder.job_steps AS s (job_id, step, state, started_at)
                VALUES (\(job), \(step), 'running', now())
                ON CONFLICT (job_id, step) DO UPDATE SET state = 'running', started_at = coalesce(s.started_at, now())
                RETURNING 1)
            UPDATE onboarder.jobs SET current_step = \(step), updated_at = now() WHERE id = \(job)
            """)
    }

    /// Checkpoints `step` as done with `facts`, on `connection` (inside the caller's transaction when the
    /// step stores something with it) or the pool; with `next`, the same statement marks that step running
    /// (one round trip per step instead of two: `scripts/bench e2e` counts statements per customer).
    public func complete(
        job: Int64, step: String, facts: OnboardingFacts, next: String? = nil, on connection: PostgresConnection? = nil
    ) async throws {
        let output = PostgresJSON(text: String(decoding: try Self.encoder.encode(facts), as: UTF8.self))
        let query: PostgresQuery = """
            WITH s AS (
                INSERT INTO onboarder.job_steps AS s (job_id, step, state, output, started_at, finished_at)
                VALUES (\(job), \(step), 'done', \(output), now(), clock_timestamp())
                ON CONFLICT (job_id, step) DO UPDATE
                   SET state = 'done', output = EXCLUDED.output, finished_at = EXCLUDED.finished_at,
                       last_error = NULL, last_error_class = NULL
                RETURNING 1),
            n AS (
                INSERT INTO onboarder.job_steps AS s (job_id, step, state, started_at)
                SELECT \(job), \(next)::text, 'running', clock_timestamp() WHERE \(next)::text IS NOT NULL
                ON CONFLICT (job_id, step) DO UPDATE SET state = 'running', started_at = coalesce(s.started_at, EXCLUDED.started_at)
                RETURNING 1),
            j AS (
                UPDATE onboarder.jobs SET current_step = \(next)::text, updated_at = now()
                 WHERE id = \(job) AND \(next)::text IS NOT NULL
                RETURNING 1)
            INSERT INTO onboarder.events (job_id, kind, step) VALUES (\(job), 'step_done', \(step))
            """
        if let connection { try await connection.query(query) } else { try await pool.query(query) }
    }

    public func event(job: Int64, kind: String, step: String?, detail: [String: String] = [:]) async throws {
        let json = try PostgresJSON(encoding: detail)
        try await pool.query(
            "INSERT INTO onboarder.events (job_id, kind, step, detail) VALUES (\(job), \(kind), \(step), \(json))")
    }

    /// Records what is known of the tenant's integration (NULLs leave a column as it was).
    public func recordIntegration(
        tenant: Int64, path: String? = nil, entraTenantID: String? = nil, defaultDomain: String? = nil,
        appObjectID: String? = nil,
        appID: String? = nil, servicePrincipalID: String? = nil, phoneSystem: Bool? = nil, pbxURL: String? = nil,
        sbcFQDN: String? = nil, summary: String? = nil, onboarded: Bool = false,
        on connection: PostgresConnection? = nil
    ) async throws {
        let query: PostgresQuery = """
            INSERT INTO onboarder.integrations AS i (tenant_id, path, entra_tenant_id, default_domain, app_object_id, app_id,
                service_principal_id, phone_system_available, pbx_url, sbc_fqdn, summary, onboarded_at)
            VALUES (\(tenant), \(path), \(entraTenantID)::uuid, \(defaultDomain), \(appObjectID)::uuid, \(appID)::uuid,
                \(servicePrincipalID)::uuid, \(phoneSystem), \(pbxURL), \(sbcFQDN), \(summary),
                CASE WHEN \(onboarded) THEN now() END)
            ON CONFLICT (tenant_id) DO UPDATE SET
                path = coalesce(EXCLUDED.path, i.path),
                entra_tenant_id = coalesce(EXCLUDED.entra_tenant_id, i.entra_tenant_id),
                default_domain = coalesce(EXCLUDED.default_domain, i.default_domain),
                app_object_id = coalesce(EXCLUDED.app_object_id, i.app_object_id),
                app_id = coalesce(EXCLUDED.app_id, i.app_id),
                service_principal_id = coalesce(EXCLUDED.service_principal_id, i.service_principal_id),
                phone_system_available = coalesce(EXCLUDED.phone_system_available, i.phone_system_available),
                pbx_url = coalesce(EXCLUDED.pbx_url, i.pbx_url), sbc_fqdn = coalesce(EXCLUDED.sbc_fqdn, i.sbc_fqdn),
                summary = coalesce(EXCLUDED.summary, i.summary),
                onboarded_at = coalesce(EXCLUDED.onboarded_at, i.onboarded_at), updated_at = now()
            """
        if let connection { try await connection.query(query) } else { try await pool.query(query) }
    }

    // MARK: Credentials

    /// Key ids of the passwords Onboarder recorded for the tenant (any state but removed).
    public func recordedPasswordKeyIDs(tenant: Int64) async throws -> Set<String> {
        let rows = try await pool.query(
            """
            SELECT key_id::text FROM onboarder.credentials
             WHERE tenant_id = \(tenant) AND kind = 'password' AND state <> 'removed'
            """)
        return Set(try rows.map { try $0[0].decode(String.self).lowercased() })
    }

    /// Records a password Onboarder added (`active`, or `pending` while a rotation proves and hands it
    /// over); returns its credential id.
    @discardableResult
    public func insertPassword(
        tenant: Int64, job: Int64, appObjectID: String, keyID: String, displayName: String, sealed: String,
        expires: Date?, state: String = "active", on connection: PostgresConnection
    ) async throws -> Int64 {
        try await connection.query(
            """
            INSERT INTO onboarder.credentials (tenant_id, kind, source, state, app_object_id, key_id, display_name,
                sealed, expires_at, job_id)
            VALUES (\(tenant), 'password', 'addPassword', \(state), \(appObjectID)::uuid, \(keyID)::uuid,
                \(displayName), \(sealed), \(expires), \(job))
            RETURNING id
            """
        ).single()[0].decode(Int64.self)
    }

    public struct StoredCertificate: Sendable {
        public var id: Int64
        public var state: String
        public var source: String
        public var thumbprint: String
        public var pem: String
        public var sealedKey: String?
        public var displayName: String
    }

    /// The tenant's certificates that are, or are about to be, on its app.
    public func certificates(tenant: Int64) async throws -> [StoredCertificate] {
        let rows = try await pool.query(
            """
            SELECT id, state, source, thumbprint, certificate_pem, sealed, display_name FROM onboarder.credentials
             WHERE tenant_id = \(tenant) AND kind = 'certificate' AND state IN ('supplied', 'pending', 'active', 'superseded')
             ORDER BY id
            """)
        return try rows.map { row in
            let (id, state, source, thumbprint, pem, sealed, name) = try row.decode(
                (Int64, String, String, String, String, String?, String).self)
            return StoredCertificate(
                id: id, state: state, source: source, thumbprint: thumbprint, pem: pem, sealedKey: sealed,
                displayName: name)
        }
    }

    /// Records a certificate: `pending` (generated, about to be uploaded) or `supplied` (from the PBX).
    /// Returns false when the tenant already has that certificate.
    @discardableResult
    public func insertCertificate(
        tenant: Int64, job: Int64?, state: String, source: String, thumbprint: String, pem: String,
        sealedKey: String?, displayName: String, expires: Date
    ) async throws -> Bool {
        let rows = try await pool.query(
            """
            INSERT INTO onboarder.credentials (tenant_id, kind, source, state, thumbprint, certificate_pem, sealed,
                display_name, expires_at, job_id)
            VALUES (\(tenant), 'certificate', \(source), \(state), \(thumbprint), \(pem), \(sealedKey), \(displayName),
                \(expires), \(job))
            ON CONFLICT (tenant_id, thumbprint) WHERE kind = 'certificate' DO NOTHING
            RETURNING id
            """)
        return rows.count == 1
    }

    public func activateCertificate(
        id: Int64, appObjectID: String, keyID: String?, on connection: PostgresConnection
    ) async throws {
        try await connection.query(
            """
            UPDATE onboarder.credentials SET state = 'active', app_object_id = \(appObjectID)::uuid,
                   key_id = \(keyID)::uuid, updated_at = now()
             WHERE id = \(id)
            """)
    }

    /// The sealed client secret of the tenant's newest active password.
    public func activePassword(tenant: Int64) async throws -> (id: Int64, keyID: String, sealed: String)? {
        let rows = try await pool.query(
            """
            SELECT id, key_id::text, sealed FROM onboarder.credentials
             WHERE tenant_id = \(tenant) AND kind = 'password' AND state = 'active' ORDER BY id DESC LIMIT 1
            """)
        guard let row = rows.first else { return nil }
        let (id, keyID, sealed) = try row.decode((Int64, String, String).self)
        return (id, keyID, sealed)
    }

    public func storeScript(tenant: Int64, job: Int64, name: String, body: String) async throws {
        try await pool.query(
            """
            INSERT INTO onboarder.scripts (tenant_id, name, body, job_id) VALUES (\(tenant), \(name), \(body), \(job))
            ON CONFLICT (tenant_id, name) DO UPDATE SET body = EXCLUDED.body, job_id = EXCLUDED.job_id, fetched_at = now()
            """)
    }
}
