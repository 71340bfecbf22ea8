import Foundation
import Testing

@testable import Pipeline

@Suite("PBXCheck: the PBX's TestSubscription as the verify step's next state")
struct PBXCheckTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test(
        arguments: [
            ("passes", true, nil, 10, PBXCheck.passes),
            (
                "an invalid secret just after adding it", false, "AADSTS7000215: Invalid client secret", 10,
                .propagating("AADSTS7000215: Invalid client secret")
            ),
            (
                "an unknown app just after creating it", false, "AADSTS700016: not found", 599,
                .propagating("AADSTS700016: not found")
            ),
            ("consent not seen yet", false, "AADSTS65001", 1, .propagating("AADSTS65001")),
            ("an invalid secret long after adding it", false, "AADSTS7000215", 601, .fails("AADSTS7000215")),
            ("another error at once", false, "AADSTS50034: user not found", 1, .fails("AADSTS50034: user not found")),
            ("no reason given", false, nil, 1, .fails("no reason given")),
        ] as [(String, Bool, String?, TimeInterval, PBXCheck)])
    func verdict(
        _ name: String, _ available: Bool, _ message: String?, _ secondsAgo: TimeInterval, _ expected: PBXCheck
    ) {
        #expect(
            PBXCheck.verdict(
                available: available, message: message, credentialAddedAt: Self.now.addingTimeInterval(-secondsAgo),
                now: Self.now, window: 600) == expected, "\(name)")
    }

    @Test func withoutARecordedSecretTimeAPropagationErrorIsAFailure() {
        #expect(
            PBXCheck.verdict(
                available: false, message: "AADSTS7000215", credentialAddedAt: nil, now: Self.now, window: 600)
                == .fails("AADSTS7000215"))
    }
}
