import Graph
import Testing

@testable import Pipeline

@Suite("LicencePlan: Phone System and the activation user's licence")
struct LicencePlanTests {
    /// A SKU: id, part number, plans, enabled and consumed units.
    static func sku(_ id: String, _ part: String, _ plans: [String], enabled: Int = 10, consumed: Int = 0) -> String {
        let plans = plans.map { #"{"servicePlanName": "\#($0)"}"# }.joined(separator: ",")
        return
            #"{"skuId": "\#(id)", "skuPartNumber": "\#(part)", "consumedUnits": \#(consumed), "prepaidUnits": {"enabled": \#(enabled)}, "servicePlans": [\#(plans)]}"#
    }

    static func skus(_ items: String...) -> [GraphSubscribedSku] {
        graph([GraphSubscribedSku].self, "[\(items.joined(separator: ","))]")
    }

    static func user(_ upn: String, licences: [String]) -> GraphUser {
        let licences = licences.map { #"{"skuId": "\#($0)"}"# }.joined(separator: ",")
        return graph(
            GraphUser.self, #"{"id": "\#(upn)", "userPrincipalName": "\#(upn)", "assignedLicenses": [\#(licences)]}"#)
    }

    static let e5 = sku("e5", "SPE_E5", ["TEAMS1", "MCOEV"])
    static let e3 = sku("e3", "SPE_E3", ["TEAMS1"])
    static let fullE3 = sku("e3", "SPE_E3", ["TEAMS1"], enabled: 5, consumed: 5)
    static let exchange = sku("ex", "EXCHANGESTANDARD", ["EXCHANGE_S_STANDARD"])

    @Test(
        arguments: [
            ([e5], true), ([e3], false), ([e3, e5], true), ([], false),
        ] as [([String], Bool)])
    func phoneSystem(_ items: [String], _ expected: Bool) {
        #expect(LicencePlan.phoneSystemAvailable(Self.skus(items.joined(separator: ","))) == expected)
    }

    @Test(
        arguments: [
            ("holds a Teams licence already", ["e3"], [e3, e5], LicencePlan.ActivationLicence.held),
            ("the first SKU with Teams and a free unit", [], [exchange, fullE3, e5], .assign(skuID: "e5")),
            ("a licence without Teams does not count", ["ex"], [exchange, e3], .assign(skuID: "e3")),
            ("every Teams SKU used up", [], [fullE3], .noneFree(teamsSKUs: ["SPE_E3"])),
            ("no SKU with Teams at all", [], [exchange], .noneFree(teamsSKUs: [])),
        ] as [(String, [String], [String], LicencePlan.ActivationLicence)])
    func activationLicence(
        _ name: String, _ held: [String], _ items: [String], _ expected: LicencePlan.ActivationLicence
    ) {
        let skus = Self.skus(items.joined(separator: ","))
        #expect(LicencePlan.activationLicence(for: Self.user("a", licences: held), skus: skus) == expected, "\(name)")
    }

    @Test func usersWithoutPhoneSystemAreNamed() {
        let users = [
            Self.user("alice", licences: ["e5"]), Self.user("bob", licences: ["e3"]), Self.user("carol", licences: []),
            Self.user("dave", licences: ["E5"]),
        ]
        #expect(LicencePlan.withoutPhoneSystem(users, skus: Self.skus(Self.e5, Self.e3)) == ["bob", "carol"])
    }
}
