import Foundation
import Postgres

/// An MSP as `onboarder.msps` (and, for workers, `onboarder.msp_secrets`) records it: its cloud, its own
/// partner app if it has one, its consent route, DNS provider and limits. nil fields fall back to the
/// configuration (the "default MSP" of a single-MSP install).
public struct MSPProfile: Sendable, Equatable {
    public var id: String
    public var displayName: String
    /// `global`, `usgov` or `china` (`Graph.Cloud`'s raw values).
    public var cloud: String
    /// The MSP's own tenant and partner app (both or neither). nil: the configuration's partner app.
    public var partnerTenantID: String?
    public var partnerClientID: String?
    /// `links` or `partner-center`.
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
    /// Sealed (`og1.…`, context `MSPProfile.sealingContext`), read only by `load(_:withSecrets:)` with
    /// `withSecrets`, which needs the worker's privilege on `onboarder.msp_secrets`.
    public var partnerSecretSealed: String?
    public var partnerCertificatePEM: String?
    public var partnerKeySealed: String?
    public var dnsSecretSealed: String?

    public init(id: String, displayName: String? = nil) {
        self.id = id
        self.displayName = displayName ?? id
        self.cloud = "global"
        self.consentMode = "links"
    }

    /// The context a sealed `onboarder.msp_secrets` value is bound to: `column` without `_sealed`
    /// (`partner_secret`, `partner_key`, `dns_secret`) and the MSP, so a value copied to another row or
    /// column does not open.
    public static func sealingContext(column: String, msp: String) -> String {
        "onboarder.msp_secrets/\(column)/\(msp)"
    }

    /// Whether the MSP names a partner app of its own.
    public var hasOwnPartnerApp: Bool { partnerClientID != nil }
}

public enum MSPProfiles {
    static let columns = """
        m.id, m.display_name, m.cloud, m.partner_tenant_id::text, m.partner_client_id::text, m.consent_mode,
        m.dns_provider, m.dns_zone, m.dns_server, m.dns_base_url, m.dns_tsig_key_name, m.dns_tsig_algorithm,
        m.allowed_pbx_hosts, m.max_running, m.writes_per_second::float8
        """

    /// One MSP; with `withSecrets` also its sealed credentials (workers only: operators may not read them).
    public static func load(
        _ id: String, withSecrets: Bool = false, on executor: some PostgresExecutor
    ) async throws -> MSPProfile? {
        let rows: PostgresRows
        if withSecrets {
            rows = try await executor.query(
                """
                SELECT \(unsafeSQL: columns), s.partner_secret_sealed, s.partner_certificate_pem,
                       s.partner_key_sealed, s.dns_secret_sealed
                  FROM onboarder.msps m LEFT JOIN onboarder.msp_secrets s ON s.msp_id = m.id
                 WHERE m.id = \(id)
                """)
        } else {
            rows = try await executor.query(
                "SELECT \(unsafeSQL: columns) FROM onboarder.msps m WHERE m.id = \(id)")
        }
        guard let row = rows.first else { return nil }
        var profile = try decode(row)
        if withSecrets {
            profile.partnerSecretSealed = try row[15].decode(String?.self)
            profile.partnerCertificatePEM = try row[16].decode(String?.self)
            profile.partnerKeySealed = try row[17].decode(String?.self)
            profile.dnsSecretSealed = try row[18].decode(String?.self)
        }
        return profile
    }

    /// Every MSP the login may see (row-level security), by id; without sealed values.
    public static func list(on executor: some PostgresExecutor) async throws -> [MSPProfile] {
        try await executor.query("SELECT \(unsafeSQL: columns) FROM onboarder.msps m ORDER BY m.id").map(decode)
    }

    static func decode(_ row: PostgresRow) throws -> MSPProfile {
        var profile = MSPProfile(id: try row[0].decode(String.self), displayName: try row[1].decode(String.self))
        profile.cloud = try row[2].decode(String.self)
        profile.partnerTenantID = try row[3].decode(String?.self)
        profile.partnerClientID = try row[4].decode(String?.self)
        profile.consentMode = try row[5].decode(String.self)
        profile.dnsProvider = try row[6].decode(String?.self)
        profile.dnsZone = try row[7].decode(String?.self)
        profile.dnsServer = try row[8].decode(String?.self)
        profile.dnsBaseURL = try row[9].decode(String?.self)
        profile.dnsTSIGKeyName = try row[10].decode(String?.self)
        profile.dnsTSIGAlgorithm = try row[11].decode(String?.self)
        profile.allowedPBXHosts = try row[12].decode([String]?.self)
        profile.maxRunning = try row[13].decode(Int?.self)
        profile.writesPerSecond = try row[14].decode(Double?.self)
        return profile
    }
}
