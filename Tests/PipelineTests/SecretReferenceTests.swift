import Crypto
import Foundation
import Pipeline
import Testing

/// Secret references are input from MSP staff: these are the attacks on them (the partner secret and the
/// key file named from an enqueue row), each refused by the pure decisions and again by the resolver.
@Suite("Secret references: what enqueue input may name")
struct SecretReferenceTests {
    @Test(arguments: [
        ("env:PBX_SECRET_ACME", SecretReference.environment("PBX_SECRET_ACME")),
        ("file:/etc/onboarder/pbx/acme", .file("/etc/onboarder/pbx/acme")),
        ("file:acme", .file("acme")),
        (
            "json:/srv/pbx.json#pbx.acme.client_secret",
            .json(file: "/srv/pbx.json", member: ["pbx", "acme", "client_secret"])
        ),
        ("sealed:og1.k1.abc_-DEF", .sealed("og1.k1.abc_-DEF")),
    ])
    func parsesEachForm(text: String, expected: SecretReference) throws {
        #expect(try SecretReference.parse(text).get() == expected)
    }

    @Test(arguments: [
        ("", "not the secret itself"),
        ("hunter2", "not the secret itself"),
        ("env:", "variable name"),
        ("env:1ABC", "variable name"),
        ("env:A-B", "variable name"),
        ("file:", "needs a path"),
        ("file:../keys", "'..'"),
        ("file:/srv/pbx/../../etc/onboarder/keys", "'..'"),
        ("json:/srv/pbx.json", "PATH#member"),
        ("json:/srv/pbx.json#pbx..secret", "dotted path"),
        ("json:/srv/pbx.json#", "dotted path"),
        ("sealed:", "og1"),
        ("sealed:og1.k1", "og1"),
        ("sealed:og1.k1.a b", "og1"),
        ("file:/srv/pbx\u{0}/x", "control characters"),
        ("env:PBX\nSECRET", "control characters"),
        ("file:/" + String(repeating: "a", count: 5000), "at most 4096"),
    ])
    func refusesMalformedReferencesWithoutEchoingThem(text: String, reason: String) {
        guard case .failure(let error) = SecretReference.parse(text) else {
            Issue.record("\(text.debugDescription) was accepted")
            return
        }
        #expect(error.description.contains(reason), "\(error)")
        if text.count > 8 { #expect(!error.description.contains(text.dropFirst(5))) }
    }

    static let policy = SecretReferencePolicy(
        directories: ["/etc/onboarder/pbx/{msp}", "/srv/shared-pbx/"], environmentPrefixes: ["PBX_SECRET_{MSP}_"],
        protectedFiles: ["/srv/shared-pbx/keys"])

    @Test(arguments: [
        // The attacks: the deployment's own variables and files.
        ("acme", "env:ONBOARDER_PARTNER_CLIENT_SECRET", "deployment's own variables"),
        ("acme", "env:AZURE_CLIENT_SECRET", "deployment's own variables"),
        ("acme", "env:PGPASSWORD", "deployment's own variables"),
        ("acme", "env:PBX_SECRET_CONTOSO_X", "must start with PBX_SECRET_ACME_"),
        ("acme", "file:/etc/onboarder/keys", "outside the directories"),
        ("acme", "file:/etc/onboarder/pbx/contoso/c1", "outside the directories"),
        ("acme", "json:/etc/onboarder/onboarder.toml#partner.client_secret", "outside the directories"),
        ("acme", "file:/srv/shared-pbx/keys", "deployment's own secret files"),
        ("acme", "file:/srv/shared-pbx//./keys", "deployment's own secret files"),
        ("acme", "file:/etc/onboarder/pbx/acme", "outside the directories"),
    ])
    func refusesWhatTheDeploymentHolds(msp: String, text: String, reason: String) throws {
        let reference = try SecretReference.parse(text).get()
        let problem = Self.policy.forMSP(msp).problem(reference)
        #expect(problem?.contains(reason) == true, "\(text): \(problem ?? "allowed")")
    }

    @Test(arguments: [
        ("acme", "env:PBX_SECRET_ACME_C1"),
        ("north-wind.it", "env:PBX_SECRET_NORTH_WIND_IT_C1"),
        ("acme", "file:/etc/onboarder/pbx/acme/c1"),
        ("acme", "file:c1"),
        ("acme", "json:/srv/shared-pbx/pbx.json#pbx.c1"),
        ("acme", "sealed:og1.k1.abc"),
    ])
    func allowsWhatTheAdministratorAllowed(msp: String, text: String) throws {
        let reference = try SecretReference.parse(text).get()
        #expect(Self.policy.forMSP(msp).problem(reference) == nil)
    }

    @Test func withNothingConfiguredOnlySealedReferencesAreAllowed() throws {
        let none = SecretReferencePolicy()
        #expect(none.problem(.environment("PBX_SECRET_A")) != nil)
        #expect(none.problem(.file("/etc/x")) != nil)
        #expect(none.problem(.file("x")) != nil)
        #expect(none.problem(.sealed("og1.k1.x")) == nil)
    }

    // MARK: the resolver, on real files

    final class Files {
        let root: URL
        let vault: SecretVault
        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("refs-\(UUID().uuidString)")
            for folder in ["pbx/acme", "pbx/contoso", "etc"] {
                try FileManager.default.createDirectory(
                    at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
            }
            let key = "k1 " + Data(try SecureRandom.bytes(32)).base64EncodedString()
            vault = try SecretVault.parse(key, source: "test")
            try write("etc/keys", key)
            try write("pbx/acme/c1", "acme-c1-secret\n")
            try write("pbx/contoso/c9", "contoso-c9-secret")
            try write("pbx/acme/all.json", #"{"pbx": {"c1": {"client_secret": "from-json"}}}"#)
        }
        func write(_ path: String, _ text: String) throws {
            try Data(text.utf8).write(to: root.appendingPathComponent(path))
        }
        func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
        var resolver: SecretResolver {
            SecretResolver(
                policy: SecretReferencePolicy(
                    directories: [path("pbx/{msp}")], environmentPrefixes: ["PBX_SECRET_"],
                    protectedFiles: [path("etc/keys")]
                ).forMSP("acme"), vault: vault)
        }
        deinit { try? FileManager.default.removeItem(at: root) }
    }

    @Test func resolvesAllowedFilesAndJSONMembers() throws {
        let files = try Files()
        #expect(try files.resolver.resolve("file:c1", msp: "acme", customer: "c1.example.com") == "acme-c1-secret")
        #expect(
            try files.resolver.resolve("file:\(files.path("pbx/acme/c1"))", msp: "acme", customer: "c1")
                == "acme-c1-secret")
        #expect(
            try files.resolver.resolve("json:all.json#pbx.c1.client_secret", msp: "acme", customer: "c1") == "from-json"
        )
    }

    @Test func aSymbolicLinkInsideTheFolderDoesNotReachTheKeyFileOrAnotherMSP() throws {
        let files = try Files()
        try FileManager.default.createSymbolicLink(
            atPath: files.path("pbx/acme/innocent"), withDestinationPath: files.path("etc/keys"))
        try FileManager.default.createSymbolicLink(
            atPath: files.path("pbx/acme/neighbour"), withDestinationPath: files.path("pbx/contoso/c9"))
        try FileManager.default.createSymbolicLink(
            atPath: files.path("pbx/acme/keys-folder"), withDestinationPath: files.path("etc"))
        for reference in ["file:innocent", "file:neighbour", "file:keys-folder/keys", "json:innocent#k1"] {
            let error = #expect(throws: SecretReferenceError.self) {
                try files.resolver.resolve(reference, msp: "acme", customer: "c1")
            }
            #expect(
                error?.description.contains("outside the directories") == true,
                "\(reference): \(String(describing: error))")
        }
    }

    @Test func theDeploymentsOwnVariablesAreNeverRead() throws {
        let files = try Files()
        setenv("ONBOARDER_PARTNER_CLIENT_SECRET_TEST", "partner-secret", 1)
        setenv("PBX_SECRET_OK", "pbx-secret", 1)
        #expect(try files.resolver.resolve("env:PBX_SECRET_OK", msp: "acme", customer: "c1") == "pbx-secret")
        let error = #expect(throws: SecretReferenceError.self) {
            try files.resolver.resolve("env:ONBOARDER_PARTNER_CLIENT_SECRET_TEST", msp: "acme", customer: "c1")
        }
        #expect(error?.description.contains("partner-secret") == false)
    }

    @Test func aSealedValueOpensOnlyForTheMSPAndCustomerItWasSealedFor() throws {
        let files = try Files()
        let sealed =
            "sealed:"
            + (try files.vault.seal(
                "pbx-secret", context: SecretReference.sealingContext(msp: "acme", customer: "C1.example.com")))
        #expect(try files.resolver.resolve(sealed, msp: "ACME", customer: "c1.example.com") == "pbx-secret")
        for (msp, customer) in [("contoso", "c1.example.com"), ("acme", "c2.example.com")] {
            let error = #expect(throws: SecretReferenceError.self) {
                try files.resolver.resolve(sealed, msp: msp, customer: customer)
            }
            #expect(error?.description.contains("sealed for another customer") == true)
        }
        let unbound = "sealed:" + (try files.vault.seal("pbx-secret", context: "reference"))
        let error = #expect(throws: SecretReferenceError.self) {
            try files.resolver.resolve(unbound, msp: "acme", customer: "c1.example.com")
        }
        #expect(error?.description.contains("bound to no customer") == true)
    }

    // MARK: where a PBX secret may go

    @Test(arguments: [
        ("https://pbx.acme.example", nil as [String]?, true),
        ("https://pbx.acme.example:5001/base", nil, true),
        ("https://c1.3cx.acme.example", ["*.3cx.acme.example"], true),
        ("https://3cx.acme.example.evil.test", ["*.3cx.acme.example"], false),
        ("https://evil.test", ["pbx.acme.example", "*.3cx.acme.example"], false),
        ("https://user:pw@pbx.acme.example", nil, false),
        ("https://pbx.acme.example@evil.test", nil, false),
        ("https://pbx.acme.example/?x=1", nil, false),
        ("https://pbx.acme.example/#x", nil, false),
        ("http://pbx.acme.example", nil, false),
        ("http://127.0.0.1:8080/pbx/c1", nil, false),
        ("ftp://pbx.acme.example", nil, false),
        ("https://pbx.acme .example", nil, false),
        ("not a url", nil, false),
    ])
    func pbxURLs(url: String, allowed: [String]?, expected: Bool) {
        let problem = PBXEndpointPolicy().problem(url, allowedHosts: allowed)
        #expect((problem == nil) == expected, "\(url): \(problem ?? "allowed")")
        if let problem { #expect(!problem.contains("pw@")) }
    }

    @Test func loopbackHTTPOnlyWhereTheSettingAllowsIt() {
        let tests = PBXEndpointPolicy(allowLoopbackHTTP: true)
        #expect(tests.problem("http://127.0.0.1:8080/pbx/c1", allowedHosts: nil) == nil)
        #expect(tests.problem("http://localhost:8080", allowedHosts: nil) == nil)
        #expect(tests.problem("http://10.0.0.5", allowedHosts: nil) != nil)
        #expect(
            PBXEndpointPolicy().problem("http://127.0.0.1:8080", allowedHosts: nil)?.contains("allow_loopback") == true)
    }
}
