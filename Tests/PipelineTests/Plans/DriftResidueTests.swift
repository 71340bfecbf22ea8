import Foundation
import Testing

@testable import Pipeline

@Suite("DriftPlan: what is left of an offboarded customer (offboard-residue)")
struct DriftResidueTests {
    static let tenant = "11111111-1111-1111-1111-111111111111"

    static func baseline(path: String = "teams", keepDomain: Bool = false) -> ResidueBaseline {
        ResidueBaseline(
            path: path, entraTenantID: tenant, appObjectID: "obj1", appID: "app1",
            sbcFQDN: path == "teams" ? "c.sbc.example" : nil,
            activationUPN: path == "teams" ? "teams-activation@c.sbc.example" : nil, keepDomain: keepDomain,
            undestroyedCredentials: [])
    }

    /// As an offboarding leaves it: no app, no domain or activation user, the PBX cleared.
    static func clean(path: String = "teams", keepDomain: Bool = false) -> ResidueObservation {
        let teamsRead = path == "teams" && !keepDomain
        return ResidueObservation(
            applications: [], domainInTenant: teamsRead ? false : nil,
            activationUserInTenant: teamsRead ? false : nil,
            pbx: .init(tenantID: "", applicationID: "", teamsEnabled: false, sbcFQDN: nil), pbxUnread: nil)
    }

    static func names(_ findings: [DriftFinding]) -> [String] { findings.map(\.description) }

    @Test(arguments: ["m365", "teams"]) func nothingLeftIsNoFinding(_ path: String) {
        #expect(DriftPlan.residueFindings(Self.baseline(path: path), Self.clean(path: path)) == [])
    }

    @Test(
        arguments: [
            // (what is left, the findings)
            ("recorded app restored", ["offboard-residue application app1"]),
            ("another app with the unique name", ["offboard-residue application app2"]),
            ("both apps", ["offboard-residue application app1", "offboard-residue application app2"]),
            ("activation user", ["offboard-residue activation-user teams-activation@c.sbc.example"]),
            ("domain", ["offboard-residue domain c.sbc.example"]),
            ("pbx tenant id", ["offboard-residue pbx Microsoft365Integration"]),
            ("pbx app id", ["offboard-residue pbx Microsoft365Integration"]),
            (
                "pbx tenant id and teams on",
                ["offboard-residue pbx Microsoft365Integration", "offboard-residue pbx Microsoft365TeamsIntegration"]
            ),
            ("teams on, no tenant", ["offboard-residue pbx Microsoft365TeamsIntegration"]),
            ("teams off on the customer's SBC name", ["offboard-residue pbx Microsoft365TeamsIntegration"]),
            ("pbx onboarded to another tenant", []),
            ("pbx unread", ["audit-failed pbx"]),
            ("credential active", ["offboard-residue credential k1"]),
            ("credential removed, sealed kept", ["offboard-residue credential k1"]),
        ] as [(String, [String])])
    func eachResidue(_ left: String, _ expected: [String]) {
        var baseline = Self.baseline()
        var seen = Self.clean()
        let recorded = ResidueObservation.Application(objectID: "OBJ1", appID: "APP1", displayName: "Onboarder")
        let other = ResidueObservation.Application(objectID: "obj2", appID: "app2", displayName: "by hand")
        switch left {
        case "recorded app restored": seen.applications = [recorded]
        case "another app with the unique name": seen.applications = [other]
        case "both apps": seen.applications = [other, recorded]
        case "activation user": seen.activationUserInTenant = true
        case "domain": seen.domainInTenant = true
        case "pbx tenant id": seen.pbx?.tenantID = Self.tenant.uppercased()
        case "pbx app id": seen.pbx?.applicationID = "APP1"
        case "pbx tenant id and teams on":
            seen.pbx = .init(tenantID: Self.tenant, applicationID: "app1", teamsEnabled: true, sbcFQDN: "c.sbc.example")
        case "teams on, no tenant": seen.pbx?.teamsEnabled = true
        case "teams off on the customer's SBC name": seen.pbx?.sbcFQDN = "C.sbc.example"
        case "pbx onboarded to another tenant":
            seen.pbx = .init(
                tenantID: "22222222-2222-2222-2222-222222222222", applicationID: "app9", teamsEnabled: true,
                sbcFQDN: "other.sbc.example")
        case "pbx unread":
            seen.pbx = nil
            seen.pbxUnread = "https://pbx.example: The PBX's API secret cannot be read"
        case "credential active":
            baseline.undestroyedCredentials = [.init(kind: "password", state: "active", id: "k1", sealed: true)]
        case "credential removed, sealed kept":
            baseline.undestroyedCredentials = [.init(kind: "password", state: "removed", id: "k1", sealed: true)]
        default: Issue.record("no such residue \(left)")
        }
        let findings = DriftPlan.residueFindings(baseline, seen)
        #expect(Self.names(findings) == expected, "\(left)")
        // Each says how it is removed; none is an onboarding's to repair.
        for finding in findings where finding.finding == DriftFinding.offboardResidue {
            #expect(finding.detail.contains("onboarder offboard"), "\(left): \(finding.detail)")
            #expect(!finding.repairable, "\(left)")
        }
    }

    /// A domain the offboarding kept (`keep_domain`) is not residue, nor its activation user: neither is read.
    @Test func aKeptDomainIsNotResidue() {
        var seen = Self.clean(keepDomain: true)
        seen.domainInTenant = true
        seen.activationUserInTenant = true
        #expect(DriftPlan.residueFindings(Self.baseline(keepDomain: true), seen) == [])
        #expect(
            Self.names(DriftPlan.residueFindings(Self.baseline(keepDomain: false), seen)) == [
                "offboard-residue activation-user teams-activation@c.sbc.example",
                "offboard-residue domain c.sbc.example",
            ])
    }

    /// The Microsoft 365 path has no domain or activation user of Onboarder's: nothing of them is residue.
    @Test func theMicrosoft365PathHasNoDomainResidue() {
        var seen = Self.clean(path: "m365")
        seen.domainInTenant = true
        seen.activationUserInTenant = true
        #expect(DriftPlan.residueFindings(Self.baseline(path: "m365"), seen) == [])
    }
}
