import Crypto
import Foundation
import Pipeline
import Postgres
import TestSupport
import Testing

/// `onboarder msp add|set|show|list` as built, under the real logins: only the owner adds or changes an MSP,
/// its secrets are sealed for their MSP and column, and nothing prints them.
@Suite("onboarder msp: MSPs as records, under the real roles", .serialized)
struct MSPCommandTests {
    static let tenant = "7d1c0b64-1111-4222-8333-444455556666"
    static let client = "2b4e9a10-aaaa-4bbb-8ccc-ddddeeeeffff"
    static let secret = "acme~Partner.Secret-42"
    static let dnsToken = "acme-cloudflare-token-77"
    static let partnerCenterToken = "0.AXkA-partner-center-refresh-token.acme"

    /// Runs `onboarder msp ARGS` logged in with `url` (through `sh -c` when `stdin` is given).
    static func msp(_ lab: CommandLab, _ arguments: [String], url: String, stdin: String? = nil) async throws -> (
        status: Int32, output: String
    ) {
        let binary = builtProductsDirectory.appendingPathComponent("onboarder").path
        let environment = [
            "ONBOARDER_DATABASE_URL": url, "ONBOARDER_SECRETS_KEY_FILE": lab.keyFile, "ONBOARDER_LOG_LEVEL": "critical",
            "ONBOARDER_CONFIG": "", "ACME_SECRET": secret, "ACME_DNS_TOKEN": dnsToken, "MSP_STDIN": stdin ?? "",
        ]
        if stdin != nil {
            let quoted = ([binary, "msp"] + arguments).map {
                "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'"
            }
            return try await runCommand(
                ["/bin/sh", "-c", "printf '%s' \"$MSP_STDIN\" | " + quoted.joined(separator: " ")],
                environment: environment)
        }
        return try await runCommand([binary, "msp"] + arguments, environment: environment)
    }

    @Test func onlyTheOwnerAddsAndChangesAndNothingPrintsASecret() async throws {
        let lab = try await CommandLab("msp")
        do {
            let owner = lab.owner.connectionString!
            let enqueuer = try await TestDatabase.login(.enqueuer, msps: ["msp1"], database: lab.name, owner: lab.owner)
                .connectionString!
            // Staff and workers cannot add an MSP, nor change one.
            for (name, url) in [("worker", lab.workerURL), ("operator", lab.operatorURL), ("enqueuer", enqueuer)] {
                let added = try await Self.msp(lab, ["add", "intruder", "--max-running", "3"], url: url)
                #expect(added.status == 1, "\(name): \(added.output)")
                #expect(added.output.contains("needs the owner's login"), "\(name): \(added.output)")
                let changed = try await Self.msp(lab, ["set", "msp1", "--max-running", "3"], url: url)
                #expect(changed.status != 0, "\(name) changed msp1: \(changed.output)")
            }
            #expect(try await lab.strings("SELECT id FROM onboarder.msps WHERE id = 'intruder'").isEmpty)
            // … nor through SQL: only the owner writes msps and msp_secrets.
            for url in [lab.workerURL, lab.operatorURL, enqueuer] {
                let connection = try await PostgresConnection.connect(PostgresConfiguration(connectionString: url))
                for statement: PostgresQuery in [
                    "UPDATE onboarder.msps SET max_running = 1 WHERE id = 'msp1'",
                    "INSERT INTO onboarder.msps (id, display_name) VALUES ('intruder', 'x')",
                    "INSERT INTO onboarder.msp_secrets (msp_id, dns_secret_sealed) VALUES ('msp1', 'og1.k1.x')",
                ] {
                    await #expect(throws: PostgresError.self, "\(url.userName)") {
                        try await connection.query(statement)
                    }
                }
                await connection.close()
            }
            #expect(
                try await lab.strings("SELECT coalesce(max_running::text, '-') FROM onboarder.msps WHERE id = 'msp1'")
                    == ["-"])

            // The owner adds acme with its own partner app; the secret is sealed, never printed.
            let added = try await Self.msp(
                lab,
                [
                    "add", "acme", "--display-name", "Acme IT", "--partner-tenant-id", Self.tenant,
                    "--partner-client-id", Self.client, "--partner-secret-env", "ACME_SECRET", "--max-running", "5",
                ], url: owner)
            #expect(added.status == 0, "\(added.output)")
            #expect(added.output.contains("sealed secret set"))
            #expect(!added.output.contains(Self.secret))
            let sealed = try await lab.strings(
                "SELECT partner_secret_sealed FROM onboarder.msp_secrets WHERE msp_id = 'acme'")
            try #require(sealed.count == 1)
            #expect(sealed[0].hasPrefix("og1.") && !sealed[0].contains(Self.secret))
            let vault = try SecretVault.load(file: lab.keyFile, inline: "")
            #expect(try vault.open(sealed[0], context: "onboarder.msp_secrets/partner_secret/acme") == Self.secret)
            #expect((try? vault.open(sealed[0], context: "onboarder.msp_secrets/partner_secret/msp1")) == nil)
            #expect(
                try await lab.strings(
                    "SELECT display_name || ' ' || partner_client_id || ' ' || max_running FROM onboarder.msps WHERE id = 'acme'"
                )
                    == ["Acme IT \(Self.client) 5"])

            // Again: exit 4; bad input: exit 2 naming the option, nothing written.
            #expect(try await Self.msp(lab, ["add", "acme"], url: owner).status == 4)
            let bad = try await Self.msp(lab, ["add", "globex", "--partner-client-id", "nope"], url: owner)
            #expect(bad.status == 2)
            #expect(bad.output.contains("--partner-client-id: 'nope' is not a GUID"))
            let incomplete = try await Self.msp(lab, ["add", "globex", "--partner-client-id", Self.client], url: owner)
            #expect(incomplete.status == 2)
            #expect(incomplete.output.contains("--partner-tenant-id and --partner-client-id go together"))
            #expect(try await lab.strings("SELECT id FROM onboarder.msps WHERE id = 'globex'").isEmpty)
            #expect(try await Self.msp(lab, ["set", "nope", "--max-running", "1"], url: owner).status == 3)

            // set changes only what it is given; the stored secret stays as it was.
            let set = try await Self.msp(
                lab,
                [
                    "set", "acme", "--allowed-pbx-hosts", "*.acme.example", "--dns-provider", "cloudflare",
                    "--dns-zone", "sbc.acme.example", "--dns-secret-env", "ACME_DNS_TOKEN", "--writes-per-second",
                    "2.5",
                ], url: owner)
            #expect(set.status == 0, "\(set.output)")
            #expect(!set.output.contains(Self.dnsToken))
            #expect(
                try await lab.strings(
                    """
                    SELECT display_name || ' ' || max_running || ' ' || array_to_string(allowed_pbx_hosts, ',') || ' '
                           || dns_provider || ' ' || dns_zone || ' ' || writes_per_second
                      FROM onboarder.msps WHERE id = 'acme'
                    """) == ["Acme IT 5 *.acme.example cloudflare sbc.acme.example 2.5"])
            #expect(
                try await lab.strings("SELECT partner_secret_sealed FROM onboarder.msp_secrets WHERE msp_id = 'acme'")
                    == sealed)
            let dnsSealed = try await lab.strings(
                "SELECT dns_secret_sealed FROM onboarder.msp_secrets WHERE msp_id = 'acme'")
            try #require(dnsSealed.count == 1)
            #expect(try vault.open(dnsSealed[0], context: "onboarder.msp_secrets/dns_secret/acme") == Self.dnsToken)
            let cleared = try await Self.msp(lab, ["set", "acme", "--clear", "max-running"], url: owner)
            #expect(cleared.status == 0, "\(cleared.output)")
            #expect(
                try await lab.strings(
                    "SELECT coalesce(max_running::text, 'none') FROM onboarder.msps WHERE id = 'acme'")
                    == ["none"])

            // A certificate replaces the secret: stored as is, its key sealed; show gives its thumbprint.
            let key = try PrivateKey.generateRSA()
            let certificate = try Certificate.issue(Certificate.Options(commonName: "acme partner"), for: key)
            let pemFile = lab.directory.appendingPathComponent("acme-partner.pem").path
            FileManager.default.createFile(
                atPath: pemFile, contents: Data(((try certificate.pem) + (try key.pem())).utf8),
                attributes: [.posixPermissions: 0o600])
            let withCertificate = try await Self.msp(
                lab, ["set", "acme", "--partner-certificate", pemFile], url: owner)
            #expect(withCertificate.status == 0, "\(withCertificate.output)")
            let thumbprint = try certificate.sha1Thumbprint.map { String(format: "%02X", $0) }.joined()
            #expect(withCertificate.output.contains("thumbprint \(thumbprint)"))
            #expect(!withCertificate.output.contains("PRIVATE KEY"))
            let stored = try await lab.pool.query(
                """
                SELECT partner_secret_sealed, partner_certificate_pem, partner_key_sealed
                  FROM onboarder.msp_secrets WHERE msp_id = 'acme'
                """
            ).single().decode((String?, String?, String?).self)
            #expect(stored.0 == nil)
            #expect(stored.1 == (try certificate.pem))
            #expect(try vault.open(stored.2!, context: "onboarder.msp_secrets/partner_key/acme") == (try key.pem()))

            // A secret from standard input replaces the certificate.
            let fromStdin = try await Self.msp(
                lab, ["set", "acme", "--partner-secret-stdin"], url: owner, stdin: "stdin~secret.1\n")
            #expect(fromStdin.status == 0, "\(fromStdin.output)")
            let again = try await lab.strings(
                "SELECT partner_secret_sealed FROM onboarder.msp_secrets WHERE msp_id = 'acme'")
            try #require(again.count == 1)
            #expect(try vault.open(again[0], context: "onboarder.msp_secrets/partner_secret/acme") == "stdin~secret.1")

            // show and list, as the owner and a worker: credentials as facts, never values.
            for url in [owner, lab.workerURL] {
                let shown = try await Self.msp(lab, ["show", "acme"], url: url)
                #expect(shown.status == 0, "\(shown.output)")
                #expect(shown.output.contains("partner credential: sealed secret set"))
                #expect(shown.output.contains("sealed API token set"))
                #expect(!shown.output.contains("stdin~secret.1") && !shown.output.contains(Self.dnsToken))
                let listed = try await Self.msp(lab, ["list", "--format", "json"], url: url)
                #expect(listed.status == 0, "\(listed.output)")
                let objects = try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [[String: Any]]
                let acme = objects?.first { $0["id"] as? String == "acme" }
                #expect((acme?["partner_credential"] as? [String: Any])?["kind"] as? String == "secret")
                #expect(acme?["dns_secret_set"] as? Bool == true)
                #expect(!listed.output.contains("stdin~secret.1") && !listed.output.contains(Self.dnsToken))
            }
            // dashboard.msps: the owner's and workers' view of every MSP, an operator's of its own; no credential.
            let columns = try await lab.strings(
                """
                SELECT attname::text FROM pg_attribute
                 WHERE attrelid = 'dashboard.msps'::regclass AND attnum > 0 ORDER BY attnum
                """)
            #expect(!columns.contains { $0.contains("sealed") || $0.contains("secret") || $0.contains("certificate") })
            let workerView = try await PostgresConnection.connect(
                PostgresConfiguration(connectionString: lab.workerURL))
            let seen = try await workerView.query(
                "SELECT msp, partner_app, dns_provider, running FROM dashboard.msps ORDER BY msp"
            ).map { try $0.decode((String, String, String, Int64).self) }
            await workerView.close()
            #expect(seen.map(\.0) == ["acme", "msp1", "msp2"])
            #expect(seen.first?.1 == Self.client && seen.first?.2 == "cloudflare")
            #expect(seen.dropFirst().allSatisfy { $0.1 == "configuration" && $0.2 == "configuration" })
            let operatorView = try await PostgresConnection.connect(
                PostgresConfiguration(connectionString: lab.operatorURL))
            let own = try await operatorView.query("SELECT msp FROM dashboard.msps").map {
                try $0[0].decode(String.self)
            }
            await operatorView.close()
            #expect(own == ["msp1"])

            // An operator of msp1 sees msp1 only, and no credentials.
            #expect(try await Self.msp(lab, ["show", "acme"], url: lab.operatorURL).status == 3)
            let listed = try await Self.msp(lab, ["list"], url: lab.operatorURL)
            #expect(listed.status == 0, "\(listed.output)")
            #expect(listed.output.contains("msp1") && !listed.output.contains("acme"))
        } catch {
            try await lab.close()
            throw error
        }
        try await lab.close()
    }

    /// `msp partner-center-token`: the admin agent's refresh token for `consent = partner-center`, sealed for its
    /// MSP by the owner only, never printed, and kept when `msp set` empties the MSP's other secrets.
    @Test func thePartnerCenterTokenIsTheOwnersToStoreAndIsNeverPrinted() async throws {
        let lab = try await CommandLab("msppc")
        do {
            let owner = lab.owner.connectionString!
            let added = try await Self.msp(
                lab,
                [
                    "add", "acme", "--partner-tenant-id", Self.tenant, "--partner-client-id", Self.client,
                    "--partner-secret-env", "ACME_SECRET", "--consent", "partner-center",
                ], url: owner)
            #expect(added.status == 0, "\(added.output)")
            for url in [lab.workerURL, lab.operatorURL] {
                let refused = try await Self.msp(
                    lab, ["partner-center-token", "acme", "--stdin"], url: url, stdin: Self.partnerCenterToken)
                #expect(refused.status == 1, "\(refused.output)")
                #expect(refused.output.contains("needs the owner's login"), "\(refused.output)")
            }
            #expect(
                try await Self.msp(lab, ["partner-center-token", "nobody", "--stdin"], url: owner, stdin: "x").status
                    == 3)
            #expect(try await Self.msp(lab, ["partner-center-token", "acme"], url: owner).status == 2)
            let stored = try await Self.msp(
                lab, ["partner-center-token", "acme", "--stdin"], url: owner, stdin: Self.partnerCenterToken + "\n")
            #expect(stored.status == 0, "\(stored.output)")
            #expect(!stored.output.contains(Self.partnerCenterToken))
            let shown = try await Self.msp(lab, ["show", "acme"], url: owner)
            #expect(shown.output.contains("partner-center (sealed refresh token set)"), "\(shown.output)")
            #expect(!shown.output.contains(Self.partnerCenterToken))
            func sealed() async throws -> [String] {
                try await lab.strings(
                    "SELECT coalesce(partner_center_refresh_token_sealed, '-') FROM onboarder.msp_secrets WHERE msp_id = 'acme'"
                )
            }
            let vault = try SecretVault.load(file: lab.keyFile, inline: "")
            let first = try await sealed()
            try #require(first.count == 1)
            #expect(
                try vault.open(first[0], context: "onboarder.msp_secrets/partner_center_refresh_token/acme")
                    == Self.partnerCenterToken)
            #expect(
                (try? vault.open(first[0], context: "onboarder.msp_secrets/partner_center_refresh_token/msp1")) == nil)
            // The MSP back on the configured partner app: its own secrets go, the Partner Center token stays.
            let cleared = try await Self.msp(
                lab, ["set", "acme", "--clear", "partner-app", "--consent", "links"], url: owner)
            #expect(cleared.status == 0, "\(cleared.output)")
            #expect(try await sealed() == first)
            let removed = try await Self.msp(lab, ["partner-center-token", "acme", "--clear"], url: owner)
            #expect(removed.status == 0, "\(removed.output)")
            #expect(try await sealed() == ["-"])
            let shownAfter = try await Self.msp(lab, ["set", "acme", "--consent", "partner-center"], url: owner)
            #expect(
                shownAfter.output.contains("partner-center (no refresh token: onboarder msp partner-center-token acme"))
        } catch {
            try await lab.close()
            throw error
        }
        try await lab.close()
    }

    /// `keys rotate` re-seals the MSPs' secrets too — as the owner, the only login that may rewrite them; the
    /// workers' login says what it left.
    @Test func keysRotateResealsMSPSecretsAsTheOwner() async throws {
        let lab = try await CommandLab("mspkeys")
        do {
            let owner = lab.owner.connectionString!
            let added = try await Self.msp(
                lab,
                [
                    "add", "acme", "--partner-tenant-id", Self.tenant, "--partner-client-id", Self.client,
                    "--partner-secret-env", "ACME_SECRET", "--dns-provider", "cloudflare", "--dns-secret-env",
                    "ACME_DNS_TOKEN",
                ], url: owner)
            #expect(added.status == 0, "\(added.output)")
            let stored = try await Self.msp(
                lab, ["partner-center-token", "acme", "--stdin"], url: owner, stdin: Self.partnerCenterToken)
            #expect(stored.status == 0, "\(stored.output)")
            let old = try String(contentsOfFile: lab.keyFile, encoding: .utf8)
            let new = "k2 " + Data(try SecureRandom.bytes(32)).base64EncodedString()
            try "\(new)\n\(old)".write(toFile: lab.keyFile, atomically: false, encoding: .utf8)
            let binary = builtProductsDirectory.appendingPathComponent("onboarder").path
            func rotate(_ url: String) async throws -> (status: Int32, output: String) {
                try await runCommand(
                    [binary, "keys", "rotate"],
                    environment: [
                        "ONBOARDER_DATABASE_URL": url, "ONBOARDER_SECRETS_KEY_FILE": lab.keyFile,
                        "ONBOARDER_LOG_LEVEL": "critical", "ONBOARDER_CONFIG": "",
                    ])
            }
            let asWorker = try await rotate(lab.workerURL)
            #expect(asWorker.status == 1, "\(asWorker.output)")
            #expect(
                asWorker.output.contains("0 MSP secret(s) re-sealed; 3 left under other keys"), "\(asWorker.output)")
            let asOwner = try await rotate(owner)
            #expect(asOwner.status == 0, "\(asOwner.output)")
            #expect(asOwner.output.contains("3 MSP secret(s) re-sealed; 0 left"), "\(asOwner.output)")
            let (secret, token) = try await lab.pool.query(
                "SELECT partner_secret_sealed, dns_secret_sealed FROM onboarder.msp_secrets WHERE msp_id = 'acme'"
            ).single().decode((String, String).self)
            let newVault = try SecretVault.parse(new, source: "test")
            #expect(secret.hasPrefix("og1.k2.") && token.hasPrefix("og1.k2."))
            #expect(try newVault.open(secret, context: "onboarder.msp_secrets/partner_secret/acme") == Self.secret)
            #expect(try newVault.open(token, context: "onboarder.msp_secrets/dns_secret/acme") == Self.dnsToken)
            let partnerCenter = try await lab.strings(
                "SELECT partner_center_refresh_token_sealed FROM onboarder.msp_secrets WHERE msp_id = 'acme'")
            #expect(partnerCenter.first?.hasPrefix("og1.k2.") == true)
            #expect(
                try newVault.open(partnerCenter[0], context: "onboarder.msp_secrets/partner_center_refresh_token/acme")
                    == Self.partnerCenterToken)
        } catch {
            try await lab.close()
            throw error
        }
        try await lab.close()
    }
}
