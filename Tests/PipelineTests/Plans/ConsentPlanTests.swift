import Graph
import Testing

@testable import Pipeline

@Suite("ConsentPlan: the roles and scopes to add, and what is missing on read-back")
struct ConsentPlanTests {
    static let graphSP = "graph-sp"

    static func assignments(_ roles: [String], resource: String = graphSP) -> [GraphAppRoleAssignment] {
        graph(
            [GraphAppRoleAssignment].self,
            "["
                + roles.map { #"{"principalId": "p", "resourceId": "\#(resource)", "appRoleId": "\#($0)"}"# }
                .joined(separator: ",") + "]")
    }

    static func grant(_ scope: String, consent: String = "AllPrincipals", resource: String = graphSP)
        -> [GraphPermissionGrant]
    {
        graph(
            [GraphPermissionGrant].self,
            #"[{"id": "g1", "clientId": "p", "resourceId": "\#(resource)", "consentType": "\#(consent)", "scope": "\#(scope)"}]"#
        )
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var roles: Set<String>
        var scopes: Set<String>
        var assignments: [GraphAppRoleAssignment]
        var grants: [GraphPermissionGrant]
        var expected: ConsentPlan
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "nothing granted yet", roles: ["r2", "r1"], scopes: ["User.Read"], assignments: [], grants: [],
            expected: ConsentPlan(rolesToAssign: ["r1", "r2"], grant: .create(scopes: ["User.Read"]))),
        Case(
            name: "everything granted", roles: ["r1"], scopes: ["User.Read"], assignments: assignments(["r1"]),
            grants: grant("User.Read openid"), expected: ConsentPlan(rolesToAssign: [], grant: .none)),
        Case(
            name: "role ids compare case-blind", roles: ["R1"], scopes: [], assignments: assignments(["r1"]),
            grants: [],
            expected: ConsentPlan(rolesToAssign: [], grant: .none)),
        Case(
            name: "a role of another resource does not count", roles: ["r1"], scopes: [],
            assignments: assignments(["r1"], resource: "other"), grants: [],
            expected: ConsentPlan(rolesToAssign: ["r1"], grant: .none)),
        Case(
            name: "a grant lacking a scope is widened, not replaced", roles: [], scopes: ["User.Read", "Mail.Send"],
            assignments: [], grants: grant("openid User.Read"),
            expected: ConsentPlan(
                rolesToAssign: [], grant: .update(id: "g1", scopes: ["Mail.Send", "User.Read", "openid"]))),
        Case(
            name: "a single user's grant is not the tenant's", roles: [], scopes: ["User.Read"], assignments: [],
            grants: grant("User.Read", consent: "Principal"),
            expected: ConsentPlan(rolesToAssign: [], grant: .create(scopes: ["User.Read"]))),
        Case(
            name: "no scopes wanted: no grant", roles: [], scopes: [], assignments: [], grants: [],
            expected: ConsentPlan(rolesToAssign: [], grant: .none)),
    ]

    @Test(arguments: cases)
    func diff(_ example: Case) {
        #expect(
            ConsentPlan.diff(
                wantedRoles: example.roles, wantedScopes: example.scopes, resource: Self.graphSP,
                assignments: example.assignments, grants: example.grants) == example.expected)
    }

    @Test func readBackNamesWhatIsMissing() {
        #expect(
            ConsentPlan.missing(
                wantedRoles: ["r1"], wantedScopes: ["User.Read"], resource: Self.graphSP,
                assignments: Self.assignments(["r1"]), grants: Self.grant("User.Read")) == nil)
        #expect(
            ConsentPlan.missing(
                wantedRoles: ["r1", "r2"], wantedScopes: ["User.Read"], resource: Self.graphSP,
                assignments: Self.assignments(["r1"]), grants: [])
                == "consent not visible yet: 1 application role(s) and the delegated grant missing on read-back")
        #expect(
            ConsentPlan.missing(
                wantedRoles: ["r1"], wantedScopes: [], resource: Self.graphSP, assignments: [], grants: [])
                == "consent not visible yet: 1 application role(s) and no delegated grant missing on read-back")
    }
}
