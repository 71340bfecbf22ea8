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

    /// `customKeyIdentifier` as Graph writes it: Edm.Binary, base64 of the bytes (by default the SHA-1
    /// thumbprint's 20 bytes), never the hex Onboarder records.
    @Test(
        arguments: [
            (
                "the thumbprint's bytes, as Graph defaults it", "Uu2bUDike54uIZBxXMI4NZ1Pj3M=",
                "52ED9B5038A47B9E2E2190715CC238359D4F8F73"
            ),
            (
                "bytes with + and / in their base64", "Chv/PADk16lvK4wR/g1aO5x+bUI=",
                "0A1BFF3C00E4D7A96F2B8C11FE0D5A3B9C7E6D42"
            ),
            (
                "the same in base64url without padding", "Chv_PADk16lvK4wR_g1aO5x-bUI",
                "0A1BFF3C00E4D7A96F2B8C11FE0D5A3B9C7E6D42"
            ),
            (
                "the hex text's bytes, as a tool that set it on upload may have",
                "NTJFRDlCNTAzOEE0N0I5RTJFMjE5MDcxNUNDMjM4MzU5RDRGOEY3Mw==", "52ED9B5038A47B9E2E2190715CC238359D4F8F73"
            ),
            ("a name someone chose is no thumbprint", "bXkta2V5", nil),
            (
                "the hex itself (what the simulator used to send) is no base64 of a thumbprint",
                "52ED9B5038A47B9E2E2190715CC238359D4F8F73", nil
            ),
        ] as [(String, String, String?)])
    func thumbprintFromGraphsKeyIdentifier(_ name: String, _ identifier: String, _ expected: String?) {
        #expect(CertificatePlan.thumbprint(customKeyIdentifier: identifier) == expected, "\(name)")
    }

    /// What `GET /applications/{id}?$select=id,keyCredentials` lists after Onboarder's own upload: the
    /// certificate it holds is recognised, so a retry or a rotation uploads instead of refusing.
    @Test func aCertificateOnboarderUploadedIsKnownAsGraphListsIt() {
        let keys = graph(
            [GraphKeyCredential].self,
            #"""
            [{"customKeyIdentifier": "Uu2bUDike54uIZBxXMI4NZ1Pj3M=", "displayName": "PBX certificate · onboarder job 7",
              "endDateTime": "2028-11-30T10:00:00Z", "key": null, "keyId": "4f0e9bc2-5d1e-4f3a-9a57-0c5e0f7b2a11",
              "startDateTime": "2026-11-30T09:55:00Z", "type": "AsymmetricX509Cert", "usage": "Verify"}]
            """#)
        let held = certificate(1, "52ED9B5038A47B9E2E2190715CC238359D4F8F73", .active)
        let onApp = CertificatePlan.thumbprints(onApp: keys)
        #expect(
            CertificatePlan.decide(onApp: onApp, stored: [held, Self.new], adding: Self.new)
                == .upload([held, Self.new]))
        #expect(
            CertificatePlan.choose(stored: [held], onApp: onApp, rotating: false, generate: true)
                == .keep(thumbprint: held.thumbprint))
    }

    @Test func aCertificateWithoutAThumbprintCountsAsUnknown() {
        let keys = graph(
            [GraphKeyCredential].self,
            #"[{"keyId": "k1", "customKeyIdentifier": "Uu2bUDike54uIZBxXMI4NZ1Pj3M="}, {"keyId": "k2"}, {"keyId": "k3", "customKeyIdentifier": "bXkta2V5"}]"#
        )
        let onApp = CertificatePlan.thumbprints(onApp: keys)
        #expect(onApp == ["52ED9B5038A47B9E2E2190715CC238359D4F8F73", "keyId k2", "bXkta2V5"])
        let held = certificate(1, "52ED9B5038A47B9E2E2190715CC238359D4F8F73", .active)
        #expect(
            CertificatePlan.decide(onApp: onApp, stored: [held, Self.new], adding: Self.new)
                == .refuse(unknown: ["bXkta2V5", "keyId k2"]))
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
