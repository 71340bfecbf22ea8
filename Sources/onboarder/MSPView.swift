import Crypto
import Foundation
import Pipeline
import Store

/// An MSP as `onboarder msp show|list` prints it (pure): never a secret — a sealed one is "sealed secret
/// set", a certificate its SHA-1 thumbprint (as Entra shows it) and expiry.
struct MSPView: Equatable {
    let draft: MSPDraft
    /// False when this login may not read `onboarder.msp_secrets` (MSP staff): credentials are not known.
    let secretsVisible: Bool
    var createdAt: Date?
    var updatedAt: Date?
    /// Whether the admin agent's Partner Center refresh token is stored (`msp partner-center-token`).
    var partnerCenterToken = false

    init(row: MSPRow, secrets: MSPSecretsRow?, secretsVisible: Bool) {
        draft = MSPDraft(row: row, secrets: secrets)
        self.secretsVisible = secretsVisible
        partnerCenterToken = secrets?.hasPartnerCenterToken ?? false
        createdAt = row.createdAt
        updatedAt = row.updatedAt
    }

    init(draft: MSPDraft, secretsVisible: Bool = true) {
        self.draft = draft
        self.secretsVisible = secretsVisible
    }

    static let hidden = "(not visible to this login)"

    var partnerApp: String {
        guard let client = draft.partnerClientID, let tenant = draft.partnerTenantID else {
            return "the configuration's (partner.client_id)"
        }
        return "client id \(client) in tenant \(tenant)"
    }

    var credential: String { secretsVisible ? draft.credentialSummary : Self.hidden }

    /// The consent mode; for partner-center, whether its refresh token is there (never the token).
    var consent: String {
        guard draft.consentMode == "partner-center" else { return draft.consentMode }
        guard secretsVisible else { return "partner-center (refresh token \(Self.hidden))" }
        return partnerCenterToken
            ? "partner-center (sealed refresh token set)"
            : "partner-center (no refresh token: onboarder msp partner-center-token \(draft.id) --stdin)"
    }

    var dns: String {
        let columns = draft.dns
        guard let provider = columns.provider else {
            return columns.zone.map { "the configuration's provider (dns.provider), zone \($0)" }
                ?? "the configuration's (dns.*)"
        }
        var parts = [provider]
        if let zone = columns.zone { parts.append("zone \(zone)") }
        if let server = columns.server { parts.append("server \(server)") }
        if provider == "cloudflare" { parts.append("API \(columns.baseURL ?? MSPDNS.defaultCloudflareURL)") }
        if let name = columns.tsigKeyName {
            parts.append("TSIG key \(name) (\(columns.tsigAlgorithm ?? "hmac-sha256"))")
        }
        if MSPDNS.takesSecret(provider) {
            let what = provider == "cloudflare" ? "API token" : "TSIG secret"
            parts.append(
                !secretsVisible
                    ? "\(what) \(Self.hidden)" : draft.dnsSecret == .none ? "no \(what)!" : "sealed \(what) set")
        }
        return parts.joined(separator: ", ")
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    var text: String {
        var lines = ["MSP \(draft.id): \(draft.displayName)"]
        lines.append("  cloud:              \(draft.cloud)")
        lines.append("  partner app:        \(partnerApp)")
        if draft.partnerClientID != nil { lines.append("  partner credential: \(credential)") }
        lines.append("  consent:            \(consent)")
        lines.append("  DNS:                \(dns)")
        lines.append(
            "  allowed PBX hosts:  \(draft.allowedPBXHosts.map { $0.isEmpty ? "none" : $0.joined(separator: ", ") } ?? "any")"
        )
        lines.append("  max running:        \(draft.maxRunning.map(String.init) ?? "no limit of its own")")
        lines.append(
            "  writes per second:  \(draft.writesPerSecond.map(Self.number) ?? "the default (partner.writes_per_second)")"
        )
        let formatter = ISO8601DateFormatter()
        if let createdAt { lines.append("  created:            \(formatter.string(from: createdAt))") }
        if let updatedAt { lines.append("  updated:            \(formatter.string(from: updatedAt))") }
        return lines.joined(separator: "\n")
    }

    /// One JSON object (`--format json`); secrets only as whether they are set.
    var json: [String: Any] {
        var object: [String: Any] = [
            "id": draft.id, "display_name": draft.displayName, "cloud": draft.cloud, "consent": draft.consentMode,
            "partner_tenant_id": draft.partnerTenantID ?? NSNull(),
            "partner_client_id": draft.partnerClientID ?? NSNull(),
            "dns_provider": draft.dns.provider ?? NSNull(), "dns_zone": draft.dns.zone ?? NSNull(),
            "dns_server": draft.dns.server ?? NSNull(), "dns_base_url": draft.dns.baseURL ?? NSNull(),
            "dns_tsig_key_name": draft.dns.tsigKeyName ?? NSNull(),
            "dns_tsig_algorithm": draft.dns.tsigAlgorithm ?? NSNull(),
            "allowed_pbx_hosts": draft.allowedPBXHosts ?? NSNull(), "max_running": draft.maxRunning ?? NSNull(),
            "writes_per_second": draft.writesPerSecond ?? NSNull(),
        ]
        if secretsVisible {
            var credential: [String: Any] = ["kind": "none"]
            switch draft.credential {
            case .none: break
            case .storedSecret, .newSecret: credential = ["kind": "secret", "sealed": true]
            case .storedCertificate(let pem), .newCertificate(let pem, _):
                credential = ["kind": "certificate"]
                if let certificate = try? Certificate(pem: pem) {
                    credential["thumbprint"] = (try? certificate.sha1Thumbprint)?.map { String(format: "%02X", $0) }
                        .joined()
                    credential["expires"] = ISO8601DateFormatter().string(from: certificate.notAfter)
                }
            }
            object["partner_credential"] = credential
            object["dns_secret_set"] = draft.dnsSecret != .none
            object["partner_center_refresh_token_set"] = partnerCenterToken
        }
        let formatter = ISO8601DateFormatter()
        if let createdAt { object["created_at"] = formatter.string(from: createdAt) }
        if let updatedAt { object["updated_at"] = formatter.string(from: updatedAt) }
        return object
    }

    /// `msp list`: one line per MSP.
    static func table(_ views: [MSPView]) -> String {
        let header = ["MSP", "CLOUD", "PARTNER APP", "CONSENT", "DNS", "MAX RUNNING", "WRITES/S"]
        let rows = views.map { view -> [String] in
            let draft = view.draft
            return [
                draft.id, draft.cloud, draft.partnerClientID ?? "(configuration's)", draft.consentMode,
                draft.dns.provider.map { p in draft.dns.zone.map { "\(p) \($0)" } ?? p }
                    ?? draft.dns.zone.map { "(configuration's) \($0)" } ?? "(configuration's)",
                draft.maxRunning.map(String.init) ?? "-", draft.writesPerSecond.map(number) ?? "-",
            ]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

extension MSPDraft {
    /// The MSP as stored.
    init(row: MSPRow, secrets: MSPSecretsRow?) {
        self.init(id: row.id, displayName: row.displayName)
        cloud = row.cloud
        partnerTenantID = row.partnerTenantID
        partnerClientID = row.partnerClientID
        if let pem = secrets?.partnerCertificatePEM, secrets?.partnerKeySealed != nil {
            credential = .storedCertificate(pem: pem)
        } else if secrets?.partnerSecretSealed != nil {
            credential = .storedSecret
        }
        consentMode = row.consentMode
        dns = MSPDNS.Columns(
            provider: row.dnsProvider, zone: row.dnsZone, server: row.dnsServer, baseURL: row.dnsBaseURL,
            tsigKeyName: row.dnsTSIGKeyName, tsigAlgorithm: row.dnsTSIGAlgorithm)
        dnsSecret = secrets?.dnsSecretSealed == nil ? .none : .stored
        allowedPBXHosts = row.allowedPBXHosts
        maxRunning = row.maxRunning
        writesPerSecond = row.writesPerSecond
    }

    /// The rows to write: new secrets sealed with `seal(value, column)`, stored ones kept from `stored`.
    func rows(stored: MSPSecretsRow?, seal: (String, String) throws -> String) throws -> (MSPRow, MSPSecretsRow) {
        let row = MSPRow(
            id: id, displayName: displayName, cloud: cloud, partnerTenantID: partnerTenantID,
            partnerClientID: partnerClientID, consentMode: consentMode, dnsProvider: dns.provider, dnsZone: dns.zone,
            dnsServer: dns.server, dnsBaseURL: dns.baseURL, dnsTSIGKeyName: dns.tsigKeyName,
            dnsTSIGAlgorithm: dns.tsigAlgorithm, allowedPBXHosts: allowedPBXHosts, maxRunning: maxRunning,
            writesPerSecond: writesPerSecond)
        var secrets = MSPSecretsRow()
        switch credential {
        case .none: break
        case .storedSecret: secrets.partnerSecretSealed = stored?.partnerSecretSealed
        case .storedCertificate:
            secrets.partnerCertificatePEM = stored?.partnerCertificatePEM
            secrets.partnerKeySealed = stored?.partnerKeySealed
        case .newSecret(let value): secrets.partnerSecretSealed = try seal(value, "partner_secret")
        case .newCertificate(let certificate, let key):
            secrets.partnerCertificatePEM = certificate
            secrets.partnerKeySealed = try seal(key, "partner_key")
        }
        switch dnsSecret {
        case .none: break
        case .stored: secrets.dnsSecretSealed = stored?.dnsSecretSealed
        case .new(let value): secrets.dnsSecretSealed = try seal(value, "dns_secret")
        }
        return (row, secrets)
    }

    /// Whether writing needs the secrets key.
    var sealsSomething: Bool {
        if case .newSecret = credential { return true }
        if case .newCertificate = credential { return true }
        if case .new = dnsSecret { return true }
        return false
    }
}
