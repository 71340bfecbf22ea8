import Testing

@testable import Pipeline

@Suite("SBCName: the Teams path's SBC domain")
struct SBCNameTests {
    @Test(
        arguments: [
            // (sbc_domain, default domain, tenant key, parent, expected)
            ("Voice.Contoso.com", nil, "contoso.onmicrosoft.com", "sbc.msp.example", "voice.contoso.com"),
            ("Contoso", nil, "x", "SBC.msp.example", "contoso.sbc.msp.example"),
            (nil, "contoso.onmicrosoft.com", "2f1e…", "sbc.msp.example", "contoso.sbc.msp.example"),
            (nil, nil, "Fabrikam.onmicrosoft.com", "sbc.msp.example", "fabrikam.sbc.msp.example"),
            (nil, nil, "6f7e8a9b-1c2d-4e3f-8a9b-0c1d2e3f4a5b", "sbc.msp.example", nil),
            ("contoso", nil, "x", "", nil),
            ("voice.contoso.com", nil, "x", "", "voice.contoso.com"),
        ] as [(String?, String?, String, String, String?)])
    func fqdn(_ given: String?, _ defaultDomain: String?, _ key: String, _ parent: String, _ expected: String?) {
        #expect(
            SBCName.fqdn(sbcDomain: given, defaultDomain: defaultDomain, tenantKey: key, parent: parent) == expected)
    }
}
