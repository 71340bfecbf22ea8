import Graph
import OnboarderConfig
import Pipeline
import Testing

@testable import onboarder

/// `microsoft.usgov_*` / `microsoft.china_*`: the national clouds' hosts, Microsoft's documented ones unless
/// the configuration names others; the token scope stays the cloud's own.
@Suite("The per-cloud URL keys feed OnboardingSettings.cloudOverrides")
struct CloudConfigTests {
    @Test func emptyKeysMeanMicrosoftsEndpoints() throws {
        let settings = try ResolvedConfiguration.load(file: nil, environment: [:]).onboardingSettings()
        #expect(settings.cloudOverrides.isEmpty)
        #expect(settings.endpoints(for: .usgov) == CloudEndpoints.documented(.usgov))
        #expect(settings.endpoints(for: .china).loginBaseURL == "https://login.chinacloudapi.cn")
    }

    @Test func setKeysOverrideTheHostsNotTheScope() throws {
        let config = try ResolvedConfiguration.load(
            file: nil,
            environment: [
                "ONBOARDER_MICROSOFT_USGOV_LOGIN_BASE_URL": "https://sim.example/",
                "ONBOARDER_MICROSOFT_USGOV_GRAPH_BASE_URL": "https://sim.example/v1.0",
                "ONBOARDER_MICROSOFT_CHINA_GRAPH_BASE_URL": "https://proxy.example/v1.0",
            ])
        let settings = try config.onboardingSettings()
        let usgov = settings.endpoints(for: .usgov)
        #expect(usgov.loginBaseURL == "https://sim.example")
        #expect(usgov.graphBaseURL == "https://sim.example/v1.0")
        #expect(usgov.graphScope == "https://graph.microsoft.us/.default")
        let china = settings.endpoints(for: .china)
        #expect(china.loginBaseURL == "https://login.chinacloudapi.cn")
        #expect(china.graphBaseURL == "https://proxy.example/v1.0")
        #expect(settings.endpoints(for: .global).loginBaseURL == "https://login.microsoftonline.com")
        // config check lists them with their source.
        #expect(config.setting(.usgovLoginBaseURL).source == .environment("ONBOARDER_MICROSOFT_USGOV_LOGIN_BASE_URL"))
    }

    @Test func aValueThatIsNotAURLIsRefusedByName() throws {
        let config = try ResolvedConfiguration.load(
            file: nil, environment: ["ONBOARDER_MICROSOFT_CHINA_LOGIN_BASE_URL": "login.chinacloudapi.cn"])
        #expect(throws: CleanExit.self) { try config.onboardingSettings() }
        do {
            _ = try config.onboardingSettings()
        } catch let error as CleanExit {
            #expect(error.description == "microsoft.china_login_base_url: login.chinacloudapi.cn is not an http(s) URL")
        }
    }
}
