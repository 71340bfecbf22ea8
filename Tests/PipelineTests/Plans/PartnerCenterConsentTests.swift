import Foundation
import Graph
import Testing

@testable import Pipeline

@Suite("PartnerCenterConsent: what Onboarder asks Partner Center for, and what its answers mean")
struct PartnerCenterConsentTests {
    @Test(
        arguments: [
            (201, nil, "asked"), (200, nil, "asked"), (409, nil, "exists"), (429, 7, "throttled"),
            (401, nil, "refused"),
            (403, nil, "refused"), (400, nil, "refused"), (404, nil, "refused"), (500, nil, "failed"),
            (503, 2, "failed"),
            (nil, nil, "failed"),
        ] as [(Int?, Int?, String)])
    func classifies(_ status: Int?, _ retryAfter: Int?, _ expected: String) {
        let answer = PartnerCenterClient.Answer(
            status: status, description: "words", retryAfter: retryAfter.map { .seconds($0) })
        let outcome = PartnerCenterConsent.classify(answer)
        #expect(outcome.recorded == expected)
        if status == 429 { #expect(outcome == .throttled(retryAfter: .seconds(7))) }
        if status == 403 { #expect(outcome.note.contains("Cloud Application Administrator")) }
        if status == 401 { #expect(outcome.note.contains("onboarder msp set")) }
    }

    @Test(
        arguments: [
            (nil, true), ("throttled", true), ("failed", true), ("asked", false), ("exists", false), ("refused", false),
        ] as [(String?, Bool)])
    func asksUntilItConsentedOrWasRefused(_ latest: String?, _ expected: Bool) {
        #expect(PartnerCenterConsent.shouldAsk(latest: latest) == expected)
    }

    @Test func theRequestIsMicrosoftGraphsScopesCommaSeparated() throws {
        let request = PartnerCenterConsent.request(
            clientID: "app", displayName: "Onboarder", roles: ["User.ReadWrite.All", "Application.ReadWrite.All"])
        let json = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect(object?["applicationId"] as? String == "app")
        let grants = object?["applicationGrants"] as? [[String: Any]]
        #expect(grants?.count == 1)
        #expect(grants?.first?["enterpriseApplicationId"] as? String == "00000003-0000-0000-c000-000000000000")
        #expect(grants?.first?["scope"] as? String == "Application.ReadWrite.All,User.ReadWrite.All")
    }
}
