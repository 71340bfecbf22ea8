import Store
import Testing

@testable import Pipeline

@Suite("OffboardPlan: what an offboarding removes, from what its survey read")
struct OffboardPlanTests {
    typealias Action = OffboardPlan.Action

    static let app: OffboardSurvey.App = {
        var app = OffboardSurvey.App(objectID: "o1", appID: "a1", displayName: "3CX", recorded: true)
        app.passwords = [
            .init(identifier: "k1", displayName: "PBX Secret", recorded: true),
            .init(identifier: "k2", displayName: "by hand", recorded: false),
        ]
        app.certificates = [.init(identifier: "AB12", recorded: true)]
        app.servicePrincipalID = "sp1"
        app.appRoleIDs = ["r1", "r2"]
        app.delegatedScopes = ["User.Read"]
        return app
    }()

    /// A Teams customer as onboarding leaves it: PBX configured, user, domain, a leftover TXT value, the app.
    static func teams(keepDomain: Bool = false, manualDNS: Bool = false) -> OffboardSurvey {
        var survey = OffboardSurvey(path: "teams", keepDomain: keepDomain)
        survey.customerTenantID = "t"
        survey.apps = [app]
        survey.pbx = .init(tenantID: "t", applicationID: "a1", selectedUsers: [], teamsEnabled: true, sbcFQDN: "sbc.x")
        survey.sbcDomain = "sbc.x"
        survey.domainInTenant = true
        survey.activationUser = .init(id: "u1", userPrincipalName: "teams-activation@sbc.x")
        survey.dns = .init(name: "sbc.x", zone: "x", manual: manualDNS, values: manualDNS ? [] : ["MS=ms123"])
        return survey
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let survey: OffboardSurvey
        let actions: [Action]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "teams, everything there: PBX first, user before domain before TXT, app last",
            survey: teams(),
            actions: [
                .clearMicrosoft365, .disableTeams, .deleteUser(id: "u1", userPrincipalName: "teams-activation@sbc.x"),
                .deleteDomain("sbc.x"), .removeTXT(name: "sbc.x", zone: "x", values: ["MS=ms123"]),
                .deleteApplication(objectID: "o1", appID: "a1"),
            ]),
        Case(
            name: "teams, --keep-domain: domain, TXT and user stay",
            survey: teams(keepDomain: true),
            actions: [.clearMicrosoft365, .disableTeams, .deleteApplication(objectID: "o1", appID: "a1")]),
        Case(
            name: "teams, DNS published by hand: the operator is told",
            survey: teams(manualDNS: true),
            actions: [
                .clearMicrosoft365, .disableTeams, .deleteUser(id: "u1", userPrincipalName: "teams-activation@sbc.x"),
                .deleteDomain("sbc.x"), .tellOperatorTXT(name: "sbc.x", zone: "x"),
                .deleteApplication(objectID: "o1", appID: "a1"),
            ]),
        Case(
            name: "what is already gone is not in the plan (a run after the removals, or removed by hand)",
            survey: {
                var survey = OffboardSurvey(path: "teams", keepDomain: false)
                survey.pbx = .init(
                    tenantID: "", applicationID: "", selectedUsers: [], teamsEnabled: false, sbcFQDN: nil)
                survey.sbcDomain = "sbc.x"
                survey.dns = .init(name: "sbc.x", zone: "x", manual: false, values: [])
                return survey
            }(),
            actions: []),
        Case(
            name: "m365: the selected users alone make the PBX page worth clearing; a second app by unique name too",
            survey: {
                var survey = OffboardSurvey(path: "m365", keepDomain: false)
                survey.pbx = .init(
                    tenantID: "", applicationID: "", selectedUsers: ["alice@x"], teamsEnabled: false, sbcFQDN: "")
                survey.apps = [app, .init(objectID: "o2", appID: "a2", displayName: "3CX", recorded: false)]
                return survey
            }(),
            actions: [
                .clearMicrosoft365, .deleteApplication(objectID: "o1", appID: "a1"),
                .deleteApplication(objectID: "o2", appID: "a2"),
            ]),
        Case(
            name: "a domain not in the tenant is not deleted (its user and TXT still are)",
            survey: {
                var survey = teams()
                survey.domainInTenant = false
                survey.pbx = nil
                return survey
            }(),
            actions: [
                .deleteUser(id: "u1", userPrincipalName: "teams-activation@sbc.x"),
                .removeTXT(name: "sbc.x", zone: "x", values: ["MS=ms123"]),
                .deleteApplication(objectID: "o1", appID: "a1"),
            ]),
        Case(
            name: "a PBX pointed at another tenant since serves that one: kept, the rest removed",
            survey: {
                var survey = teams()
                survey.pbx?.tenantID = "another"
                return survey
            }(),
            actions: [
                .deleteUser(id: "u1", userPrincipalName: "teams-activation@sbc.x"), .deleteDomain("sbc.x"),
                .removeTXT(name: "sbc.x", zone: "x", values: ["MS=ms123"]),
                .deleteApplication(objectID: "o1", appID: "a1"),
            ]),
        Case(
            name: "the tenant id is compared without regard to case",
            survey: {
                var survey = teams(keepDomain: true)
                survey.pbx?.tenantID = "T"
                return survey
            }(),
            actions: [.clearMicrosoft365, .disableTeams, .deleteApplication(objectID: "o1", appID: "a1")]),
        Case(
            name: "a survey checkpointed before the tenant id was kept clears the PBX as before",
            survey: {
                var survey = teams(keepDomain: true)
                survey.customerTenantID = nil
                survey.pbx?.tenantID = "another"
                return survey
            }(),
            actions: [.clearMicrosoft365, .disableTeams, .deleteApplication(objectID: "o1", appID: "a1")]),
    ]

    @Test(arguments: cases) func actions(_ example: Case) {
        #expect(OffboardPlan.actions(example.survey) == example.actions)
    }

    /// Each step applies its own part, and together the steps apply the whole plan once.
    @Test func theStepsShareThePlanOutWithoutOverlap() {
        let survey = Self.teams()
        let perStep = Step.offboarding(dryRun: false).flatMap { OffboardPlan.actions(for: $0, survey) }
        #expect(perStep == OffboardPlan.actions(survey))
        #expect(Step.offboarding(dryRun: true) == [.offboardSurvey])
    }

    @Test func theLinesNameEveryObjectReadIncludingOnesOnboarderDidNotRecord() {
        let lines = OffboardPlan.lines(Self.teams()).joined(separator: "\n")
        for expected in [
            "remove PBX Microsoft 365 integration", "remove PBX Teams integration: SbcFQDN sbc.x",
            "remove activation user teams-activation@sbc.x", "remove domain sbc.x",
            "remove DNS TXT record sbc.x \"MS=ms123\"", "remove application 3CX (appId a1, object id o1)",
            "with client secret k1", "with client secret k2 \"by hand\" (not recorded by Onboarder)",
            "with certificate AB12", "with service principal sp1: 2 application permission(s), delegated User.Read",
            "restorable for 30 days",
        ] {
            #expect(lines.contains(expected), "missing: \(expected)\n\(lines)")
        }
        var elsewhere = Self.teams()
        elsewhere.pbx?.tenantID = "another"
        let keptPBX = OffboardPlan.lines(elsewhere).joined(separator: "\n")
        #expect(
            keptPBX.contains("keep the PBX's integration: it serves another tenant now (TenantId another, not t)")
                && !keptPBX.contains("remove PBX"), "\(keptPBX)")
        let kept = OffboardPlan.lines(Self.teams(keepDomain: true)).joined(separator: "\n")
        #expect(kept.contains("keep domain sbc.x") && kept.contains("keep activation user"))
        #expect(!kept.contains("remove domain") && !kept.contains("remove activation user"))
        #expect(
            OffboardPlan.lines(OffboardSurvey(path: "m365", keepDomain: false)) == [
                "nothing to remove: the tenant and the PBX hold nothing of the integration"
            ])
    }

    @Test(arguments: [
        ("teams-activation@sbc.x", "7F3A2B10-aaaa", "c.onmicrosoft.com", "teams-activation-7f3a2b10@c.onmicrosoft.com"),
        ("x@y.z", "1234", "d.example", "x-1234@d.example"),
    ])
    func theActivationUserIsParkedOnTheDefaultDomain(_ upn: String, _ id: String, _ domain: String, _ expected: String)
    {
        #expect(OffboardPlan.parkedName(of: upn, id: id, defaultDomain: domain) == expected)
    }
}
