import ArgumentParser
import Foundation
import OnboarderConfig
import Pipeline
import Postgres
import Store

/// `onboarder msp add|set|show|list`: MSPs as records — each one's partner app (client id; certificate
/// or sealed secret), cloud, consent mode, DNS provider and zone, allowed PBX hosts and limits. Adding and
/// changing need the owner's login (only it writes `msps` / `msp_secrets`) and the secrets key (it seals).
struct MSPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "msp",
        abstract: "MSPs: each one's partner app, cloud, DNS, allowed PBX hosts and limits.",
        discussion: """
            An MSP without a partner app of its own uses the configuration's (partner.*): the default MSP. \
            Secrets are sealed under the secrets key before they are stored and never printed. Exit status: \
            0 done, 1 error (a login that may not change MSPs: use the owner's), 2 rejected input, 3 no such \
            MSP, 4 the MSP exists already (msp add).
            """,
        subcommands: [Add.self, SetCommand.self, Show.self, List.self, PartnerCenterToken.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an MSP (the owner's login, with the secrets key).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The MSP's id (1-63 letters, digits, . _ -), as enqueue files name it.") var id: String
        @OptionGroup var options: MSPOptions

        func run() async throws {
            try await reportingErrors {
                try MSPCommand.checkID(id)
                let change = try MSPCommand.change(options.values(clear: []))
                let draft = change.applied(to: MSPDraft(id: id, displayName: id))
                try MSPCommand.check(draft)
                try await withDatabase(global) { config, pool in
                    let vault = draft.sealsSomething ? try config.vault() : nil
                    let (row, secrets) = try draft.rows(stored: nil, seal: MSPCommand.sealer(vault, msp: id))
                    let added = try await MSPCommand.writing {
                        try await pool.transaction { try await MSPRecords.insert(row, secrets: secrets, on: $0) }
                    }
                    guard added else {
                        throw CleanExit.message(
                            "MSP \(id) exists already: change it with onboarder msp set \(id)", code: ExitCode(4))
                    }
                    print(MSPView(draft: draft).text)
                }
            }
        }
    }

    struct SetCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Change an MSP: only the options given (the owner's login, with the secrets key).",
            discussion: """
                --clear FIELD empties a field: partner-app (the MSP uses the configuration's partner app \
                again), dns (the configuration's DNS again), dns-zone, dns-server, dns-base-url, \
                dns-tsig-key-name, dns-tsig-algorithm, allowed-pbx-hosts (any host), max-running (no limit of \
                its own), writes-per-second (the default). --cloud global and --consent links restore those.
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The MSP's id.") var id: String
        @OptionGroup var options: MSPOptions
        @Option(help: "Empty a field (repeatable): partner-app, dns, dns-zone, …, max-running, writes-per-second.")
        var clear: [String] = []

        func run() async throws {
            try await reportingErrors {
                try MSPCommand.checkID(id)
                let change = try MSPCommand.change(options.values(clear: clear))
                try await withDatabase(global) { config, pool in
                    let vault: SecretVault? =
                        change.credential != nil || change.dnsSecret != nil ? try config.vault() : nil
                    let draft = try await MSPCommand.writing {
                        try await pool.transaction { connection -> MSPDraft in
                            guard let current = try await MSPRecords.load(id, lock: true, on: connection) else {
                                throw CleanExit.message(
                                    "no MSP \(id): add it with onboarder msp add \(id)", code: ExitCode(3))
                            }
                            let stored = try await MSPRecords.secrets([id], on: connection)[id]
                            let draft = change.applied(to: MSPDraft(row: current, secrets: stored))
                            try MSPCommand.check(draft)
                            let (row, secrets) = try draft.rows(stored: stored, seal: MSPCommand.sealer(vault, msp: id))
                            try await MSPRecords.update(row, secrets: secrets, on: connection)
                            return draft
                        }
                    }
                    print(MSPView(draft: draft).text)
                    if change.partnerClientID != nil, change.credential == nil, draft.credential.isPresent {
                        FileHandle.standardError.write(
                            Data(
                                "note: the stored partner credential was kept; give the new app's with --partner-certificate or --partner-secret-* if it is not the same app's\n"
                                    .utf8))
                    }
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show an MSP: its partner app, credential (never the secret), cloud, DNS and limits.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The MSP's id.") var id: String
        @Option(help: "text or json.") var format = "text"

        func run() async throws {
            try await reportingErrors {
                try MSPCommand.checkFormat(format)
                try await withDatabase(global) { _, pool in
                    guard let row = try await MSPRecords.load(id, on: pool) else {
                        throw CleanExit.message("no MSP \(id)", code: ExitCode(3))
                    }
                    let visible = try await MSPRecords.mayReadSecrets(on: pool)
                    let secrets = visible ? try await MSPRecords.secrets([id], on: pool)[id] : nil
                    let view = MSPView(row: row, secrets: secrets, secretsVisible: visible)
                    print(format == "json" ? try MSPCommand.json(view.json) : view.text)
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the MSPs this login may see.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "text or json.") var format = "text"

        func run() async throws {
            try await reportingErrors {
                try MSPCommand.checkFormat(format)
                try await withDatabase(global) { _, pool in
                    let rows = try await MSPRecords.all(on: pool)
                    let visible = try await MSPRecords.mayReadSecrets(on: pool)
                    let secrets = visible ? try await MSPRecords.secrets(rows.map(\.id), on: pool) : [:]
                    let views = rows.map { MSPView(row: $0, secrets: secrets[$0.id], secretsVisible: visible) }
                    print(format == "json" ? try MSPCommand.json(views.map(\.json)) : MSPView.table(views))
                }
            }
        }
    }

    static func checkID(_ id: String) throws {
        guard Validation.isMSPID(id) else {
            throw CleanExit.message(
                "MSP id '\(id)': 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit",
                code: ExitCode(2))
        }
    }

    static func checkFormat(_ format: String) throws {
        guard format == "text" || format == "json" else {
            throw CleanExit.message("--format: '\(format)' is not text or json", code: ExitCode(2))
        }
    }

    static func change(_ values: MSPOptionValues) throws -> MSPChange {
        switch values.change(MSPInputs()) {
        case .success(let change): return change
        case .failure(let problems):
            throw CleanExit.message(problems.problems.joined(separator: "\n"), code: ExitCode(2))
        }
    }

    static func check(_ draft: MSPDraft) throws {
        let problems = draft.problems
        guard problems.isEmpty else {
            throw CleanExit.message(
                "MSP \(draft.id) would not be usable:\n" + problems.map { "  " + $0 }.joined(separator: "\n"),
                code: ExitCode(2))
        }
    }

    /// Seals a value of column `column` for this MSP (`onboarder.msp_secrets/<column>/<msp>`).
    static func sealer(_ vault: SecretVault?, msp: String) -> (String, String) throws -> String {
        { value, column in
            guard let vault else { throw CleanExit.message("no secrets key to seal with") }
            return try vault.seal(value, context: MSPSecretContext.context(column: column, msp: msp))
        }
    }

    /// A statement the login may not make is the owner's to make.
    static func writing<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PostgresError where error.sqlState == "42501" {
            throw CleanExit.message(
                "permission denied: adding or changing an MSP needs the owner's login (onboarder_owner), which writes onboarder.msps and onboarder.msp_secrets"
            )
        } catch let error as PostgresError where error.sqlState == "23514" || error.sqlState == "22P02" {
            throw CleanExit.message("the database refused the MSP: \(error)", code: ExitCode(2))
        }
    }

    static func json(_ value: Any) throws -> String {
        String(
            decoding: try JSONSerialization.data(
                withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]),
            as: UTF8.self)
    }
}

/// The sealing context of an MSP's secret: `onboarder.msp_secrets/<column without _sealed>/<msp id>`, so
/// a value copied into another MSP's row or column does not open.
enum MSPSecretContext {
    static func context(column: String, msp: String) -> String { MSPProfile.sealingContext(column: column, msp: msp) }
}

/// The options `msp add` and `msp set` share.
struct MSPOptions: ParsableArguments {
    @Option(name: .customLong("display-name"), help: "The MSP's name, for people.") var displayName: String?
    @Option(help: "global, usgov (GCC High) or china: the Microsoft cloud its partner app lives in.") var cloud: String?
    @Option(name: .customLong("partner-tenant-id"), help: "The tenant (GUID) the MSP's partner app is registered in.")
    var partnerTenantID: String?
    @Option(name: .customLong("partner-client-id"), help: "The partner app's application (client) id.")
    var partnerClientID: String?
    @Option(
        name: .customLong("partner-certificate"),
        help: "PEM file with the partner app's certificate and private key (mode 600; the key is stored sealed).")
    var partnerCertificate: String?
    @Option(name: .customLong("partner-secret-env"), help: "The variable holding the partner app's client secret.")
    var partnerSecretEnv: String?
    @Flag(name: .customLong("partner-secret-stdin"), help: "Read the partner app's client secret from standard input.")
    var partnerSecretStdin = false
    @Option(help: "links (admin-consent links) or partner-center.") var consent: String?
    @Option(name: .customLong("dns-provider"), help: "manual, cloudflare or rfc2136 (default: the configuration's).")
    var dnsProvider: String?
    @Option(name: .customLong("dns-zone"), help: "The zone its customers' records go in.") var dnsZone: String?
    @Option(name: .customLong("dns-server"), help: "rfc2136: the zone's primary server, host:port.") var dnsServer:
        String?
    @Option(name: .customLong("dns-base-url"), help: "cloudflare: the API's URL.") var dnsBaseURL: String?
    @Option(name: .customLong("dns-tsig-key-name"), help: "rfc2136: the TSIG key's name.") var dnsTSIGKeyName: String?
    @Option(name: .customLong("dns-tsig-algorithm"), help: "rfc2136: hmac-sha256 (default), hmac-sha512, …")
    var dnsTSIGAlgorithm: String?
    @Option(
        name: .customLong("dns-secret-env"),
        help: "The variable holding the Cloudflare API token or the TSIG secret (stored sealed).")
    var dnsSecretEnv: String?
    @Option(name: .customLong("allowed-pbx-hosts"), help: "Hosts its PBX URLs may name: a.example.com,*.b.example.com")
    var allowedPBXHosts: String?
    @Option(name: .customLong("max-running"), help: "Its jobs running at once, across every worker.")
    var maxRunning: String?
    @Option(name: .customLong("writes-per-second"), help: "Graph writes per second for its partner app.")
    var writesPerSecond: String?

    func values(clear: [String]) -> MSPOptionValues {
        MSPOptionValues(
            displayName: displayName, cloud: cloud, partnerTenantID: partnerTenantID, partnerClientID: partnerClientID,
            partnerCertificate: partnerCertificate, partnerSecretEnv: partnerSecretEnv,
            partnerSecretStdin: partnerSecretStdin, consent: consent, dnsProvider: dnsProvider, dnsZone: dnsZone,
            dnsServer: dnsServer, dnsBaseURL: dnsBaseURL, dnsTSIGKeyName: dnsTSIGKeyName,
            dnsTSIGAlgorithm: dnsTSIGAlgorithm, dnsSecretEnv: dnsSecretEnv, allowedPBXHosts: allowedPBXHosts,
            maxRunning: maxRunning, writesPerSecond: writesPerSecond, clear: clear)
    }
}
