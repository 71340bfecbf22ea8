import Testing

@testable import Pipeline

@Suite("Onboarding settings")
struct SettingsTests {
    @Test(
        arguments: [
            ("https://graph.microsoft.com/v1.0", nil, "https://graph.microsoft.com/beta"),
            ("http://127.0.0.1:8080/v1.0", "", "http://127.0.0.1:8080/beta"),
            ("https://graph.microsoft.com/v1.0", "https://proxy.example/beta", "https://proxy.example/beta"),
            ("https://graph.example/custom", nil, "https://graph.example/custom"),
        ] as [(String, String?, String)])
    func theReportsBaseIsGraphsBetaUnlessSet(_ graph: String, _ setting: String?, _ expected: String) {
        var settings = OnboardingSettings()
        settings.graphBaseURL = graph
        settings.graphReportsBaseURLSetting = setting
        #expect(settings.graphReportsBaseURL == expected)
    }

    @Test(
        arguments: [
            ("{pbx_url}/api/callback", "https://pbx.example.com/", "https://pbx.example.com/api/callback"),
            ("{pbx_url}/cb?from={pbx_url}", "https://pbx.example", "https://pbx.example/cb?from=https://pbx.example"),
            ("https://fixed.example/cb", "https://pbx.example.com", "https://fixed.example/cb"),
            ("{pbx_url", "https://pbx.example.com", "{pbx_url"),
            ("x{pbx_url}{pbx_url}", "https://p", "xhttps://phttps://p"),
        ] as [(String, String, String)])
    func theRedirectURIFillsEveryPlaceholderWithThePBXsBaseURL(_ template: String, _ pbx: String, _ expected: String) {
        var settings = OnboardingSettings()
        settings.redirectURITemplate = template
        #expect(settings.redirectURI(pbxURL: pbx) == expected)
    }

    @Test func thePBXsCertificateIsTheDefault() {
        #expect(OnboardingSettings().certificateSource == "pbx")
        #expect(!OnboardingSettings().generatesCertificates)
    }
}
