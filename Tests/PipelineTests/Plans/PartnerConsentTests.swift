import Testing

@testable import Pipeline

@Suite("PartnerConsent: whether the partner app's consent in a tenant lets the job go on, or what it waits for")
struct PartnerConsentTests {
    static let all = Set(PartnerConsent.requiredRoles + PartnerConsent.optionalRoles)

    @Test(
        arguments: [
            (
                "no service principal", PartnerConsent.Seen.noServicePrincipal,
                PartnerConsent.waiting(missing: PartnerConsent.requiredRoles.sorted(), servicePrincipal: false)
            ),
            (
                "consent unreadable", .unreadable,
                .waiting(missing: ["Application.ReadWrite.All"], servicePrincipal: true)
            ),
            ("every role", .roles(all), .granted(optionalMissing: [])),
            (
                "every required role, no AuditLog", .roles(Set(PartnerConsent.requiredRoles)),
                .granted(optionalMissing: ["AuditLog.Read.All"])
            ),
            (
                "partial: Domain.ReadWrite.All missing", .roles(all.subtracting(["Domain.ReadWrite.All"])),
                .waiting(missing: ["Domain.ReadWrite.All"], servicePrincipal: true)
            ),
            (
                "two missing, sorted", .roles(all.subtracting(["User.ReadWrite.All", "Application.ReadWrite.All"])),
                .waiting(missing: ["Application.ReadWrite.All", "User.ReadWrite.All"], servicePrincipal: true)
            ),
            (
                "a service principal with no roles", .roles([]),
                .waiting(missing: PartnerConsent.requiredRoles.sorted(), servicePrincipal: true)
            ),
        ] as [(String, PartnerConsent.Seen, PartnerConsent)])
    func decides(_ name: String, _ seen: PartnerConsent.Seen, _ expected: PartnerConsent) {
        #expect(PartnerConsent.decide(seen) == expected, "\(name)")
    }

    @Test func grantedNamesCountOnlyMicrosoftGraphsRoles() {
        let names = PartnerConsent.grantedRoleNames(
            assignedRoleIDs: [("GRAPH", "R1"), ("graph", "r2"), ("other", "r3"), ("graph", "unknown")],
            resource: "graph", appRoles: ["r1": "User.ReadWrite.All", "R2": "Domain.ReadWrite.All", "r3": "X"])
        #expect(names == ["User.ReadWrite.All", "Domain.ReadWrite.All"])
    }

    @Test(arguments: [
        (
            "https://login.microsoftonline.com", "contoso.onmicrosoft.com", "abc",
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/adminconsent?client_id=abc"
        ),
        (
            "https://login.microsoftonline.us/", "11111111-2222-4333-8444-555555555555", "abc",
            "https://login.microsoftonline.us/11111111-2222-4333-8444-555555555555/adminconsent?client_id=abc"
        ),
        (
            "https://login.chinacloudapi.cn", "a b/../c", "x&y",
            "https://login.chinacloudapi.cn/a%20b%2F..%2Fc/adminconsent?client_id=x%26y"
        ),
    ])
    func adminConsentURL(_ login: String, _ tenant: String, _ client: String, _ expected: String) {
        #expect(PartnerConsent.adminConsentURL(loginBaseURL: login, tenant: tenant, clientID: client) == expected)
    }

    @Test func theMessageNamesTheLinkAndWhatIsMissing() {
        let message = PartnerConsent.waitMessage(
            customer: "contoso", clientID: "abc", missing: ["Domain.ReadWrite.All"], servicePrincipal: true,
            url: "https://l/t/adminconsent?client_id=abc")
        #expect(message.hasPrefix("waiting for input: "))
        #expect(message.contains("without Domain.ReadWrite.All"))
        #expect(message.contains("https://l/t/adminconsent?client_id=abc"))
        #expect(message.contains("onboarder consent links"))
    }
}
