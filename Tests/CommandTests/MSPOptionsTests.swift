import Crypto
import Foundation
import Pipeline
import Store
import Testing

@testable import onboarder

@Suite("onboarder msp add|set: the options and the MSP they make (pure)")
struct MSPOptionsTests {
    static let tenant = "7d1c0b64-1111-4222-8333-444455556666"
    static let client = "2b4e9a10-aaaa-4bbb-8ccc-ddddeeeeffff"

    static func inputs(stdin: String = "", files: [String: String] = [:], mode: [String: String] = [:]) -> MSPInputs {
        MSPInputs(
            environment: ["ACME_SECRET": "s3cr~et", "EMPTY": "", "CF_TOKEN": "cf-token"],
            readFile: { path in
                guard let text = files[path] else { throw CocoaError(.fileNoSuchFile) }
                return text
            },
            filePermissionProblem: { mode[$0] }, readStandardInput: { Data(stdin.utf8) })
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var values: MSPOptionValues
        var stdin = ""
        /// Problems expected (each must name its option); empty: accepted.
        var problems: [String] = []
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "nothing given", values: .init()),
        Case(
            name: "a partner app with a secret from a variable",
            values: .init(partnerTenantID: tenant, partnerClientID: client, partnerSecretEnv: "ACME_SECRET")),
        Case(
            name: "a secret on standard input", values: .init(partnerSecretStdin: true), stdin: "s3cr~et\n"),
        Case(
            name: "nothing on standard input", values: .init(partnerSecretStdin: true),
            problems: ["--partner-secret-stdin: nothing on standard input"]),
        Case(
            name: "an unset variable", values: .init(partnerSecretEnv: "NOPE"),
            problems: ["--partner-secret-env: the variable NOPE is not set or empty"]),
        Case(
            name: "an empty variable", values: .init(dnsSecretEnv: "EMPTY"),
            problems: ["--dns-secret-env: the variable EMPTY is not set or empty"]),
        Case(
            name: "two credentials", values: .init(partnerSecretEnv: "ACME_SECRET", partnerSecretStdin: true),
            stdin: "x",
            problems: ["--partner-secret-env, --partner-secret-stdin: give one partner credential, not several"]),
        Case(
            name: "not a GUID", values: .init(partnerTenantID: "acme.example", partnerClientID: "0000"),
            problems: [
                "--partner-tenant-id: 'acme.example' is not a GUID (as Entra shows it: 8-4-4-4-12 hex digits)",
                "--partner-client-id: '0000' is not a GUID (as Entra shows it: 8-4-4-4-12 hex digits)",
            ]),
        Case(
            name: "the nil GUID", values: .init(partnerClientID: "00000000-0000-0000-0000-000000000000"),
            problems: [
                "--partner-client-id: '00000000-0000-0000-0000-000000000000' is not a GUID (as Entra shows it: 8-4-4-4-12 hex digits)"
            ]),
        Case(
            name: "an unknown cloud and consent mode", values: .init(cloud: "germany", consent: "email"),
            problems: [
                "--cloud: 'germany' is not one of global, usgov, china",
                "--consent: 'email' is not one of links, partner-center",
            ]),
        Case(
            name: "limits", values: .init(maxRunning: "0", writesPerSecond: "-1"),
            problems: [
                "--max-running: a whole number from 1 to 1000000 (--clear max-running: no limit)",
                "--writes-per-second: a number above 0, at most 100000 (--clear writes-per-second: the default)",
            ]),
        Case(name: "fractional writes per second", values: .init(writesPerSecond: "2.5")),
        Case(name: "allowed hosts", values: .init(allowedPBXHosts: "PBX.acme.example, *.3cx.acme.example")),
        Case(
            name: "a bad host", values: .init(allowedPBXHosts: "pbx.acme.example,https://x"),
            problems: ["--allowed-pbx-hosts: 'https://x' is not a host name or *.suffix"]),
        Case(
            name: "an empty host list", values: .init(allowedPBXHosts: ""),
            problems: [
                "--allowed-pbx-hosts: name at least one host (pbx.example.com or *.example.com); --clear allowed-pbx-hosts allows any host"
            ]),
        Case(
            name: "an unknown field to clear", values: .init(clear: ["secret"]),
            problems: [
                "--clear: secret is not one of partner-app, dns, dns-zone, dns-server, dns-base-url, dns-tsig-key-name, dns-tsig-algorithm, allowed-pbx-hosts, max-running, writes-per-second"
            ]),
        Case(
            name: "clear and set at once", values: .init(maxRunning: "3", clear: ["max-running"]),
            problems: ["--clear max-running and --max-running: clear it or set it, not both"]),
        Case(
            name: "a display name of control characters", values: .init(displayName: "Acme\u{1b}[2J"),
            problems: ["--display-name: no control characters"]),
        Case(
            name: "a certificate file that is not there", values: .init(partnerCertificate: "/nope.pem"),
            problems: ["--partner-certificate: cannot read /nope.pem: The file doesn’t exist."]),
    ]

    @Test(arguments: cases)
    func options(_ testCase: Case) {
        switch testCase.values.change(Self.inputs(stdin: testCase.stdin)) {
        case .success:
            #expect(testCase.problems.isEmpty, "accepted, expected \(testCase.problems)")
        case .failure(let problems):
            if testCase.name.contains("certificate file") {
                #expect(problems.problems.count == 1 && problems.problems[0].hasPrefix("--partner-certificate: "))
            } else {
                #expect(problems.problems == testCase.problems)
            }
        }
    }

    @Test func secretsAreNeverQuotedBack() {
        // A secret pasted where the variable's name belongs is not echoed.
        let values = MSPOptionValues(partnerSecretEnv: "Abc~secret.value-1")
        guard case .failure(let problems) = values.change(Self.inputs()) else {
            Issue.record("accepted")
            return
        }
        #expect(problems.problems == ["--partner-secret-env: 'Abc~secret.value-1' is not an environment variable name"])
        // … which does quote the name; a value read from a variable or standard input never is.
        let stdin = MSPOptionValues(partnerSecretStdin: true)
        guard case .failure(let more) = stdin.change(Self.inputs(stdin: "line one\nline two")) else {
            Issue.record("accepted a two-line secret")
            return
        }
        #expect(!more.problems.joined().contains("line one"))
    }

    @Test func certificateFile() throws {
        let key = try PrivateKey.generateRSA()
        let certificate = try Certificate.issue(Certificate.Options(commonName: "acme partner"), for: key)
        let other = try PrivateKey.generateRSA()
        let good = (try certificate.pem) + (try key.pem())
        let files = [
            "/good.pem": good, "/mismatch.pem": (try certificate.pem) + (try other.pem()),
            "/nokey.pem": try certificate.pem,
        ]
        let inputs = Self.inputs(
            files: files, mode: ["/open.pem": "/open.pem is readable by others (mode 0644); chmod 600 it"])
        guard case .success(.newCertificate(let pem, let keyPEM)) = MSPOptionValues.certificate("/good.pem", inputs)
        else {
            Issue.record("the good certificate was refused")
            return
        }
        #expect(pem == (try certificate.pem))
        #expect(keyPEM.contains("PRIVATE KEY"))
        #expect(
            MSPOptionValues.certificate("/mismatch.pem", inputs)
                == .failure(MSPOptionProblems(["/mismatch.pem: the private key is not the certificate's"])))
        #expect(
            MSPOptionValues.certificate("/nokey.pem", inputs)
                == .failure(
                    MSPOptionProblems([
                        "/nokey.pem holds no private key: it needs the certificate and its private key (PEM)"
                    ])))
        #expect(
            MSPOptionValues.certificate("/open.pem", inputs)
                == .failure(MSPOptionProblems(["/open.pem is readable by others (mode 0644); chmod 600 it"])))
        let later = MSPInputs(
            environment: [:], readFile: { _ in good }, filePermissionProblem: { _ in nil },
            readStandardInput: { Data() }, now: Date(timeIntervalSinceNow: 800 * 86_400))
        guard case .failure(let expired) = MSPOptionValues.certificate("/good.pem", later) else {
            Issue.record("an expired certificate was accepted")
            return
        }
        #expect(expired.problems[0].hasPrefix("/good.pem: the certificate expired on "))
        // show: the thumbprint and expiry, never the key.
        let summary = MSPDraft.certificateSummary(pem)
        #expect(summary.hasPrefix("certificate, thumbprint "))
        #expect(!summary.contains("PRIVATE"))
    }

    struct DraftCase: CustomTestStringConvertible, Sendable {
        var name: String
        var change: MSPChange
        var start = MSPDraft(id: "acme", displayName: "acme")
        var problems: [String] = []
        var testDescription: String { name }
    }

    static let withApp = MSPDraft(
        id: "acme", displayName: "acme", partnerTenantID: tenant, partnerClientID: client, credential: .storedSecret)

    static let draftCases: [DraftCase] = [
        DraftCase(name: "a bare MSP: the default partner app", change: MSPChange()),
        DraftCase(
            name: "an app with a credential",
            change: MSPChange(partnerTenantID: tenant, partnerClientID: client, credential: .newSecret("x"))),
        DraftCase(
            name: "an app without a credential", change: MSPChange(partnerTenantID: tenant, partnerClientID: client),
            problems: [
                "the partner app needs a credential: --partner-certificate PEMFILE (preferred), --partner-secret-env VAR or --partner-secret-stdin"
            ]),
        DraftCase(
            name: "a client id without its tenant",
            change: MSPChange(partnerClientID: client, credential: .newSecret("x")),
            problems: [
                "--partner-tenant-id and --partner-client-id go together: the tenant the MSP's partner app is registered in, and its client id"
            ]),
        DraftCase(
            name: "a credential without an app", change: MSPChange(credential: .newSecret("x")),
            problems: ["a partner credential needs its app: --partner-tenant-id and --partner-client-id"]),
        DraftCase(
            name: "usgov on the configuration's app", change: MSPChange(cloud: "usgov"),
            problems: [
                "--cloud usgov needs a partner app of the MSP's own, registered in that cloud (--partner-tenant-id, --partner-client-id and a credential): the configuration's partner app is the global cloud's"
            ]),
        DraftCase(name: "usgov with its own app", change: MSPChange(cloud: "usgov"), start: withApp),
        DraftCase(
            name: "set: a new client id keeps the stored credential", change: MSPChange(partnerClientID: tenant),
            start: withApp),
        DraftCase(
            name: "clearing the app on usgov", change: MSPChange(clear: [.partnerApp]),
            start: MSPDraft(
                id: "acme", displayName: "acme", cloud: "usgov", partnerTenantID: tenant, partnerClientID: client,
                credential: .storedSecret),
            problems: [
                "--cloud usgov needs a partner app of the MSP's own, registered in that cloud (--partner-tenant-id, --partner-client-id and a credential): the configuration's partner app is the global cloud's"
            ]),
        DraftCase(
            name: "cloudflare with its token",
            change: MSPChange(dns: .init(provider: "cloudflare", zone: "sbc.acme.example"), dnsSecret: "t")),
        DraftCase(
            name: "cloudflare without a token", change: MSPChange(dns: .init(provider: "cloudflare")),
            problems: ["--dns-secret-env: the Cloudflare API token is needed for cloudflare"]),
        DraftCase(
            name: "another provider drops the old one's secret",
            change: MSPChange(dns: .init(provider: "rfc2136", server: "ns1.acme.example", tsigKeyName: "k")),
            start: MSPDraft(
                id: "acme", displayName: "acme", dns: .init(provider: "cloudflare"), dnsSecret: .stored),
            problems: ["--dns-secret-env: the TSIG secret is needed for rfc2136"]),
        DraftCase(
            name: "a stored token stays when only the zone changes", change: MSPChange(dns: .init(zone: "b.example")),
            start: MSPDraft(id: "acme", displayName: "acme", dns: .init(provider: "cloudflare"), dnsSecret: .stored)),
        DraftCase(
            name: "clearing dns", change: MSPChange(clear: [.dns]),
            start: MSPDraft(id: "acme", displayName: "acme", dns: .init(provider: "cloudflare"), dnsSecret: .stored)),
    ]

    @Test(arguments: draftCases)
    func draft(_ testCase: DraftCase) {
        #expect(testCase.change.applied(to: testCase.start).problems == testCase.problems)
    }

    @Test func setChangesOnlyWhatIsGiven() {
        let start = MSPDraft(
            id: "acme", displayName: "Acme", cloud: "usgov", partnerTenantID: Self.tenant, partnerClientID: Self.client,
            credential: .storedSecret, consentMode: "partner-center", dns: .init(zone: "z.example"),
            allowedPBXHosts: ["pbx.example"], maxRunning: 5, writesPerSecond: 2)
        var expected = start
        expected.maxRunning = 9
        #expect(MSPChange(maxRunning: 9).applied(to: start) == expected)
        expected.maxRunning = nil
        expected.allowedPBXHosts = nil
        #expect(MSPChange(clear: [.maxRunning, .allowedPBXHosts]).applied(to: start) == expected)
    }

    @Test func rowsSealEachSecretForItsColumnAndKeepStoredOnes() throws {
        var draft = Self.withApp
        draft.dns = .init(provider: "cloudflare")
        draft.dnsSecret = .new("cf-token")
        let stored = MSPSecretsRowFixture.stored
        var sealedColumns: [String] = []
        let (_, secrets) = try draft.rows(stored: stored) { value, column in
            sealedColumns.append(column)
            return "sealed(\(column))"
        }
        #expect(sealedColumns == ["dns_secret"])
        #expect(secrets.partnerSecretSealed == stored.partnerSecretSealed)
        #expect(secrets.dnsSecretSealed == "sealed(dns_secret)")
        #expect(
            MSPSecretContext.context(column: "partner_secret", msp: "acme")
                == "onboarder.msp_secrets/partner_secret/acme")
    }

    @Test func showNeverPrintsASecret() {
        var draft = Self.withApp
        draft.credential = .newSecret("s3cr~et")
        draft.dns = .init(provider: "rfc2136", server: "ns1.example:53", tsigKeyName: "k")
        draft.dnsSecret = .new("c2VjcmV0")
        let view = MSPView(draft: draft)
        #expect(!view.text.contains("s3cr~et") && !view.text.contains("c2VjcmV0"))
        #expect(view.text.contains("partner credential: sealed secret set"))
        #expect(view.text.contains("sealed TSIG secret set"))
        let json = (try? MSPCommand.json(view.json)) ?? ""
        #expect(!json.contains("s3cr~et") && !json.contains("c2VjcmV0"))
        let hidden = MSPView(draft: draft, secretsVisible: false)
        #expect(hidden.text.contains("partner credential: (not visible to this login)"))
    }
}

enum MSPSecretsRowFixture {
    static let stored = MSPSecretsRow(partnerSecretSealed: "og1.stored-partner", dnsSecretSealed: "og1.stored-dns")
}
