import Foundation
import Testing

@testable import Pipeline

@Suite("DriftPlan: what an audit's reads amount to, against what Onboarder recorded")
struct DriftPlanTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let redirect = "https://pbx.example/api/microsoft365/callback"

    static func baseline(path: String = "m365") -> DriftBaseline {
        DriftBaseline(
            path: path, appObjectID: "obj", appID: "app", redirectURI: redirect,
            roles: ["User.Read.All": "r1", "Domain.ReadWrite.All": "r2"], scopes: ["User.Read": "s1"],
            expectedPasswords: ["k1"], knownPasswords: ["k1", "k2"], expectedCertificates: ["AA"],
            knownCertificates: ["AA", "BB"], sbcFQDN: path == "teams" ? "c.sbc.example" : nil,
            activationUPN: path == "teams" ? "teams-activation@c.sbc.example" : nil,
            selectedUsers: path == "m365" ? ["alice@c.example", "Bob@c.example"] : [])
    }

    /// Everything as Onboarder left it.
    static func clean(path: String = "m365") -> DriftObservation {
        DriftObservation(
            application: .init(
                redirectURIs: [redirect], access: [("R1", "Role"), ("r2", "Role"), ("s1", "Scope")],
                passwords: [.init(id: "K1", end: now + 86_400)], certificates: [.init(id: "aa", end: nil)]),
            servicePrincipal: true, assignedRoles: ["R1", "r2"], grantedScopes: ["User.Read", "openid"],
            pbxProblem: nil, domain: path == "teams" ? .verified : nil,
            activationUser: path == "teams" ? .some(.init(enabled: true, licensed: true)) : nil,
            users: path == "m365"
                ? [
                    "alice@c.example": .init(enabled: true, licensed: true),
                    "bob@c.example": .init(enabled: true, licensed: true),
                ]
                : [:],
            now: now)
    }

    static func names(_ findings: [DriftFinding]) -> [String] { findings.map(\.description) }

    @Test(arguments: ["m365", "teams"]) func nothingDriftedIsNoFinding(_ path: String) {
        #expect(DriftPlan.findings(Self.baseline(path: path), Self.clean(path: path)) == [])
    }

    @Test(
        arguments: [
            // (what changed, the findings)
            ("app deleted", ["app-missing app"]),
            ("redirect changed", ["redirect-uri \(redirect)"]),
            ("permission dropped", ["permission-missing Domain.ReadWrite.All", "permission-missing User.Read"]),
            ("role revoked", ["role-assignment-missing User.Read.All"]),
            ("grant gone", ["delegated-grant User.Read"]),
            ("grant narrowed", ["delegated-grant User.Read"]),
            ("principal deleted", ["service-principal-missing app"]),
            ("secret added by hand", ["credential-unknown k9"]),
            ("rotation's pending secret", []),
            ("recorded secret removed", ["credential-missing k1"]),
            ("secret expired", ["credential-expired k1"]),
            ("certificate added by hand", ["credential-unknown CC"]),
            ("recorded certificate removed", ["credential-missing AA"]),
            ("pbx fails", ["pbx-test-failed"]),
            ("user deleted", ["user-missing Bob@c.example"]),
            ("licence removed", ["user-phone-system alice@c.example"]),
            ("no Phone System since onboarding, which warned", []),
            ("user not read", []),
            ("user disabled", ["user-disabled Bob@c.example"]),
        ] as [(String, [String])])
    func eachDrift(_ change: String, _ expected: [String]) {
        var seen = Self.clean()
        var baseline = Self.baseline()
        switch change {
        case "app deleted": seen.application = nil
        case "redirect changed": seen.application?.redirectURIs = ["https://elsewhere.example/callback"]
        case "permission dropped": seen.application?.access = [("r1", "Role")]
        case "role revoked": seen.assignedRoles = ["r2"]
        case "grant gone": seen.grantedScopes = nil
        case "grant narrowed": seen.grantedScopes = ["openid"]
        case "principal deleted": seen.servicePrincipal = false
        case "secret added by hand": seen.application?.passwords.append(.init(id: "k9", end: nil))
        case "rotation's pending secret": seen.application?.passwords.append(.init(id: "k2", end: nil))
        case "recorded secret removed": seen.application?.passwords = []
        case "secret expired": seen.application?.passwords = [.init(id: "k1", end: Self.now - 1)]
        case "certificate added by hand": seen.application?.certificates.append(.init(id: "cc", end: nil))
        case "recorded certificate removed": seen.application?.certificates = []
        case "pbx fails": seen.pbxProblem = "AADSTS7000215: Invalid client secret provided."
        case "user deleted": seen.users["bob@c.example"] = .some(nil)
        case "licence removed": seen.users["alice@c.example"] = .init(enabled: true, licensed: false)
        case "no Phone System since onboarding, which warned":
            baseline.withoutPhoneSystemWhenOnboarded = ["bob@c.example"]
            seen.users["bob@c.example"] = .init(enabled: true, licensed: false)
        case "user not read": seen.users["alice@c.example"] = nil
        case "user disabled": seen.users["bob@c.example"] = .init(enabled: false, licensed: true)
        default: Issue.record("no such change \(change)")
        }
        #expect(Self.names(DriftPlan.findings(baseline, seen)) == expected, "\(change)")
    }

    @Test(
        arguments: [
            ("domain unverified", ["domain-unverified c.sbc.example"]),
            ("domain removed", ["domain-unverified c.sbc.example"]),
            ("activation user unlicensed", ["activation-user teams-activation@c.sbc.example"]),
            ("activation user deleted", ["activation-user teams-activation@c.sbc.example"]),
        ] as [(String, [String])])
    func teamsDrift(_ change: String, _ expected: [String]) {
        var seen = Self.clean(path: "teams")
        switch change {
        case "domain unverified": seen.domain = .unverified
        case "domain removed": seen.domain = .absent
        case "activation user unlicensed": seen.activationUser = .some(.init(enabled: true, licensed: false))
        case "activation user deleted": seen.activationUser = .some(nil)
        default: Issue.record("no such change \(change)")
        }
        #expect(Self.names(DriftPlan.findings(Self.baseline(path: "teams"), seen)) == expected, "\(change)")
    }

    /// Several at once come out in one order (finding, then subject), whatever order they were seen in.
    @Test func findingsAreSortedAndEachNamesItsSubject() {
        var seen = Self.clean()
        seen.assignedRoles = []
        seen.application?.passwords.append(.init(id: "k9", end: nil))
        let findings = DriftPlan.findings(Self.baseline(), seen)
        #expect(
            Self.names(findings) == [
                "credential-unknown k9", "role-assignment-missing Domain.ReadWrite.All",
                "role-assignment-missing User.Read.All",
            ])
        #expect(findings.allSatisfy { $0.finding.wholeMatch(of: /[a-z][a-z0-9-]{0,62}/) != nil })
    }

    /// What repair (an onboarding) puts back, and what it leaves to people.
    @Test(
        arguments: [
            ("role-assignment-missing", true), ("delegated-grant", true), ("credential-missing", true),
            ("redirect-uri", true), ("activation-user", true), ("credential-unknown", false),
            ("user-missing", false), ("user-disabled", false), ("user-phone-system", false), ("audit-failed", false),
        ])
    func repairable(_ finding: String, _ expected: Bool) {
        #expect(DriftFinding(finding, "detail").repairable == expected)
    }
}
