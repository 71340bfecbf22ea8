import Foundation
import Postgres

/// An MSP's row in `onboarder.msps` as `onboarder msp` edits and shows it (migration 0009 has the columns'
/// meaning; NULL is nil).
public struct MSPRow: Sendable, Equatable {
    public var id: String
    public var displayName: String
    public var cloud: String
    public var partnerTenantID: String?
    public var partnerClientID: String?
    public var consentMode: String
    public var dnsProvider: String?
    public var dnsZone: String?
    public var dnsServer: String?
    public var dnsBaseURL: String?
    public var dnsTSIGKeyName: String?
    public var dnsTSIGAlgorithm: String?
    public var allowedPBXHosts: [String]?
    public var maxRunning: Int?
    public var writesPerSecond: Double?
    public var createdAt: Date?
    public var updatedAt: Date?

    public init(
        id: String, displayName: String, cloud: String = "global", partnerTenantID: String? = nil,
        partnerClientID: String? = nil, consentMode: String = "links", dnsProvider: String? = nil,
        dnsZone: String? = nil, dnsServer: String? = nil, dnsBaseURL: String? = nil, dnsTSIGKeyName: String? = nil,
        dnsTSIGAlgorithm: String? = nil, allowedPBXHosts: [String]? = nil, maxRunning: Int? = nil,
        writesPerSecond: Double? = nil, createdAt: Date? = nil, updatedAt: Date? = nil
    ) {
        self.id = id
        self.displayName = displayName
        self.cloud = cloud
        self.partnerTenantID = partnerTenantID
        self.partnerClientID = partnerClientID
        self.consentMode = consentMode
        self.dnsProvider = dnsProvider
        self.dnsZone = dnsZone
        self.dnsServer = dnsServer
        self.dnsBaseURL = dnsBaseURL
        self.dnsTSIGKeyName = dnsTSIGKeyName
        self.dnsTSIGAlgorithm = dnsTSIGAlgorithm
        self.allowedPBXHosts = allowedPBXHosts
        self.maxRunning = maxRunning
        self.writesPerSecond = writesPerSecond
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// An MSP's `onboarder.msp_secrets` row: sealed values (`og1.…`, contexts `onboarder.msp_secrets/<column
/// without _sealed>/<msp id>`) and the partner app's certificate, which is public.
public struct MSPSecretsRow: Sendable, Equatable {
    public var partnerSecretSealed: String?
    public var partnerCertificatePEM: String?
    public var partnerKeySealed: String?
    public var dnsSecretSealed: String?
    /// Whether a Partner Center refresh token is stored (`msp partner-center-token`; never read here, and never
    /// written by `msp add|set`).
    public var hasPartnerCenterToken = false

    public init(
        partnerSecretSealed: String? = nil, partnerCertificatePEM: String? = nil, partnerKeySealed: String? = nil,
        dnsSecretSealed: String? = nil
    ) {
        self.partnerSecretSealed = partnerSecretSealed
        self.partnerCertificatePEM = partnerCertificatePEM
        self.partnerKeySealed = partnerKeySealed
        self.dnsSecretSealed = dnsSecretSealed
    }

    public var isEmpty: Bool {
        partnerSecretSealed == nil && partnerCertificatePEM == nil && partnerKeySealed == nil && dnsSecretSealed == nil
    }
}

/// `onboarder msp add|set|show|list`'s statements. Writing needs the owner's login (only it may change
/// `msps` and `msp_secrets`); reading the secrets row needs the owner's or a worker's.
public enum MSPRecords {
    static let columns = """
        m.id, m.display_name, m.cloud, m.partner_tenant_id::text, m.partner_client_id::text, m.consent_mode,
        m.dns_provider, m.dns_zone, m.dns_server, m.dns_base_url, m.dns_tsig_key_name, m.dns_tsig_algorithm,
        m.allowed_pbx_hosts, m.max_running, m.writes_per_second::float8, m.created_at, m.updated_at
        """

    static func row(_ row: PostgresRow) throws -> MSPRow {
        MSPRow(
            id: try row[0].decode(String.self), displayName: try row[1].decode(String.self),
            cloud: try row[2].decode(String.self), partnerTenantID: try row[3].decode(String?.self),
            partnerClientID: try row[4].decode(String?.self), consentMode: try row[5].decode(String.self),
            dnsProvider: try row[6].decode(String?.self), dnsZone: try row[7].decode(String?.self),
            dnsServer: try row[8].decode(String?.self), dnsBaseURL: try row[9].decode(String?.self),
            dnsTSIGKeyName: try row[10].decode(String?.self), dnsTSIGAlgorithm: try row[11].decode(String?.self),
            allowedPBXHosts: try row[12].decode([String]?.self), maxRunning: try row[13].decode(Int?.self),
            writesPerSecond: try row[14].decode(Double?.self), createdAt: try row[15].decode(Date?.self),
            updatedAt: try row[16].decode(Date?.self))
    }

    /// One MSP (nil: none of that id this login may see); `lock` takes its row for update, so two `msp set`
    /// at once apply one after the other.
    public static func load(_ id: String, lock: Bool = false, on executor: some PostgresExecutor) async throws
        -> MSPRow?
    {
        let rows = try await executor.query(
            lock
                ? "SELECT \(unsafeSQL: columns) FROM onboarder.msps m WHERE m.id = \(id) FOR UPDATE"
                : "SELECT \(unsafeSQL: columns) FROM onboarder.msps m WHERE m.id = \(id)")
        return try rows.first.map(row)
    }

    /// Every MSP this login may see, by id.
    public static func all(on executor: some PostgresExecutor) async throws -> [MSPRow] {
        try await executor.query("SELECT \(unsafeSQL: columns) FROM onboarder.msps m ORDER BY m.id").map(row)
    }

    /// The secrets rows of `ids` (missing: none stored). Operators may not read them: the caller asks
    /// only when its login may (`mayReadSecrets`).
    public static func secrets(_ ids: [String], on executor: some PostgresExecutor) async throws -> [String:
        MSPSecretsRow]
    {
        let rows = try await executor.query(
            """
            SELECT msp_id, partner_secret_sealed, partner_certificate_pem, partner_key_sealed, dns_secret_sealed,
                   partner_center_refresh_token_sealed IS NOT NULL
              FROM onboarder.msp_secrets WHERE msp_id = ANY(\(ids)::text[])
            """)
        var result: [String: MSPSecretsRow] = [:]
        for row in rows {
            let (id, secret, certificate, key, dns) = try row.decode((String, String?, String?, String?, String?).self)
            result[id] = MSPSecretsRow(
                partnerSecretSealed: secret, partnerCertificatePEM: certificate, partnerKeySealed: key,
                dnsSecretSealed: dns)
            result[id]?.hasPartnerCenterToken = try row[5].decode(Bool.self)
        }
        return result
    }

    /// Whether this login may read `onboarder.msp_secrets` (the owner and workers; not MSP staff).
    public static func mayReadSecrets(on executor: some PostgresExecutor) async throws -> Bool {
        try await executor.query(
            "SELECT pg_catalog.has_table_privilege('onboarder.msp_secrets', 'SELECT')"
        ).single().decode(Bool.self)
    }

    /// Adds an MSP; false when one of that id exists (enqueue creates MSPs on first mention, too).
    public static func insert(_ msp: MSPRow, secrets: MSPSecretsRow, on connection: PostgresConnection) async throws
        -> Bool
    {
        do {
            let inserted = try await connection.query(
                """
                INSERT INTO onboarder.msps (id, display_name, cloud, partner_tenant_id, partner_client_id, consent_mode,
                                            dns_provider, dns_zone, dns_server, dns_base_url, dns_tsig_key_name,
                                            dns_tsig_algorithm, allowed_pbx_hosts, max_running, writes_per_second,
                                            updated_at)
                VALUES (\(msp.id), \(msp.displayName), \(msp.cloud), \(msp.partnerTenantID)::uuid,
                        \(msp.partnerClientID)::uuid, \(msp.consentMode), \(msp.dnsProvider), \(msp.dnsZone),
                        \(msp.dnsServer), \(msp.dnsBaseURL), \(msp.dnsTSIGKeyName), \(msp.dnsTSIGAlgorithm),
                        \(msp.allowedPBXHosts)::text[], \(msp.maxRunning)::integer, \(msp.writesPerSecond)::float8::real,
                        now())
                ON CONFLICT (id) DO NOTHING
                RETURNING id
                """)
            guard inserted.count == 1 else { return false }
            // A new MSP has no secrets row yet: nothing to write (or delete) when it brings no secret.
            if !secrets.isEmpty { try await writeSecrets(msp.id, secrets, on: connection) }
            return true
        }
    }

    /// Replaces an existing MSP's columns and secrets row with these (the caller read them with `load(lock:)`
    /// in the same transaction and changed what it was asked to).
    public static func update(_ msp: MSPRow, secrets: MSPSecretsRow, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            UPDATE onboarder.msps
               SET display_name = \(msp.displayName), cloud = \(msp.cloud), partner_tenant_id = \(msp.partnerTenantID)::uuid,
                   partner_client_id = \(msp.partnerClientID)::uuid, consent_mode = \(msp.consentMode),
                   dns_provider = \(msp.dnsProvider), dns_zone = \(msp.dnsZone), dns_server = \(msp.dnsServer),
                   dns_base_url = \(msp.dnsBaseURL), dns_tsig_key_name = \(msp.dnsTSIGKeyName),
                   dns_tsig_algorithm = \(msp.dnsTSIGAlgorithm), allowed_pbx_hosts = \(msp.allowedPBXHosts)::text[],
                   max_running = \(msp.maxRunning)::integer, writes_per_second = \(msp.writesPerSecond)::float8::real,
                   updated_at = now()
             WHERE id = \(msp.id)
            """)
        try await writeSecrets(msp.id, secrets, on: connection)
    }

    static func writeSecrets(_ id: String, _ secrets: MSPSecretsRow, on connection: PostgresConnection) async throws {
        if secrets.isEmpty {
            // Emptied, not deleted: the row also holds the Partner Center refresh token, which `msp set` does
            // not manage (`msp partner-center-token` does).
            try await connection.query(
                """
                UPDATE onboarder.msp_secrets
                   SET partner_secret_sealed = NULL, partner_certificate_pem = NULL, partner_key_sealed = NULL,
                       dns_secret_sealed = NULL, updated_at = now()
                 WHERE msp_id = \(id)
                """)
            return
        }
        try await connection.query(
            """
            INSERT INTO onboarder.msp_secrets (msp_id, partner_secret_sealed, partner_certificate_pem, partner_key_sealed,
                                               dns_secret_sealed, updated_at)
            VALUES (\(id), \(secrets.partnerSecretSealed), \(secrets.partnerCertificatePEM), \(secrets.partnerKeySealed),
                    \(secrets.dnsSecretSealed), now())
            ON CONFLICT (msp_id) DO UPDATE
               SET partner_secret_sealed = EXCLUDED.partner_secret_sealed,
                   partner_certificate_pem = EXCLUDED.partner_certificate_pem,
                   partner_key_sealed = EXCLUDED.partner_key_sealed, dns_secret_sealed = EXCLUDED.dns_secret_sealed,
                   updated_at = now()
            """)
    }
}

extension MSPRecords {
    /// The sealed columns of `onboarder.msp_secrets`, by the name their sealing context uses.
    public static let sealedColumns = [
        ("partner_secret", "partner_secret_sealed"), ("partner_key", "partner_key_sealed"),
        ("dns_secret", "dns_secret_sealed"), ("partner_center_refresh_token", "partner_center_refresh_token_sealed"),
    ]

    /// How many sealed MSP secrets are not under `keyID` (the workers' login may count them).
    public static func countNotUnder(keyID: String, on executor: some PostgresExecutor) async throws -> Int {
        let prefix = SealedText.prefix(keyID: keyID) + "%"
        return try await executor.query(
            """
            SELECT (count(*) FILTER (WHERE partner_secret_sealed NOT LIKE \(prefix))
                    + count(*) FILTER (WHERE partner_key_sealed NOT LIKE \(prefix))
                    + count(*) FILTER (WHERE dns_secret_sealed NOT LIKE \(prefix))
                    + count(*) FILTER (WHERE partner_center_refresh_token_sealed NOT LIKE \(prefix)))::int AS n
              FROM onboarder.msp_secrets
            """
        ).single().decode(Int.self, column: "n")
    }

    /// Whether this login may rewrite `onboarder.msp_secrets` (the owner).
    public static func mayWriteSecrets(on executor: some PostgresExecutor) async throws -> Bool {
        try await executor.query(
            "SELECT pg_catalog.has_table_privilege('onboarder.msp_secrets', 'UPDATE')"
        ).single().decode(Bool.self)
    }

    /// Re-seals every MSP secret not under `keyID`, one MSP per transaction: `reseal(sealed, column, msp)`
    /// opens it with its context and seals it again. Returns how many values were re-sealed.
    public static func reseal(
        notUnder keyID: String, on pool: PostgresPool, reseal: (String, String, String) throws -> String
    ) async throws -> Int {
        let prefix = SealedText.prefix(keyID: keyID) + "%"
        let ids = try await pool.query(
            """
            SELECT msp_id FROM onboarder.msp_secrets
             WHERE partner_secret_sealed NOT LIKE \(prefix) OR partner_key_sealed NOT LIKE \(prefix)
                OR dns_secret_sealed NOT LIKE \(prefix) OR partner_center_refresh_token_sealed NOT LIKE \(prefix)
             ORDER BY msp_id
            """
        ).map { try $0[0].decode(String.self) }
        var count = 0
        for id in ids {
            count += try await pool.transaction { connection in
                let row = try await connection.query(
                    """
                    SELECT partner_secret_sealed, partner_key_sealed, dns_secret_sealed,
                           partner_center_refresh_token_sealed
                      FROM onboarder.msp_secrets WHERE msp_id = \(id) FOR UPDATE
                    """
                ).single()
                let values = try row.decode((String?, String?, String?, String?).self)
                var resealed: [String?] = [values.0, values.1, values.2, values.3]
                var changed = 0
                for (index, (context, _)) in sealedColumns.enumerated() {
                    guard let sealed = resealed[index], !sealed.hasPrefix(SealedText.prefix(keyID: keyID)) else {
                        continue
                    }
                    resealed[index] = try reseal(sealed, context, id)
                    changed += 1
                }
                try await connection.query(
                    """
                    UPDATE onboarder.msp_secrets
                       SET partner_secret_sealed = \(resealed[0]), partner_key_sealed = \(resealed[1]),
                           dns_secret_sealed = \(resealed[2]), partner_center_refresh_token_sealed = \(resealed[3]),
                           updated_at = now()
                     WHERE msp_id = \(id)
                    """)
                return changed
            }
        }
        return count
    }
}
