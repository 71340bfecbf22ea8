import Foundation
import Postgres

/// A credential's state, as `onboarder.credentials.state` holds it.
public enum CredentialState: String, Sendable, Equatable, CaseIterable, PostgresEncodable, PostgresDecodable {
    /// A certificate the PBX supplied (`onboarder cert add`), not on the app yet.
    case supplied
    /// Made and recorded, not yet in use: a generated certificate before its upload, a rotation's new
    /// secret before the old one is removed.
    case pending
    case active
    /// A certificate replaced by a newer one, still on the app until the rotation prunes it.
    case superseded
    case removed

    public static var postgresType: PostgresType { .text }
    public var postgresValue: PostgresBind.Value { .text(rawValue) }
    public init(postgresText text: String, type: PostgresType) throws(PostgresError) {
        guard let state = CredentialState(rawValue: text) else {
            throw PostgresError(code: .decoding, message: "unknown credential state \(text)")
        }
        self = state
    }
}

/// A certificate Onboarder recorded for a tenant.
public struct StoredCertificate: Sendable, Equatable {
    public var id: Int64
    public var state: CredentialState
    public var source: String
    /// SHA-1, upper-case hex.
    public var thumbprint: String
    public var pem: String
    /// The private key, sealed; nil for the PBX's own certificate (only the PBX holds its key).
    public var sealedKey: String?
    public var displayName: String

    public init(
        id: Int64, state: CredentialState, source: String, thumbprint: String, pem: String, sealedKey: String?,
        displayName: String
    ) {
        self.id = id
        self.state = state
        self.source = source
        self.thumbprint = thumbprint
        self.pem = pem
        self.sealedKey = sealedKey
        self.displayName = displayName
    }
}

/// The credential a rotation replaces, with the app it is on.
public struct RotationTarget: Sendable {
    public var entraTenantID: String?
    public var appObjectID: String?
    public var appID: String?
    /// The password's key id or the certificate's thumbprint.
    public var identifier: String
    public var state: CredentialState
}

/// `OnboardingStore.passwordCustody`'s answer.
public struct PasswordCustodyRecords: Sendable, Equatable {
    public var recorded: Set<String> = []
    public var ours: Set<Int64> = []
    public var busy: Set<Int64> = []
}

/// The tenant's client secrets and certificates.
extension OnboardingStore {
    /// What the orphan-password sweep (`PasswordPlan.orphans`) needs of the store, in one statement: the key
    /// ids of the passwords Onboarder recorded for the tenant's app (any state but removed), and which of
    /// `jobs` (the jobs the app's passwords are named after) are Onboarder's jobs of customer row `tenant`
    /// (`ours`) and which of those may still record what they made (`busy`: queued, running or waiting). A job
    /// of another row, or no job at all, is in neither: what it names is not this row's to remove.
    public static func passwordCustody(
        tenant: Int64, appObjectID: String?, jobs: [Int64], on executor: some PostgresExecutor
    ) async throws -> PasswordCustodyRecords {
        // The kind is checked here, not in SQL (`rowAndAppCredentials` says why).
        let rows = try await executor.query(
            """
            SELECT c.kind, c.key_id::text, NULL::bigint, NULL::boolean
              FROM (\(rowAndAppCredentials(tenant: tenant, appObjectID: appObjectID))) c
            UNION ALL
            SELECT NULL, NULL, id, state IN ('queued', 'running', 'waiting') FROM onboarder.jobs
             WHERE id = ANY(\(Array(Set(jobs)))) AND tenant_id = \(tenant)
            """)
        var records = PasswordCustodyRecords()
        for row in rows {
            let (kind, keyID, job, working) = try row.decode((String?, String?, Int64?, Bool?).self)
            if kind == "password", let keyID { records.recorded.insert(keyID.lowercased()) }
            if let job {
                records.ours.insert(job)
                if working == true { records.busy.insert(job) }
            }
        }
        return records
    }

    /// The credentials (any state but removed) of customer row `tenant` and of its app, whichever customer row
    /// recorded them: the same Entra tenant enqueued under another key (or by another MSP) is another row, and its
    /// PBX holds one of them. Rows of `onboarder.credentials`, for a statement to select from. Two lookups, each
    /// by its own index, and no condition on the kind: for `tenant_id = … OR app_object_id = …` with `kind =
    /// 'password'`, the plan PostgreSQL made while the table had no statistics yet (a new installation's first
    /// customers) walked every password by the kind, and a worker's session kept that plan as the table grew
    /// (`CredentialLookupTests`).
    static func rowAndAppCredentials(tenant: Int64, appObjectID: String?) -> PostgresFragment {
        """
        SELECT * FROM onboarder.credentials WHERE tenant_id = \(tenant) AND state <> 'removed'
        UNION ALL
        SELECT * FROM onboarder.credentials
         WHERE app_object_id = \(appObjectID)::uuid AND tenant_id <> \(tenant) AND state <> 'removed'
        """
    }

    /// Records a password Onboarder added (`active`, or `pending` while a rotation proves and hands it
    /// over); returns its credential id.
    @discardableResult
    public static func insertPassword(
        tenant: Int64, job: Int64, appObjectID: String, keyID: String, displayName: String, sealed: String,
        expires: Date?, state: CredentialState = .active, on executor: some PostgresExecutor
    ) async throws -> Int64 {
        let record = passwordRecord(
            tenant: tenant, job: job, appObjectID: appObjectID, keyID: keyID, displayName: displayName,
            sealed: sealed, expires: expires, state: state)
        return try await executor.query("\(record.statement) RETURNING id").single()[0].decode(Int64.self)
    }

    /// `insertPassword` as a write of the step's checkpoint (`complete(alongside:)`), when the step needs
    /// not the credential's id.
    public static func passwordRecord(
        tenant: Int64, job: Int64, appObjectID: String, keyID: String, displayName: String, sealed: String,
        expires: Date?, state: CredentialState = .active
    ) -> CheckpointWrite {
        CheckpointWrite(
            statement: """
                INSERT INTO onboarder.credentials (tenant_id, kind, source, state, app_object_id, key_id, display_name,
                    sealed, expires_at, job_id)
                VALUES (\(tenant), 'password', 'addPassword', \(state), \(appObjectID)::uuid, \(keyID)::uuid,
                    \(displayName), \(sealed), \(expires), \(job))
                """)
    }

    /// The sealed client secret of the tenant's newest active password.
    public static func activePassword(tenant: Int64, on executor: some PostgresExecutor) async throws
        -> ActivePassword?
    {
        let rows = try await executor.query("\(activePasswordQuery(tenant: tenant))")
        guard let row = rows.first else { return nil }
        let (id, keyID, sealed) = try row.decode((Int64, String, String).self)
        return ActivePassword(id: id, keyID: keyID, sealed: sealed)
    }

    /// `activePassword`'s statement: its row, or none.
    static func activePasswordQuery(tenant: Int64) -> PostgresFragment {
        """
        SELECT id, key_id::text, sealed FROM onboarder.credentials
         WHERE tenant_id = \(tenant) AND kind = 'password' AND state = 'active' ORDER BY id DESC LIMIT 1
        """
    }

    /// The sealed secret (or key) of credential `id`.
    public static func sealedCredential(id: Int64, on executor: some PostgresExecutor) async throws -> String {
        try await executor.query("SELECT sealed FROM onboarder.credentials WHERE id = \(id)").single()[0]
            .decode(String.self)
    }

    /// When `onboarder secret export` showed credential `id` (nil: not yet).
    public static func exportedAt(credential id: Int64, on executor: some PostgresExecutor) async throws -> Date? {
        try await executor.query("SELECT exported_at FROM onboarder.credentials WHERE id = \(id)").single()[0]
            .decode(Date?.self)
    }

    /// A rotation's end: the new password active, the old one removed.
    public static func replacePassword(old: Int64?, new: Int64?, on executor: some PostgresExecutor) async throws {
        try await executor.query(
            """
            UPDATE onboarder.credentials SET state = CASE WHEN id = \(new) THEN 'active' ELSE 'removed' END,
                   removed_at = CASE WHEN id = \(new) THEN NULL ELSE now() END, updated_at = now()
             WHERE id IN (\(new), \(old))
            """)
    }

    /// Credential `id` recorded removed (once: a removed one keeps its first removal time).
    public static func markRemoved(credential id: Int64?, on executor: some PostgresExecutor) async throws {
        try await executor.query(
            """
            UPDATE onboarder.credentials SET state = 'removed', removed_at = now(), updated_at = now()
             WHERE id = \(id) AND state <> 'removed'
            """)
    }

    /// The tenant's certificates that are, or are about to be, on its app.
    public static func certificates(tenant: Int64, on executor: some PostgresExecutor) async throws
        -> [StoredCertificate]
    {
        try await executor.query("\(certificatesQuery(tenant: tenant)) ORDER BY id").map { row in
            let (id, state, source, thumbprint, pem, sealed, name) = try row.decode(
                (Int64, CredentialState, String, String, String, String?, String).self)
            return StoredCertificate(
                id: id, state: state, source: source, thumbprint: thumbprint, pem: pem, sealedKey: sealed,
                displayName: name)
        }
    }

    /// `certificates`' statement, unordered.
    static func certificatesQuery(tenant: Int64) -> PostgresFragment {
        """
        SELECT id, state, source, thumbprint, certificate_pem, sealed, display_name FROM onboarder.credentials
         WHERE tenant_id = \(tenant) AND kind = 'certificate' AND state IN ('supplied', 'pending', 'active', 'superseded')
        """
    }

    /// Records a certificate: `pending` (generated, about to be uploaded) or `supplied` (from the PBX).
    /// Returns false when the tenant already has that certificate.
    @discardableResult
    public static func insertCertificate(
        tenant: Int64, job: Int64?, state: CredentialState, source: String, thumbprint: String, pem: String,
        sealedKey: String?, displayName: String, expires: Date, on executor: some PostgresExecutor
    ) async throws -> Bool {
        let rows = try await executor.query(
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

    public static func activateCertificate(
        id: Int64, appObjectID: String, keyID: String?, on executor: some PostgresExecutor
    ) async throws {
        try await executor.query("\(certificateActivation(id: id, appObjectID: appObjectID, keyID: keyID).statement)")
    }

    /// `activateCertificate` as a write of the step's checkpoint (`complete(alongside:)`).
    public static func certificateActivation(id: Int64, appObjectID: String, keyID: String?) -> CheckpointWrite {
        CheckpointWrite(
            statement: """
                UPDATE onboarder.credentials SET state = 'active', app_object_id = \(appObjectID)::uuid,
                       key_id = \(keyID)::uuid, updated_at = now()
                 WHERE id = \(id)
                """)
    }

    /// The credential of `kind` (`password`, `certificate`) a rotation job replaces, nil when the tenant
    /// has none by that id.
    public static func rotationTarget(
        credential id: Int64, tenant: Int64, kind: String, on executor: some PostgresExecutor
    ) async throws -> RotationTarget? {
        let rows = try await executor.query(
            """
            SELECT i.entra_tenant_id::text, i.app_object_id::text, i.app_id::text,
                   coalesce(c.key_id::text, c.thumbprint), c.state
              FROM onboarder.credentials c JOIN onboarder.integrations i ON i.tenant_id = c.tenant_id
             WHERE c.id = \(id) AND c.tenant_id = \(tenant) AND c.kind = \(kind)
            """)
        guard let row = rows.first else { return nil }
        let (entraTenantID, appObjectID, appID, identifier, state) = try row.decode(
            (String?, String?, String?, String, CredentialState).self)
        return RotationTarget(
            entraTenantID: entraTenantID, appObjectID: appObjectID, appID: appID, identifier: identifier, state: state)
    }
}
