import Foundation
import Testing

@testable import Pipeline

@Suite("HandoverProof: a passing TestSubscription counts only when it can be the PBX using this job's credential")
struct HandoverProofTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let ours = "11111111-1111-1111-1111-111111111111"
    static let old = "22222222-2222-2222-2222-222222222222"
    static let foreign = "33333333-3333-3333-3333-333333333333"
    static let todo = HandoverProof.Todo(
        customer: "contoso.example", pbxURL: "https://pbx.example/pbx/p1", certificateNeeded: true)

    /// What a case expects: the verdict's kind and words it must contain.
    enum Expected: Sendable, CustomStringConvertible {
        case proven(String)
        case wait([String])
        case propagating
        case attention(String)

        var description: String {
            switch self {
            case .proven(let words): "proven(\(words))"
            case .wait(let words): "wait(\(words))"
            case .propagating: "propagating"
            case .attention(let words): "attention(\(words))"
            }
        }

        func matches(_ proof: HandoverProof) -> Bool {
            switch (self, proof) {
            case (.proven(let words), .proven(let evidence)): evidence.contains(words)
            case (.wait(let words), .wait(let message)):
                words.allSatisfy(message.contains) && message.contains("onboarder handover done contoso.example")
            case (.propagating, .propagating): true
            case (.attention(let words), .attention(let message)): message.contains(words)
            default: false
            }
        }
    }

    /// A case: its name, what was observed (changes to an onboarding whose check passed a second after
    /// the secret was added, the app holding only this job's secret and Onboarder's certificate), and the verdict.
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var change: @Sendable (inout HandoverProof.Observation) -> Void
        var expected: Expected
        var description: String { name }
    }

    static func observation() -> HandoverProof.Observation {
        HandoverProof.Observation(
            handover: .onboarding(secretKeyID: ours), testPassed: true, testMessage: nil, passwordKeyIDs: [ours],
            certificateThumbprints: ["AB12"], heldThumbprints: ["AB12", "CD34"],
            credentialAddedAt: now.addingTimeInterval(-1), now: now, replicationWindow: 600)
    }

    static func rotation(
        proof: HandoverProof.ProofTime? = .reported(now.addingTimeInterval(-300)), signIns: HandoverProof.SignIns
    ) -> @Sendable (inout HandoverProof.Observation) -> Void {
        { o in
            o.handover = .rotation(old: old, new: ours, proof: proof, handedOverAt: now.addingTimeInterval(-200))
            o.passwordKeyIDs = [old, ours.uppercased()]
            o.signIns = signIns
        }
    }

    static let cases: [Case] = [
        Case(name: "passes with only this job's secret", change: { _ in }, expected: .proven("only client secret")),
        Case(
            name: "passes but another secret is on the app", change: { $0.passwordKeyIDs = [ours, foreign] },
            expected: .attention(foreign)),
        Case(
            name: "passes but a certificate Onboarder does not hold is on the app",
            change: { $0.certificateThumbprints = ["AB12", "EE99"] }, expected: .attention("EE99")),
        Case(
            name: "passes but this job's secret is gone from the app", change: { $0.passwordKeyIDs = [] },
            expected: .attention("no longer on the app")),
        Case(
            name: "the PBX holds no secret",
            change: {
                $0.testPassed = false
                $0.testMessage = "No client secret is set"
            }, expected: .wait(["Client Secret", "onboarder handover sheet", "No client secret is set"])),
        Case(
            name: "the PBX's certificate is not on the app (long after the secret)",
            change: {
                $0.testPassed = false
                $0.testMessage = "AADSTS700027: Client assertion contains an invalid signature"
                $0.credentialAddedAt = now.addingTimeInterval(-3600)
            }, expected: .wait(["Generate New Key Pair", "onboarder cert add"])),
        Case(
            name: "the PBX has not signed in",
            change: {
                $0.testPassed = false
                $0.testMessage = "Log into Microsoft 365 has not been done"
            }, expected: .wait(["Log into Microsoft 365 on the PBX"])),
        Case(
            name: "an invalid secret just after adding it is propagation",
            change: {
                $0.testPassed = false
                $0.testMessage = "AADSTS7000215: Invalid client secret provided"
            }, expected: .propagating),
        Case(
            name: "an invalid secret long after adding it is the PBX's wrong secret",
            change: {
                $0.testPassed = false
                $0.testMessage = "AADSTS7000215: Invalid client secret provided"
                $0.credentialAddedAt = now.addingTimeInterval(-601)
            }, expected: .wait(["Client Secret"])),
        Case(
            name: "without a recorded secret time a propagation error is not propagation",
            change: {
                $0.testPassed = false
                $0.testMessage = "AADSTS65001"
                $0.credentialAddedAt = nil
            }, expected: .wait(["AADSTS65001"])),
        Case(
            name: "an unexplained failure lists the whole to-do",
            change: {
                $0.testPassed = false
                $0.testMessage = nil
            }, expected: .wait(["Client Secret", "Generate New Key Pair", "Log into Microsoft 365", "no reason given"])),
        Case(
            name: "rotation: the report shows the new secret after Onboarder's proof",
            change: rotation(signIns: .report([ours: now.addingTimeInterval(-10), old: now])),
            expected: .proven("sign-in report")),
        Case(
            name: "rotation: the new secret signed in only at Onboarder's proof (the PBX uses the old)",
            change: rotation(signIns: .report([ours: now.addingTimeInterval(-300), old: now])),
            expected: .wait(["old secret \(old) is kept", "no sign-in with it after Onboarder's own proof"])),
        Case(
            name: "rotation: the new secret never signed in",
            change: rotation(signIns: .report([old: now])), expected: .wait(["old secret \(old) is kept"])),
        Case(
            name: "rotation: a sign-in within the clock skew of a proof timed by Onboarder's clock does not count",
            change: rotation(
                proof: .local(now.addingTimeInterval(-300)), signIns: .report([ours: now.addingTimeInterval(-200)])),
            expected: .wait(["old secret \(old) is kept"])),
        Case(
            name: "rotation: a sign-in beyond the clock skew of Onboarder's proof counts",
            change: rotation(
                proof: .local(now.addingTimeInterval(-300)), signIns: .report([ours: now.addingTimeInterval(-100)])),
            expected: .proven("sign-in report")),
        Case(
            name: "rotation: no report, the technician's word after the hand-over",
            change: { o in
                rotation(signIns: .unavailable("Authentication_RequestFromNonPremiumTenantOrB2CTenant"))(&o)
                o.handoverDoneAt = now.addingTimeInterval(-100)
            }, expected: .proven("technician's word")),
        Case(
            name: "rotation: no report and no word from the technician",
            change: rotation(signIns: .unavailable("Authorization_RequestDenied")),
            expected: .wait(["old secret \(old) is kept", "Authorization_RequestDenied"])),
        Case(
            name: "rotation: no report, the technician's word came before the new secret was shown",
            change: { o in
                rotation(signIns: .unavailable("Authorization_RequestDenied"))(&o)
                o.handoverDoneAt = now.addingTimeInterval(-250)
            }, expected: .wait(["old secret \(old) is kept"])),
        Case(
            name: "rotation: the check fails (the PBX's secret was removed)",
            change: { o in
                rotation(signIns: .notRead)(&o)
                o.testPassed = false
                o.testMessage = "AADSTS7000222: The provided client secret keys are expired"
            }, expected: .wait(["Client Secret", "AADSTS7000222"])),
        Case(
            name: "rotation: a third secret on the app",
            change: { o in
                rotation(signIns: .report([ours: now]))(&o)
                o.passwordKeyIDs.append(foreign)
            }, expected: .attention(foreign)),
    ]

    @Test(arguments: cases)
    func decide(_ example: Case) {
        var observation = Self.observation()
        example.change(&observation)
        let proof = HandoverProof.decide(observation, todo: Self.todo)
        #expect(example.expected.matches(proof), "\(example.name): \(proof)")
    }

    /// The PBX's words that mean its certificate is not the app's: the sheet then asks for a new one.
    @Test(
        arguments: [
            ("No key pair: \"Generate New Key Pair\" has not been done on the PBX.", true),
            (
                "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.",
                true
            ),
            ("AADSTS7000215: Invalid client secret provided.", false),
            ("Not signed in to Microsoft 365: \"Log into Microsoft 365\" has not been done.", false),
            (nil, false),
        ] as [(String?, Bool)])
    func namesCertificate(_ message: String?, _ expected: Bool) {
        #expect(HandoverProof.namesCertificate(message) == expected)
    }

    @Test(arguments: [(0, 30), (1, 60), (2, 120), (6, 1920), (7, 3600), (40, 3600)] as [(Int, Int64)])
    func recheckDoublesFromThirtySecondsToTheCap(_ checks: Int, _ seconds: Int64) {
        #expect(HandoverProof.recheck(checks: checks, cap: .seconds(3600)) == .seconds(seconds))
    }

    @Test func recheckNeverBelowThirtySeconds() {
        #expect(HandoverProof.recheck(checks: 0, cap: .seconds(10)) == .seconds(30))
    }
}
