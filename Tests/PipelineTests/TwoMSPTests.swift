import Crypto
import Foundation
import Pipeline
import Postgres
import TestSupport
import Testing

@testable import Simulator

/// Issue 21's done-criterion: two MSPs, each with its own partner app in its own tenant, registered with
/// `onboarder msp add` under the owner's login, onboard their customers side by side in one worker run. Each
/// customer tenant sees only its MSP's partner app sign in (acme's with a certificate, globex's with a secret) (the simulator counts client-credentials tokens
/// per app in each tenant, and its journal has every token request); one MSP is on the US Government cloud
/// (its hosts from `microsoft.usgov_*`, its tokens for `https://graph.microsoft.us`), the other brings its
/// own DNS provider and zone.
@Suite("Two MSPs, each with its own partner app, side by side", .serialized)
struct TwoMSPTests {
    static let acmeCustomers = ["acme-one.onmicrosoft.com", "acme-two.onmicrosoft.com"]
    static let globexCustomers = ["globex-one.onmicrosoft.com", "globex-two.onmicrosoft.com"]
    static let globexZone = "sbc.globex.example"

    static func world() -> WorldDescription {
        func tenant(_ domain: String, _ partner: String) -> WorldDescription.Tenant {
            WorldDescription.Tenant(
                domain: domain, consent: .full, sku: .e5, users: ["alice", "bob"], partner: partner)
        }
        return WorldDescription(
            seed: 21,
            tenants: acmeCustomers.map { tenant($0, "acme") } + globexCustomers.map { tenant($0, "globex") },
            partners: [
                .init(msp: "acme", displayName: "Acme IT", cloud: "global"),
                .init(msp: "globex", displayName: "Globex Gov", cloud: "usgov"),
            ])
    }

    /// `onboarder msp ARGS` as the owner (the only login that may write MSPs), with the lab's key file.
    static func msp(
        _ lab: PipelineLab, _ arguments: [String], environment: [String: String] = [:], stdin: String? = nil
    )
        async throws -> (status: Int32, output: String)
    {
        let binary = builtProductsDirectory.appendingPathComponent("onboarder").path
        var merged = lab.environment(["ONBOARDER_DATABASE_URL": lab.databaseURL, "ONBOARDER_LOG_LEVEL": "critical"])
        merged.merge(environment) { $1 }
        guard let stdin else { return try await runCommand([binary, "msp"] + arguments, environment: merged) }
        merged["MSP_STDIN"] = stdin
        let quoted = ([binary, "msp"] + arguments).map { "'\($0)'" }.joined(separator: " ")
        return try await runCommand(["/bin/sh", "-c", "printf '%s' \"$MSP_STDIN\" | \(quoted)"], environment: merged)
    }

    /// Enqueues a Teams onboarding of `domain` for `msp` (as the owner, through the SQL function).
    static func enqueue(_ lab: PipelineLab, _ domain: String, msp: String, sbcDomain: String? = nil) async throws
        -> Int64
    {
        let pbx = lab.pbxName(domain)
        var payload = OnboardingPayload(
            path: "teams", displayName: domain, pbxURL: "\(lab.base)/pbx/\(pbx)", pbxClientID: "onboarder",
            pbxSecret: "json:\(lab.credentialsFile)#pbx.\(pbx).client_secret")
        payload.sbcDomain = sbcDomain
        return try await lab.pool.query(
            """
            SELECT job_id FROM onboarder.enqueue(\(msp), \(lab.tenant(domain).id.uuidString.lowercased()), 'onboard',
                                                 \(try PostgresJSON(encoding: payload)))
            """
        ).single().decode(Int64.self, column: "job_id")
    }

    /// The client ids whose client-credentials tokens each tenant issued (the simulator's record).
    static func signedIn(_ lab: PipelineLab, _ domain: String) async throws -> Set<String> {
        Set((try await lab.inspect(domain)["tokensIssued"] as? [String: Any] ?? [:]).keys)
    }

    /// The token requests the journal holds for `tenantID`: (client id, scope) of each answered 200.
    static func tokenRequests(_ lab: PipelineLab, tenantID: String) throws -> [(
        client: String, scope: String, certificate: Bool
    )] {
        let text = try String(contentsOfFile: lab.journal, encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                object["path"] as? String == "/\(tenantID)/oauth2/v2.0/token", object["status"] as? Int == 200,
                let body = object["request_body"] as? String
            else { return nil }
            var fields: [String: String] = [:]
            for pair in body.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { fields[parts[0]] = parts[1].removingPercentEncoding ?? parts[1] }
            }
            return (fields["client_id"] ?? "", fields["scope"] ?? "", fields["client_assertion"] != nil)
        }
    }

    @Test func eachJobUsesItsOwnMSPsPartnerApp() async throws {
        let lab = try await PipelineLab("twomsp", world: Self.world())
        do {
            let world = lab.simulator.world
            let acme = try #require(world.partner(msp: "acme"))
            let globex = try #require(world.partner(msp: "globex"))
            let allApps = Set(world.partners.map { $0.app.appID.uuidString.lowercased() })
            let acmeApp = acme.app.appID.uuidString.lowercased()
            let globexApp = globex.app.appID.uuidString.lowercased()

            // Acme's app signs in with a certificate (uploaded to the app in its tenant, as an MSP does once).
            let key = try PrivateKey.generateRSA()
            let certificate = try Certificate.issue(Certificate.Options(commonName: "acme partner"), for: key)
            let credential = KeyCredential(
                keyID: UUID(), displayName: "acme partner", certificate: certificate,
                sha1Thumbprint: try certificate.sha1Thumbprint, sha256Thumbprint: try certificate.sha256Thumbprint)
            lab.simulator.withWorld { _ in acme.app.keys.append(credential) }
            let pemFile = lab.directory.appendingPathComponent("acme-partner.pem").path
            FileManager.default.createFile(
                atPath: pemFile, contents: Data(((try certificate.pem) + (try key.pem())).utf8),
                attributes: [.posixPermissions: 0o600])

            // Registered as an installation would: the owner's login, the secrets key, each MSP's own app.
            let addedAcme = try await Self.msp(
                lab,
                [
                    "add", "acme", "--display-name", "Acme IT", "--partner-tenant-id",
                    acme.tenant.id.uuidString.lowercased(), "--partner-client-id", acmeApp, "--partner-certificate",
                    pemFile,
                ])
            #expect(addedAcme.status == 0, "\(addedAcme.output)")
            let addedGlobex = try await Self.msp(
                lab,
                [
                    "add", "globex", "--display-name", "Globex Gov", "--cloud", "usgov", "--partner-tenant-id",
                    globex.tenant.id.uuidString.lowercased(), "--partner-client-id", globexApp,
                    "--partner-secret-stdin", "--dns-provider", "cloudflare", "--dns-zone", Self.globexZone,
                    "--dns-base-url", "\(lab.base)/client/v4", "--dns-secret-env", "GLOBEX_DNS_TOKEN",
                ], environment: ["GLOBEX_DNS_TOKEN": "globex-dns-token"], stdin: globex.secret)
            #expect(addedGlobex.status == 0, "\(addedGlobex.output)")
            #expect(addedAcme.output.contains("certificate, thumbprint"), "\(addedAcme.output)")
            #expect(!addedAcme.output.contains("PRIVATE KEY") && !addedGlobex.output.contains(globex.secret))

            // The lab's technician works as an operator login: give it both MSPs (as an owner maps staff).
            let technician = try #require(
                URLComponents(string: lab.operatorURL)?.user
                    ?? lab.operatorURL.split(separator: " ").last { $0.hasPrefix("user=") }.map {
                        String($0.dropFirst(5))
                    })
            try await lab.pool.query(
                """
                INSERT INTO onboarder.operator_msps (role_name, msp_id)
                SELECT \(technician), m FROM unnest(ARRAY['acme', 'globex']) AS m
                """)

            var jobs: [String: Int64] = [:]
            for domain in Self.acmeCustomers { jobs[domain] = try await Self.enqueue(lab, domain, msp: "acme") }
            for domain in Self.globexCustomers {
                let label = domain.prefix { $0 != "." }
                jobs[domain] = try await Self.enqueue(
                    lab, domain, msp: "globex", sbcDomain: "\(label).\(Self.globexZone)")
            }
            // One worker for both MSPs. The configuration's partner app is the default MSP's, and its DNS zone
            // is the default MSP's too: a job that fell back to either would fail.
            let worker = try lab.startWorker(
                "both", concurrency: 8,
                [
                    "ONBOARDER_DNS_ZONE": PipelineLab.sbcParent,
                    "ONBOARDER_MICROSOFT_USGOV_LOGIN_BASE_URL": lab.base,
                    "ONBOARDER_MICROSOFT_USGOV_GRAPH_BASE_URL": "\(lab.base)/v1.0",
                ])
            try await lab.waitFor(Array(jobs.values), seconds: 120)
            worker.signal(SIGTERM)
            _ = await worker.wait()

            for (domain, job) in jobs.sorted(by: { $0.key < $1.key }) {
                let (state, error, attention) = try await lab.state(job)
                #expect(state == "succeeded", "\(domain): \(state) \(error ?? "") \(attention ?? "")")
            }
            for domain in Self.acmeCustomers + Self.globexCustomers {
                if Self.acmeCustomers.contains(domain) {
                    try await lab.expectOnboarded(domain, path: "teams")
                } else {
                    // expectOnboarded knows SBC domains under the lab's parent only: globex's are in its zone.
                    let fqdn = "\(domain.prefix { $0 != "." }).\(Self.globexZone)"
                    let domains = try await lab.inspect(domain)["domains"] as? [[String: Any]] ?? []
                    #expect(domains.first { $0["id"] as? String == fqdn }?["isVerified"] as? Bool == true, "\(fqdn)")
                }
                let own = Self.acmeCustomers.contains(domain) ? acmeApp : globexApp
                let other = own == acmeApp ? globexApp : acmeApp
                let partnerApps = try await Self.signedIn(lab, domain).intersection(allApps)
                #expect(partnerApps == [own], "\(domain) issued tokens to \(partnerApps), expected only \(own)")
                #expect(!partnerApps.contains(other))
                let requests = try Self.tokenRequests(lab, tenantID: lab.tenant(domain).id.uuidString.lowercased())
                    .filter { allApps.contains($0.client) }
                #expect(!requests.isEmpty && requests.allSatisfy { $0.client == own }, "\(domain): \(requests)")
                let scope =
                    own == globexApp ? "https://graph.microsoft.us/.default" : "https://graph.microsoft.com/.default"
                #expect(requests.allSatisfy { $0.scope == scope }, "\(domain): \(requests.map(\.scope))")
                // Acme's app proves itself with its certificate (the sealed key, opened by the worker).
                #expect(requests.allSatisfy { $0.certificate == (own == acmeApp) }, "\(domain)")
            }
            // Globex's customers' records went through its own DNS, in its zone (the configuration's zone,
            // sbc.msp.example, would have refused their SBC domains).
            let rows = try await lab.pool.query(
                "SELECT sbc_fqdn FROM onboarder.integrations WHERE sbc_fqdn LIKE '%.' || \(Self.globexZone) ORDER BY 1"
            ).map { try $0[0].decode(String.self) }
            #expect(rows == Self.globexCustomers.map { "\($0.prefix { $0 != "." }).\(Self.globexZone)" }.sorted())
        } catch {
            try? await lab.close()
            throw error
        }
        try await lab.close()
    }
}
