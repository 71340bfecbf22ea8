import ArgumentParser
import Crypto
import Foundation
import OnboarderConfig
import Pipeline
import Postgres
import Store

#if canImport(Glibc)
    import Glibc
#endif

/// A customer named on the command line: its tenant key (GUID or domain) as enqueued, or its Entra
/// tenant id; `--msp` when two MSPs have a customer of that name.
struct TenantSelector: ParsableArguments {
    @Argument(help: "The customer: tenant id (GUID) or domain, as enqueued.")
    var tenant: String

    @Option(help: "The MSP, when several have this customer.")
    var msp: String?

    func resolve(_ pool: PostgresPool) async throws -> TenantRecord {
        let rows = try await Tenants.matching(tenant, msp: msp, on: pool)
        if let problem = Self.problem(matching: rows, name: tenant, msp: msp) {
            throw CleanExit.message(problem, code: ExitCode(3))
        }
        return rows[0]
    }

    /// Why `rows`, the customers `name` matched, are not one customer (exit status 3); nil when they are.
    static func problem(matching rows: [TenantRecord], name: String, msp: String?) -> String? {
        switch rows.count {
        case 1: nil
        case 0: "no customer \(name)\(msp.map { " for MSP \($0)" } ?? "") is known"
        default: "\(name) is a customer of several MSPs; name one with --msp"
        }
    }
}

/// Opens the configured database for an operator command and closes it after.
func withDatabase<T>(
    _ global: GlobalOptions, _ body: (ResolvedConfiguration, PostgresPool) async throws -> T
) async throws -> T {
    let (config, logger) = try global.load()
    var postgres = config.postgres
    postgres.applicationName = "onboarder-cli"
    postgres.logger = logger
    let pool = PostgresPool(configuration: postgres, maxConnections: 2)
    do {
        let value = try await body(config, pool)
        await pool.close()
        return value
    } catch {
        await pool.close()
        if error is CleanExit || error is ExitCode { throw error }
        throw CleanExit.message("\(error)")
    }
}

struct SecretCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret", abstract: "Client secrets Onboarder created.", subcommands: [Export.self, Seal.self])

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a customer's current client secret, for an operator to enter in the PBX.",
            discussion: """
                The PBX's API cannot take the secret, so an operator hands it over. The secret is printed \
                to the terminal once; every export is recorded as an event (who, when, which key id), \
                never the value. A second export needs --again.
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var selector: TenantSelector
        @Flag(help: "Export a secret that was exported before.")
        var again = false

        func run() async throws {
            try await reportingErrors {
                try await withDatabase(global) { config, pool in
                    let vault = try config.vault()
                    let tenant = try await selector.resolve(pool)
                    guard let stored = try await CredentialRecords.currentSecret(tenant: tenant.id, on: pool) else {
                        throw CleanExit.message("\(tenant.key) has no client secret yet", code: ExitCode(3))
                    }
                    let keyID = stored.keyID
                    if stored.exported && !again {
                        throw CleanExit.message(
                            "the secret \(keyID) of \(tenant.key) was exported before; add --again to print it again",
                            code: ExitCode(4))
                    }
                    let secret = try vault.open(
                        stored.sealed, context: SecretVault.context(kind: "password", tenantID: tenant.id))
                    // Recorded (who, when, which key id — never the value) and a rotation waiting for this
                    // hand-over woken, before the secret is printed: an export nobody recorded never happens.
                    try await CredentialRecords.recordExports(
                        credentials: [stored.id], actor: global.actingAs, on: pool)
                    let formatter = ISO8601DateFormatter()
                    FileHandle.standardError.write(
                        Data(
                            "client secret of \(tenant.key) (key id \(keyID), expires \(stored.expiresAt.map(formatter.string) ?? "?")):\n"
                                .utf8))
                    print(secret)
                }
            }
        }
    }

    struct Seal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Seal a secret read from standard input into a `sealed:` reference for an enqueue file.",
            discussion: """
                The value opens only for the MSP and customer named here (they are the AES-GCM associated \
                data): copied into another MSP's or customer's row, the worker refuses it.
                """)

        @OptionGroup var global: GlobalOptions
        @Option(help: "The MSP whose enqueue row will carry the reference.") var msp: String
        @Option(help: "The customer (the tenant column of that row: tenant id or domain).") var customer: String

        func run() async throws {
            try await reportingErrors {
                let (config, _) = try global.load()
                guard Validation.isMSPID(msp) else {
                    throw CleanExit.message("--msp: not an MSP id", code: ExitCode(2))
                }
                guard !customer.isEmpty, customer.utf8.count <= 253 else {
                    throw CleanExit.message("--customer: the tenant id or domain of the row", code: ExitCode(2))
                }
                // A secret is a line; more than 64 KiB on standard input is not one.
                let data = FileHandle.standardInput.readData(ofLength: SecretResolver.maxFileBytes + 1)
                guard data.count <= SecretResolver.maxFileBytes else {
                    throw CleanExit.message(
                        "more than \(SecretResolver.maxFileBytes) bytes on standard input: not a secret",
                        code: ExitCode(2))
                }
                let input = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                guard !input.isEmpty else {
                    throw CleanExit.message("nothing on standard input to seal", code: ExitCode(2))
                }
                let context = SecretReference.sealingContext(msp: msp, customer: customer)
                print("sealed:" + (try config.vault().seal(input, context: context)))
            }
        }
    }
}

/// `retry`, `cancel`, `resume`: act on a customer's latest job (or one job by `--job`).
struct JobAction: ParsableArguments {
    @Argument(help: "The customer: tenant id (GUID) or domain, as enqueued (or use --job).")
    var tenant: String?

    @Option(help: "The MSP, when several have this customer.")
    var msp: String?

    @Option(help: "A job id instead of a customer.")
    var job: Int64?

    @Option(help: "The job kind (onboard, rotate-secret, …).")
    var kind = "onboard"

    func jobID(_ pool: PostgresPool) async throws -> Int64 {
        if let job { return job }
        guard let tenant else { throw CleanExit.message("name a customer or --job", code: .validationFailure) }
        let selected = try await TenantSelector.parse([tenant] + (msp.map { ["--msp", $0] } ?? [])).resolve(pool)
        guard let job = try await Jobs.latest(tenant: selected.id, kind: kind, on: pool) else {
            throw CleanExit.message("\(tenant) has no \(kind) job", code: ExitCode(3))
        }
        return job
    }
}

extension JobAction {
    /// Performs `action` on the chosen job, recording who acted. "No job" alike for a job that does not
    /// exist and for one of an MSP this login may not act for (exit 3); a job not in a state the action
    /// applies to exits 4 (`refusal` says why).
    func perform(_ global: GlobalOptions, _ action: OperatorAction, refusal: String) async throws {
        try await withDatabase(global) { _, pool in
            let id = try await jobID(pool)
            switch try await OperatorActions.perform(action, job: id, actor: global.actingAs, on: pool) {
            case .done(let state): print("job \(id): \(state)")
            case .notApplicable: throw CleanExit.message("job \(id) \(refusal)", code: ExitCode(4))
            case .noSuchJob: throw CleanExit.message("no job \(id)", code: ExitCode(3))
            }
        }
    }
}

struct RetryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Run a stopped job again (needs attention, failed, cancelled): its done steps stay done.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var action: JobAction

    func run() async throws {
        try await reportingErrors {
            try await action.perform(
                global, .retry,
                refusal: "is running or finished, or its customer has another active job")
        }
    }
}

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Run a job waiting for an operator now (after publishing a DNS record by hand, say).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var action: JobAction

    func run() async throws {
        try await reportingErrors {
            try await action.perform(global, .resume, refusal: "is not waiting or stopped")
        }
    }
}

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel a job that is not running (queued, waiting, needs attention).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var action: JobAction

    func run() async throws {
        try await reportingErrors {
            try await action.perform(
                global, .cancel, refusal: "is running or finished; nothing cancelled")
        }
    }
}

struct ScriptsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scripts",
        abstract: "Print the Teams PowerShell the PBX generated for a customer (dial plan, user mapping).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var selector: TenantSelector

    func run() async throws {
        try await reportingErrors {
            try await withDatabase(global) { _, pool in
                let tenant = try await selector.resolve(pool)
                let scripts = try await Tenants.scripts(tenant: tenant.id, on: pool)
                guard !scripts.isEmpty else {
                    throw CleanExit.message("no scripts for \(tenant.key) yet (Teams path only)", code: ExitCode(3))
                }
                for (name, body) in scripts {
                    // PowerShell the PBX generated, for an operator to paste: lines kept, terminal controls not.
                    let lines = body.replacingOccurrences(of: "\t", with: "    ").split(
                        separator: "\n", omittingEmptySubsequences: false)
                    print("# \(name)\n\(lines.map { TerminalText.sanitized(String($0)) }.joined(separator: "\n"))\n")
                }
            }
        }
    }
}

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Encryption keys for stored secrets.", subcommands: [Generate.self, Rotate.self])

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-encrypt every stored secret under the first key of the key file.",
            discussion: """
                Put the new key line first in secrets.key_file (keep the old lines), run this, then drop the \
                old lines. It re-seals the client secrets and private keys in onboarder.credentials and the \
                sealed: references in job payloads, in batches of --batch, each batch its own transaction: \
                an interrupted run loses nothing, and running it again finishes the rest. The MSPs' partner and \
                DNS secrets (onboarder.msp_secrets) only the owner's login may rewrite: run it once more as the \
                owner when it says some are left.
                """)

        @OptionGroup var global: GlobalOptions
        @Option(help: "Secrets per transaction.") var batch = 100

        func run() async throws {
            try await reportingErrors {
                try await withDatabase(global) { config, pool in
                    let vault = try config.vault()
                    let current = vault.sealingKeyID
                    var credentials = 0
                    while true {
                        let moved = try await CredentialRecords.resealBatch(notUnder: current, limit: batch, on: pool) {
                            let context = SecretVault.context(kind: $0.kind, tenantID: $0.tenantID)
                            return try vault.seal(try vault.open($0.sealed, context: context), context: context)
                        }
                        credentials += moved
                        if moved > 0
                            && ProcessInfo.processInfo.environment["ONBOARDER_CRASH_AT"] == "after:keys-rotate-batch"
                        {
                            kill(getpid(), SIGKILL)
                        }
                        if moved < batch { break }
                    }
                    // sealed: references in the payloads of jobs that may still run. Re-sealed for the same MSP
                    // and customer: a value bound to another one (moved into this row) does not open, and stays
                    // as it is for the worker to refuse.
                    let references = try await CredentialRecords.resealJobReferences(notUnder: current, on: pool) {
                        sealed, msp, customer in
                        let context = SecretReference.sealingContext(msp: msp, customer: customer)
                        guard let plain = try? vault.open(sealed, context: context) else { return nil }
                        return try vault.seal(plain, context: context)
                    }
                    // The MSPs' partner and DNS secrets: only the owner may rewrite them.
                    var mspSecrets = 0
                    if try await MSPRecords.mayWriteSecrets(on: pool) {
                        mspSecrets = try await MSPRecords.reseal(notUnder: current, on: pool) { sealed, column, msp in
                            let context = MSPProfile.sealingContext(column: column, msp: msp)
                            return try vault.seal(try vault.open(sealed, context: context), context: context)
                        }
                    }
                    let mspLeft = try await MSPRecords.countNotUnder(keyID: current, on: pool)
                    let left = try await CredentialRecords.countNotUnder(keyID: current, on: pool)
                    print(
                        "keys rotate: \(credentials) stored secret(s) and \(references) job reference(s) re-sealed under \(current); \(left) left under other keys"
                    )
                    if mspSecrets > 0 || mspLeft > 0 {
                        print(
                            "keys rotate: \(mspSecrets) MSP secret(s) re-sealed; \(mspLeft) left under other keys"
                                + (mspLeft > 0 ? " (onboarder.msp_secrets: run keys rotate as the owner's login)" : ""))
                    }
                    if left > 0 || mspLeft > 0 { throw ExitCode.failure }
                }
            }
        }
    }

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new key line (`<key id> <base64>`) for secrets.key_file.")

        func run() async throws {
            let id =
                "k"
                + Base64URL.encode(try SecureRandom.bytes(6)).replacingOccurrences(of: "-", with: "x")
                .replacingOccurrences(of: "_", with: "y")
            print("\(id) \(Data(try SecureRandom.bytes(32)).base64EncodedString())")
        }
    }
}
