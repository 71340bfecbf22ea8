import Graph
import Store
import Testing

@testable import Pipeline

@Suite("CertificatePlan: the keep-list for Graph's replace-all keyCredentials PATCH")
struct CertificatePlanTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var onApp: Set<String>
        var stored: [StoredCertificate]
        var adding: StoredCertificate?
        var removing: String?
        var expected: CertificatePlan.Decision
        var testDescription: String { name }
    }

    static let new = certificate(9, "NEW", .pending)

    static let cases: [Case] = [
        Case(
            name: "first certificate on an empty app", onApp: [], stored: [new], adding: new, expected: .upload([new])),
        Case(
            name: "the new one beside the active one", onApp: ["A"],
            stored: [certificate(1, "A", .active), new], adding: new,
            expected: .upload([certificate(1, "A", .active), new])),
        Case(
            name: "a superseded one still on the app is kept", onApp: ["A", "B"],
            stored: [certificate(1, "A", .superseded), certificate(2, "B", .active), new], adding: new,
            expected: .upload([certificate(1, "A", .superseded), certificate(2, "B", .active), new])),
        Case(
            name: "an active one no longer on the app is not put back", onApp: [],
            stored: [certificate(1, "A", .active), new], adding: new, expected: .upload([new])),
        Case(
            name: "a removed or supplied one is never kept", onApp: ["A"],
            stored: [certificate(1, "A", .removed), new], adding: new, expected: .refuse(unknown: ["A"])),
        Case(
            name: "the new one already on the app: nothing to send", onApp: ["A", "NEW"],
            stored: [certificate(1, "A", .active), new], adding: new, expected: .unchanged),
        Case(
            name: "a certificate Onboarder does not hold stops the upload", onApp: ["A", "X", "C"],
            stored: [certificate(1, "A", .active), new], adding: new, expected: .refuse(unknown: ["C", "X"])),
        Case(
            name: "removing the old one keeps the others", onApp: ["OLD", "B"],
            stored: [certificate(1, "OLD", .active), certificate(2, "B", .active)], removing: "OLD",
            expected: .upload([certificate(2, "B", .active)])),
        Case(
            name: "removing the only one sends an empty list", onApp: ["OLD"],
            stored: [certificate(1, "OLD", .superseded)], removing: "OLD", expected: .upload([])),
        Case(
            name: "removing one that is gone already: nothing to send", onApp: ["B"],
            stored: [certificate(2, "B", .active)], removing: "OLD", expected: .unchanged),
        Case(
            name: "removing refuses when an unknown one would go too", onApp: ["OLD", "X"],
            stored: [certificate(1, "OLD", .active)], removing: "OLD", expected: .refuse(unknown: ["X"])),
        Case(
            name: "a duplicated record is uploaded once", onApp: ["A"],
            stored: [certificate(1, "A", .active), certificate(2, "A", .superseded), new], adding: new,
            expected: .upload([certificate(1, "A", .active), new])),
    ]

    @Test(arguments: cases)
    func decides(_ example: Case) {
        #expect(
            CertificatePlan.decide(
                onApp: example.onApp, stored: example.stored, adding: example.adding, removing: example.removing)
                == example.expected)
    }

    @Test func thumbprintsAreReadFromTheKeyIdentifierInUpperCase() {
        let keys = graph(
            [GraphKeyCredential].self,
            #"[{"keyId": "k1", "customKeyIdentifier": "ab12"}, {"keyId": "k2"}, {"keyId": "k3", "customKeyIdentifier": "CD34"}]"#
        )
        #expect(CertificatePlan.thumbprints(onApp: keys) == ["AB12", "CD34"])
    }
}

@Suite("CertificatePlan.choose: which certificate the certificate step puts on the app")
struct CertificateChoiceTests {
    static let active = certificate(1, "A", .active)
    static let pending = certificate(2, "P", .pending)
    static let supplied = certificate(3, "S", .supplied)

    @Test(
        arguments: [
            (
                "the PBX's supplied one first", [active, pending, supplied], ["A"], false, true,
                CertificatePlan.Choice.use(supplied)
            ),
            ("else one generated earlier", [active, pending], ["A"], false, true, .use(pending)),
            ("an earlier onboarding's, on the app", [active], ["A"], false, true, .keep(thumbprint: "A")),
            ("active but gone from the app", [active], [], false, true, .generate),
            ("a rotation wants a new one", [active], ["A"], true, true, .generate),
            ("nothing yet, the PBX's to come", [], [], false, false, .waitForPBX),
            ("a rotation waits for the PBX's too", [active], ["A"], true, false, .waitForPBX),
        ] as [(String, [StoredCertificate], Set<String>, Bool, Bool, CertificatePlan.Choice)])
    func choose(
        _ name: String, _ stored: [StoredCertificate], _ onApp: Set<String>, _ rotating: Bool, _ generate: Bool,
        _ expected: CertificatePlan.Choice
    ) {
        #expect(
            CertificatePlan.choose(stored: stored, onApp: onApp, rotating: rotating, generate: generate) == expected,
            "\(name)")
    }
}
