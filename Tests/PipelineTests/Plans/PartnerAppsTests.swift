import Crypto
import Graph
import Store
import Testing

@testable import Pipeline

/// Which partner app a job of an MSP signs in with (`PartnerApps.resolve`), and where.
@Suite struct PartnerAppsTests {
    let vault: SecretVault

    init() throws { vault = try SecretVault(keys: [EncryptionKey.generate(id: "k1")]) }

    var configured: OnboardingSettings {
        var settings = OnboardingSettings()
        settings.loginBaseURL = "https://sim.test/login"
        settings.graphBaseURL = "https://sim.test/graph/v1.0"
        settings.partnerTenantID = "11111111-1111-4111-8111-111111111111"
        settings.partnerClientID = "22222222-2222-4222-8222-222222222222"
        settings.partnerCredential = .secret("configured secret")
        return settings
    }

    func ownApp(_ msp: String, cloud: String = "global", sealedFor sealingMSP: String? = nil) throws -> MSPProfile {
        var profile = MSPProfile(id: msp)
        profile.cloud = cloud
        profile.partnerTenantID = "33333333-3333-4333-8333-333333333333"
        profile.partnerClientID = "44444444-4444-4444-8444-444444444444"
        profile.partnerSecretSealed = try vault.seal(
            "acme's secret", context: MSPProfile.sealingContext(column: "partner_secret", msp: sealingMSP ?? msp))
        profile.writesPerSecond = 5
        return profile
    }

    @Test func anMSPWithoutAnAppOfItsOwnUsesTheConfiguredOne() throws {
        let app = try PartnerApps.resolve(MSPProfile(id: "solo"), settings: configured, vault: vault)
        #expect(app.clientID == configured.partnerClientID)
        #expect(app.isConfigured)
        #expect(app.endpoints.loginBaseURL == "https://sim.test/login")
        #expect(app.endpoints.graphBaseURL == "https://sim.test/graph/v1.0")
        #expect(app.endpoints.graphScope == "https://graph.microsoft.com/.default")
        guard case .secret(let secret) = app.credential else { Issue.record("not the configured secret"); return }
        #expect(secret == "configured secret")
    }

    @Test func anMSPWithItsOwnAppSignsInWithItsOwnSealedSecret() throws {
        let app = try PartnerApps.resolve(try ownApp("acme"), settings: configured, vault: vault)
        #expect(app.clientID == "44444444-4444-4444-8444-444444444444")
        #expect(app.homeTenantID == "33333333-3333-4333-8333-333333333333")
        #expect(!app.isConfigured)
        #expect(app.writesPerSecond == 5)
        guard case .secret(let secret) = app.credential else { Issue.record("not its own secret"); return }
        #expect(secret == "acme's secret")
    }

    @Test func aSecretSealedForAnotherMSPDoesNotOpen() throws {
        #expect(throws: PartnerAppError.self) {
            try PartnerApps.resolve(try ownApp("acme", sealedFor: "globex"), settings: configured, vault: vault)
        }
    }

    @Test func anOwnAppWithoutACredentialIsRefused() throws {
        var profile = try ownApp("acme")
        profile.partnerSecretSealed = nil
        #expect(throws: PartnerAppError.self) { try PartnerApps.resolve(profile, settings: configured, vault: vault) }
    }

    @Test func anotherCloudUsesItsDocumentedEndpointsUnlessOverridden() throws {
        let documented = try PartnerApps.resolve(try ownApp("fed", cloud: "usgov"), settings: configured, vault: vault)
        #expect(documented.endpoints.loginBaseURL == "https://login.microsoftonline.us")
        #expect(documented.endpoints.graphBaseURL == "https://graph.microsoft.us/v1.0")
        #expect(documented.endpoints.graphScope == "https://graph.microsoft.us/.default")
        #expect(documented.reportsBaseURL == "https://graph.microsoft.us/beta")
        var settings = configured
        settings.cloudOverrides[.usgov] = CloudEndpoints(
            loginBaseURL: "https://sim.test/login", graphBaseURL: "https://sim.test/graph/v1.0",
            graphScope: "https://graph.microsoft.us/.default", partnerCenterBaseURL: nil)
        let overridden = try PartnerApps.resolve(try ownApp("fed", cloud: "usgov"), settings: settings, vault: vault)
        #expect(overridden.endpoints.loginBaseURL == "https://sim.test/login")
        #expect(overridden.endpoints.graphScope == "https://graph.microsoft.us/.default")
    }

    @Test func anotherCloudNeverFallsBackToTheConfiguredGlobalApp() {
        var profile = MSPProfile(id: "fed")
        profile.cloud = "usgov"
        #expect(throws: PartnerAppError.self) { try PartnerApps.resolve(profile, settings: configured, vault: vault) }
    }

    @Test(arguments: Cloud.allCases) func everyCloudHasAGraphScopeOnItsGraphHost(_ cloud: Cloud) {
        let endpoints = CloudEndpoints.documented(cloud)
        #expect(endpoints.graphBaseURL.hasSuffix("/v1.0"))
        #expect(endpoints.graphScope == String(endpoints.graphBaseURL.dropLast(5)) + "/.default")
    }
}
