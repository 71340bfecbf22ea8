import Foundation
import Postgres

/// A client secret Onboarder created, as stored: sealed (encrypted), never in clear.
public struct SealedSecretRecord: Sendable, Equatable {
    public let id: Int64
    public let keyID: String
    public let sealed: String
    /// Exported to an operator before (`onboarder secret export`).
    public let exported: Bool
    public let expiresAt: Date?
}

/// A stored credential's sealed secret or private key, with what its sealing context is made of.
public struct SealedCredential: Sendable, Equatable {
    public let id: Int64
    public let tenantID: Int64
    /// `password` or `certificate`.
    public let kind: String
    public let sealed: String
}

/// The CLI's side of `onboarder.credentials`: handing a client secret over to an operator (`secret export`,
/// `handover sheet`), and re-sealing stored secrets under a new key (`onboarder keys rotate`). Opening and
/// sealing are the caller's (it holds the key file); this type reads and writes the rows.
public enum CredentialRecords {
    /// The customer's current client secret: the pending one (a rotation waiting for its hand-over) before
    /// the active one.
    public static func currentSecret(tenant: Int64, on executor: some PostgresExecutor) async throws
        -> SealedSecretRecord?
    {
        try await executor.query("\(currentSecretQuery(tenant: "\(tenant)"))").first.map(secretRecord)
    }

    /// The secret each of `waiting` hands over (`HandoverWaiting.handsOverASecret`), by job id, in one
    /// statement (a sheet lists hundreds): a secret rotation's new, pending secret; for an onboarding the
    /// customer's current one, as `currentSecret` finds it. A job with none recorded yet is absent.
    public static func handedOver(for waiting: [HandoverWaiting], on executor: some PostgresExecutor) async throws
        -> [Int64: SealedSecretRecord]
    {
        let jobs = waiting.filter(\.handsOverASecret)
        guard !jobs.isEmpty else { return [:] }
        let rows = try await executor.query(
            """
            SELECT w.job, s.id, s.key_id, s.sealed, s.exported, s.expires_at
              FROM unnest(\(jobs.map(\.jobID)), \(jobs.map(\.customerID)), \(jobs.map { $0.kind == "rotate-secret" }))
                   AS w(job, tenant, rotation)
             CROSS JOIN LATERAL (
                   SELECT * FROM (\(pendingSecretQuery(job: "w.job", tenant: "w.tenant"))) p WHERE w.rotation
                   UNION ALL
                   SELECT * FROM (\(currentSecretQuery(tenant: "w.tenant"))) c WHERE NOT w.rotation) s
            """)
        var secrets: [Int64: SealedSecretRecord] = [:]
        for row in rows {
            let (job, id, keyID, sealed, exported, expires) = try row.decode(
                (Int64, Int64, String, String, Bool, Date?).self)
            secrets[job] = SealedSecretRecord(
                id: id, keyID: keyID, sealed: sealed, exported: exported, expiresAt: expires)
        }
        return secrets
    }

    /// `currentSecret`'s statement for the customer `tenant` (a bound value, or a column of the statement
    /// it goes into).
    private static func currentSecretQuery(tenant: PostgresFragment) -> PostgresFragment {
        """
        SELECT id, key_id::text AS key_id, sealed, exported_at IS NOT NULL AS exported, expires_at
          FROM onboarder.credentials
         WHERE tenant_id = \(tenant) AND kind = 'password' AND state IN ('pending', 'active')
         ORDER BY state = 'pending' DESC, id DESC LIMIT 1
        """
    }

    /// The new secret rotation `job` of customer `tenant` made and has not put in use yet (`pending`): what its
    /// technician enters in the PBX. (The customer, for the credentials' index by customer: none by job.)
    private static func pendingSecretQuery(job: PostgresFragment, tenant: PostgresFragment) -> PostgresFragment {
        """
        SELECT id, key_id::text AS key_id, sealed, exported_at IS NOT NULL AS exported, expires_at
          FROM onboarder.credentials
         WHERE tenant_id = \(tenant) AND job_id = \(job) AND kind = 'password' AND state = 'pending'
         ORDER BY id DESC LIMIT 1
        """
    }

    private static func secretRecord(_ row: PostgresRow) throws -> SealedSecretRecord {
        let (id, keyID, sealed, exported, expires) = try row.decode((Int64, String, String, Bool, Date?).self)
        return SealedSecretRecord(id: id, keyID: keyID, sealed: sealed, exported: exported, expiresAt: expires)
    }

    /// Records that an operator was handed the secrets `credentials` (who, when, which key id — never the
    /// value) and wakes their rotations waiting for the hand-over, in one statement (a sheet shows hundreds);
    /// all or none.
    public static func recordExports(credentials: [Int64], actor: String?, on executor: some PostgresExecutor)
        async throws
    {
        guard !credentials.isEmpty else { return }
        try await executor.query("SELECT count(*) FROM onboarder.record_secret_exports(\(credentials), \(actor))")
    }

    /// Re-seals up to `limit` stored secrets that are not sealed under `keyID` yet, in one transaction
    /// (the executor's, when it is in one): `reseal` returns each one's new sealed text. Rows another
    /// `keys rotate` holds are skipped. Returns how many were re-sealed: fewer than `limit` means done.
    public static func resealBatch(
        notUnder keyID: String, limit: Int, on executor: some PostgresExecutor,
        reseal: (SealedCredential) throws -> String
    ) async throws -> Int {
        let prefix = SealedText.prefix(keyID: keyID)
        return try await executor.transaction(isolation: #isolation) { connection in
            let rows = try await connection.query(
                """
                SELECT id, tenant_id, kind, sealed FROM onboarder.credentials
                 WHERE sealed IS NOT NULL AND sealed NOT LIKE \(prefix + "%")
                 ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                """)
            for row in rows {
                let (id, tenant, kind, sealed) = try row.decode((Int64, Int64, String, String).self)
                let resealed = try reseal(SealedCredential(id: id, tenantID: tenant, kind: kind, sealed: sealed))
                try await connection.query(
                    "UPDATE onboarder.credentials SET sealed = \(resealed), updated_at = now() WHERE id = \(id)")
            }
            return rows.count
        }
    }

    /// The payload fields that may hold a `sealed:` secret reference.
    public static let sealedReferenceFields = ["pbx_secret", "tenant_client_secret"]

    /// Re-seals the `sealed:` references in job payloads that are not under `keyID` yet. `reseal` gets
    /// the sealed text (without `sealed:`), the job's MSP and customer (their sealing context), and returns
    /// the new sealed text, or nil to leave the value as it is (one bound to another MSP or customer, which
    /// the worker refuses). Each job's payload is one statement. Returns how many jobs were rewritten.
    public static func resealJobReferences(
        notUnder keyID: String, on executor: some PostgresExecutor,
        reseal: (_ sealed: String, _ msp: String, _ customer: String) throws -> String?
    ) async throws -> Int {
        let current = "sealed:" + SealedText.prefix(keyID: keyID) + "%"
        let jobs = try await executor.query(
            """
            SELECT j.id, j.msp_id, t.tenant_key, j.payload::text
              FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
             WHERE (j.payload->>'pbx_secret' LIKE 'sealed:og1.%' AND j.payload->>'pbx_secret' NOT LIKE \(current))
                OR (j.payload->>'tenant_client_secret' LIKE 'sealed:og1.%'
                    AND j.payload->>'tenant_client_secret' NOT LIKE \(current))
            """)
        var rewritten = 0
        for row in jobs {
            let (id, msp, customer, text) = try row.decode((Int64, String, String, String).self)
            guard var object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                continue
            }
            for key in sealedReferenceFields {
                guard let value = object[key] as? String, value.hasPrefix("sealed:"),
                    let resealed = try reseal(String(value.dropFirst(7)), msp, customer)
                else { continue }
                object[key] = "sealed:" + resealed
            }
            let json = PostgresJSON(
                text: String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
            try await executor.query("UPDATE onboarder.jobs SET payload = \(json) WHERE id = \(id)")
            rewritten += 1
        }
        return rewritten
    }

    /// How many stored secrets are sealed under another key than `keyID`.
    public static func countNotUnder(keyID: String, on executor: some PostgresExecutor) async throws -> Int {
        try await executor.query(
            """
            SELECT count(*)::int AS n FROM onboarder.credentials
             WHERE sealed IS NOT NULL AND sealed NOT LIKE \(SealedText.prefix(keyID: keyID) + "%")
            """
        ).single().decode(Int.self, column: "n")
    }
}

/// The text format of a sealed value: `og1.<key id>.…`.
public enum SealedText {
    public static func prefix(keyID: String) -> String { "og1.\(keyID)." }
}
