import Foundation
import Graph
import Testing

@testable import Pipeline

@Suite("GDAPSelection: which GDAP customers qualify, and why each other is skipped")
struct GDAPSelectionTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15
    static let future = "2027-06-01T00:00:00.1234567Z"  // seven fractional digits, as Graph writes them
    static let past = "2026-12-01T10:00:00Z"
    static let pra = GDAPSelection.Role.privilegedRoleAdministrator
    static let ga = GDAPSelection.Role.globalAdministrator
    static let cloudApps = GDAPSelection.Role.cloudApplicationAdministrator
    static let tenant = "52eaad04-13a2-4a2f-9ce8-93a294fadf36"

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var listed = true
        var relationships: [GraphDelegatedAdminRelationship]
        var filter = GDAPFilter()
        var expected: GDAPSelection.Outcome
        var testDescription: String { name }
    }

    static func relationship(
        _ id: String, _ status: String?, end: String? = future, roles: [String] = [pra]
    ) -> GraphDelegatedAdminRelationship {
        GraphDelegatedAdminRelationship(
            id: id, status: status, endDateTime: end, customerTenantID: tenant.uppercased(),
            customerName: "Contoso (relationship)", roles: roles)
    }

    static let cases: [Case] = [
        Case(
            name: "active, not ended, holding Privileged Role Administrator",
            relationships: [relationship("r1", "active")], expected: .qualifies(relationships: ["r1"])),
        Case(
            name: "Global Administrator meets the requirement too",
            relationships: [relationship("r1", "active", roles: [ga])], expected: .qualifies(relationships: ["r1"])),
        Case(
            name: "Cloud Application Administrator cannot consent to Graph app roles",
            relationships: [relationship("r1", "active", roles: [cloudApps])],
            expected: .skipped(.missingRoles([pra]))),
        Case(
            name: "status expired", relationships: [relationship("r1", "expired", end: past)],
            expected: .skipped(.expired(end: past))),
        Case(
            name: "still active but its end is past", relationships: [relationship("r1", "active", end: past)],
            expected: .skipped(.expired(end: past))),
        Case(
            name: "terminated", relationships: [relationship("r1", "terminated", end: past)],
            expected: .skipped(.notActive(statuses: ["terminated"]))),
        Case(
            name: "waiting for the customer's approval",
            relationships: [relationship("r1", "approvalPending", end: nil)],
            expected: .skipped(.notActive(statuses: ["approvalPending"]))),
        Case(
            name: "listed as a customer with no relationship listed", relationships: [],
            expected: .skipped(.noRelationship)),
        Case(
            name: "an expired one beside an active one: the active one counts",
            relationships: [relationship("old", "expired", end: past), relationship("new", "active")],
            expected: .qualifies(relationships: ["new"])),
        Case(
            name: "the role in an expired relationship does not count",
            relationships: [
                relationship("old", "expired", end: past), relationship("new", "active", roles: [cloudApps]),
            ],
            expected: .skipped(.missingRoles([pra]))),
        Case(
            name: "only in the relationships list (Microsoft deleted the customer): still reported",
            listed: false, relationships: [relationship("r1", "expired", end: past)],
            expected: .skipped(.expired(end: past))),
        Case(
            name: "an unreadable end date is not trusted",
            relationships: [relationship("r1", "active", end: "soon")], expected: .skipped(.expired(end: "soon"))),
        Case(
            name: "filtered out before anything else",
            relationships: [relationship("r1", "active")], filter: GDAPFilter(["fabrikam"]),
            expected: .skipped(.filteredOut)),
        Case(
            name: "a substring of the display name, any case",
            relationships: [relationship("r1", "active")], filter: GDAPFilter(["CONTO"]),
            expected: .qualifies(relationships: ["r1"])),
        Case(
            name: "a glob over the whole name",
            relationships: [relationship("r1", "active")], filter: GDAPFilter(["c*ltd", "c?ntoso*"]),
            expected: .qualifies(relationships: ["r1"])),
        Case(
            name: "a glob must match the whole name",
            relationships: [relationship("r1", "active")], filter: GDAPFilter(["contoso"]).with("*ltd"),
            expected: .qualifies(relationships: ["r1"])),
        Case(
            name: "the tenant id matches too",
            relationships: [relationship("r1", "active")], filter: GDAPFilter(["52eaad04-*"]),
            expected: .qualifies(relationships: ["r1"])),
    ]

    @Test(arguments: cases)
    func decides(_ c: Case) {
        let customers =
            c.listed
            ? [GraphDelegatedAdminCustomer(id: Self.tenant, tenantId: Self.tenant, displayName: "Contoso Ltd")] : []
        let decisions = GDAPSelection.decide(
            customers: customers, relationships: c.relationships, filter: c.filter, now: Self.now)
        #expect(decisions.count == 1)
        #expect(decisions.first?.customer.tenantID == Self.tenant)
        #expect(decisions.first?.outcome == c.expected)
        // The customers list's name wins over the relationship's.
        if c.listed { #expect(decisions.first?.customer.displayName == "Contoso Ltd") }
    }

    @Test func globsMatchWholeNamesOnly() {
        #expect(GDAPFilter.glob(Array("c*ltd"), Array("contoso ltd")))
        #expect(!GDAPFilter.glob(Array("c*ltd"), Array("contoso ltd.")))
        #expect(GDAPFilter.glob(Array("*"), Array("")))
        #expect(!GDAPFilter.glob(Array("?"), Array("")))
        #expect(GDAPFilter.glob(Array("a*b*c"), Array("aXXbYYc")))
        #expect(!GDAPFilter.glob(Array("a*b*c"), Array("aXXcYYb")))
    }

    @Test func reasonsNameTheRole() {
        #expect(
            GDAPSelection.Skip.missingRoles([Self.pra]).description
                == "GDAP relationship lacks the role Privileged Role Administrator (e8611ab8-c189-46e8-94e1-60213ab1f814)"
        )
    }

    @Test func severalCustomersInNameOrder() {
        let other = "8777b240-c6f0-4469-9e98-a3205431b836"
        let decisions = GDAPSelection.decide(
            customers: [
                GraphDelegatedAdminCustomer(id: "1", tenantId: Self.tenant, displayName: "Zeta"),
                GraphDelegatedAdminCustomer(id: "2", tenantId: other, displayName: "alpha"),
            ],
            relationships: [Self.relationship("r1", "active")], now: Self.now)
        #expect(decisions.map(\.customer.displayName) == ["alpha", "Zeta"])
        #expect(decisions.map(\.outcome) == [.skipped(.noRelationship), .qualifies(relationships: ["r1"])])
    }
}

extension GDAPFilter {
    fileprivate func with(_ pattern: String) -> GDAPFilter { GDAPFilter(patterns + [pattern]) }
}

@Suite("GDAPSnapshot: a snapshot is used only for its MSP, for a day")
struct GDAPSnapshotTests {
    @Test func aSnapshotIsCheckedBeforeUse() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let snapshot = GDAPSnapshot(
            msp: "acme", partnerTenantID: "t", readAt: now.addingTimeInterval(-3600), customers: [], relationships: [])
        #expect(snapshot.problem(msp: "acme", now: now) == nil)
        #expect(snapshot.problem(msp: "other", now: now) == "it lists the GDAP customers of MSP acme, not other")
        #expect(
            snapshot.problem(msp: "acme", now: now.addingTimeInterval(86_400))?.hasSuffix("export it again") == true)
        let decoded = try JSONDecoder().decode(GDAPSnapshot.self, from: try snapshot.encoded())
        #expect(decoded == snapshot)
    }
}
