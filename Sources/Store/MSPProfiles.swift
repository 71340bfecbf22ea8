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
    /// Sealed (`og1.…`, context `MSPProfile.sealingContext`), read only by `MSPProfiles.load` with
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
    /// One MSP; with `withSecrets` also its sealed credentials (workers only: operators may not read them).
    /// Read through `MSPRecords`, the one reader of these tables.
    public static func load(
        _ id: String, withSecrets: Bool = false, on executor: some PostgresExecutor
    ) async throws -> MSPProfile? {
        guard let row = try await MSPRecords.load(id, on: executor) else { return nil }
        let secrets = withSecrets ? try await MSPRecords.secrets([id], on: executor)[id] : nil
        return MSPProfile(row: row, secrets: secrets)
    }
}

extension MSPProfile {
    /// The profile of a row as `MSPRecords` reads it, with its secrets row if the caller read one.
    public init(row: MSPRow, secrets: MSPSecretsRow?) {
        self.init(id: row.id, displayName: row.displayName)
        cloud = row.cloud
        partnerTenantID = row.partnerTenantID
        partnerClientID = row.partnerClientID
        consentMode = row.consentMode
        dnsProvider = row.dnsProvider
        dnsZone = row.dnsZone
        dnsServer = row.dnsServer
        dnsBaseURL = row.dnsBaseURL
        dnsTSIGKeyName = row.dnsTSIGKeyName
        dnsTSIGAlgorithm = row.dnsTSIGAlgorithm
        allowedPBXHosts = row.allowedPBXHosts
        maxRunning = row.maxRunning
        writesPerSecond = row.writesPerSecond
        partnerSecretSealed = secrets?.partnerSecretSealed
        partnerCertificatePEM = secrets?.partnerCertificatePEM
        partnerKeySealed = secrets?.partnerKeySealed
        dnsSecretSealed = secrets?.dnsSecretSealed
    }
}
