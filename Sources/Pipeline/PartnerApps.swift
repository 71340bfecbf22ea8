import Foundation
import Graph
import Postgres
import Store

/// The partner app a job signs in to its customer's tenant with: its MSP's own (from `onboarder.msps` and
/// `onboarder.msp_secrets`), or the configuration's for an MSP that names none.
public struct PartnerApp: Sendable {
    public var mspID: String
    public var clientID: String
    /// The MSP's own tenant, where the app is registered ("" when the configuration does not say).
    public var homeTenantID: String
    public var credential: ClientCredential
    public var cloud: Cloud
    public var endpoints: CloudEndpoints
    /// Graph beta for the per-credential sign-in report.
    public var reportsBaseURL: String
    /// Graph writes per second across all workers (nil: no limit of its own).
    public var writesPerSecond: Double?
    /// `links` or `partner-center`.
    public var consentMode: String
    /// Whether this is the configuration's partner app.
    public var isConfigured: Bool
}

/// Why an MSP's partner app cannot be used; a job stops for attention with it (the text is log-safe: it
/// never holds a secret).
public struct PartnerAppError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Each MSP's partner app, read from the database and opened with the vault, kept for a short while so a
/// batch of a thousand jobs reads its MSP's row once, not a thousand times, and an `onboarder msp set`
/// reaches running workers within `freshness`.
public actor PartnerApps {
    let settings: OnboardingSettings
    let vault: SecretVault
    let freshness: Duration
    private var cached: [String: (app: PartnerApp, at: ContinuousClock.Instant)] = [:]

    public init(settings: OnboardingSettings, vault: SecretVault, freshness: Duration = .seconds(30)) {
        self.settings = settings
        self.vault = vault
        self.freshness = freshness
    }

    /// The partner app of `msp`; throws `PartnerAppError` when it is misconfigured.
    public func app(for msp: String, on executor: some PostgresExecutor) async throws -> PartnerApp {
        if let entry = cached[msp], ContinuousClock.now - entry.at < freshness { return entry.app }
        let profile = try await MSPProfiles.load(msp, withSecrets: true, on: executor) ?? MSPProfile(id: msp)
        let app = try Self.resolve(profile, settings: settings, vault: vault)
        cached[msp] = (app, ContinuousClock.now)
        return app
    }

    /// The partner app an MSP's profile gives: pure but for opening sealed values.
    public static func resolve(_ profile: MSPProfile, settings: OnboardingSettings, vault: SecretVault) throws
        -> PartnerApp
    {
        guard let cloud = Cloud(rawValue: profile.cloud) else {
            throw PartnerAppError("MSP \(profile.id): unknown cloud \(profile.cloud)")
        }
        let endpoints = settings.endpoints(for: cloud)
        let reports = cloud == .global ? settings.graphReportsBaseURL : endpoints.graphReportsBaseURL
        guard let clientID = profile.partnerClientID else {
            // The default MSP: the configuration's partner app, which lives in the global configuration's cloud.
            guard cloud == .global else {
                throw PartnerAppError(
                    "MSP \(profile.id) is on the \(cloud.rawValue) cloud but names no partner app of its own, and the configured one is a global-cloud app: onboarder msp set \(profile.id) --partner-client-id … --partner-tenant-id …"
                )
            }
            guard let credential = settings.partnerCredential, !settings.partnerClientID.isEmpty else {
                throw PartnerAppError(
                    "No partner app is configured: set partner.client_id and partner.certificate_path (or partner.client_secret), or give MSP \(profile.id) its own with onboarder msp set."
                )
            }
            return PartnerApp(
                mspID: profile.id, clientID: settings.partnerClientID, homeTenantID: settings.partnerTenantID,
                credential: credential, cloud: cloud, endpoints: endpoints, reportsBaseURL: reports,
                writesPerSecond: profile.writesPerSecond, consentMode: profile.consentMode, isConfigured: true)
        }
        let credential: ClientCredential
        do {
            if let certificate = profile.partnerCertificatePEM, let sealedKey = profile.partnerKeySealed {
                let key = try vault.open(
                    sealedKey, context: MSPProfile.sealingContext(column: "partner_key", msp: profile.id))
                credential = try ClientCredential.certificate(certificatePEM: certificate, keyPEM: key)
            } else if let sealed = profile.partnerSecretSealed {
                credential = .secret(
                    try vault.open(
                        sealed, context: MSPProfile.sealingContext(column: "partner_secret", msp: profile.id)))
            } else {
                throw PartnerAppError(
                    "MSP \(profile.id)'s partner app \(clientID) has no credential: onboarder msp set \(profile.id) --partner-certificate FILE (or --partner-secret-stdin)"
                )
            }
        } catch let error as PartnerAppError {
            throw error
        } catch {
            throw PartnerAppError("MSP \(profile.id)'s partner app credential cannot be opened: \(error)")
        }
        return PartnerApp(
            mspID: profile.id, clientID: clientID, homeTenantID: profile.partnerTenantID ?? "", credential: credential,
            cloud: cloud, endpoints: endpoints, reportsBaseURL: reports, writesPerSecond: profile.writesPerSecond,
            consentMode: profile.consentMode, isConfigured: false)
    }
}
