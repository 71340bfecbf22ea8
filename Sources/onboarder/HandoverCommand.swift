import ArgumentParser
import Foundation
import OnboarderConfig
import Pipeline
import Postgres
import Store

struct HandoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "handover",
        abstract: "The technician's part at each customer's PBX: the sheet of what to enter, and its confirmation.",
        subcommands: [Sheet.self, Done.self])

    struct Sheet: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Print every customer waiting for its technician: PBX, directory and application ids, the secret.",
            discussion: """
                Run as the deployment's service login (it holds the key file that opens the secrets), like \
                `secret export`. Each secret is shown once: every showing is recorded as an event (who, \
                when, which key id, never the value) before the sheet is printed, and wakes a rotation \
                waiting for its hand-over; later sheets print `(shown before; --again)` unless --again. \
                An empty sheet says so and exits 0.
                """)

        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this MSP's customers.") var msp: String?
        @Option(help: "text (a terminal), csv (a spreadsheet) or json.") var format: SheetFormat = .text
        @Flag(help: "Show (and record) again the secrets shown before.") var again = false

        func run() async throws {
            try await reportingErrors {
                try await withDatabase(global) { config, pool in
                    let waiting = try await Handover.waiting(msp: msp, on: pool)
                    var stored: [Int64: SealedSecretRecord] = [:]
                    for job in waiting { stored[job.jobID] = try await Handover.secret(for: job, on: pool) }
                    // Opened before anything is recorded: a key file that cannot open them records nothing.
                    let toShow = waiting.compactMap { job in
                        stored[job.jobID].flatMap { !$0.exported || again ? (job, $0) : nil }
                    }
                    var shown: [Int64: String] = [:]
                    if !toShow.isEmpty {
                        let vault = try config.vault()
                        for (job, secret) in toShow where shown[secret.id] == nil {
                            shown[secret.id] = try vault.open(
                                secret.sealed, context: SecretVault.context(kind: "password", tenantID: job.customerID))
                        }
                    }
                    // Recorded, all in one transaction, before the sheet is printed, as `secret export` does:
                    // a showing nobody recorded never happens.
                    try await pool.transaction { connection in
                        for credential in shown.keys.sorted() {
                            try await CredentialRecords.recordExport(
                                credential: credential, actor: global.actingAs, on: connection)
                        }
                    }
                    let entries = waiting.map { job in
                        let secret = stored[job.jobID]
                        return HandoverSheetEntry(
                            waiting: job, secretKeyID: secret?.keyID, secret: secret.flatMap { shown[$0.id] },
                            secretShownBefore: secret?.exported ?? false)
                    }
                    print(HandoverSheet.render(entries, format: format), terminator: "")
                    if entries.isEmpty && format != .text {
                        FileHandle.standardError.write(Data("no customer waits for its technician\n".utf8))
                    }
                }
            }
        }
    }

    struct Done: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Tell Onboarder the technician finished at customers' PBXs: their waiting jobs check now.",
            discussion: """
                The technician entered the secret (and certificate) and did "Log into Microsoft 365". Every job \
                of each customer named waiting at the hand-over runs its check at once and records who said so (a \
                job waiting for a DNS record is not woken). A line per customer; the customers are taken one by \
                one, so one that fails leaves the others done. Exit 3: some customer is not known (or is \
                several MSPs' without --msp); else 4: for some customer none of its jobs waits at the hand-over \
                (one may be running its check: try again shortly); else 0.
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The customers: tenant id (GUID) or domain, as enqueued.") var customers: [String]
        @Option(help: "The MSP, when several have a customer.") var msp: String?

        func validate() throws {
            guard !customers.isEmpty else { throw ValidationError("name at least one customer") }
        }

        func run() async throws {
            try await reportingErrors {
                // One session for all of them: a technician's batch of customers costs one connection. Each
                // customer's line is printed as it is done, so an error midway leaves the lines of those done.
                let problems = try await withDatabase(global) { _, pool in
                    var problems: [HandoverDoneOutcome] = []
                    for name in customers {
                        let outcome = try await done(name, on: pool)
                        guard outcome.exitCode == 0 else {
                            problems.append(outcome)
                            continue
                        }
                        print(TerminalText.sanitized(outcome.line))
                    }
                    return problems
                }
                guard let worst = problems.map(\.exitCode).min() else { return }
                throw CleanExit.message(problems.map(\.line).joined(separator: "\n"), code: ExitCode(worst))
            }
        }

        func done(_ name: String, on pool: PostgresPool) async throws -> HandoverDoneOutcome {
            let matches = try await Tenants.matching(name, msp: msp, on: pool)
            if let problem = TenantSelector.problem(matching: matches, name: name, msp: msp) {
                return HandoverDoneOutcome(exitCode: 3, line: problem)
            }
            let key = matches[0].key
            guard let woken = try await Handover.done(tenant: matches[0].id, actor: global.actingAs, on: pool) else {
                return HandoverDoneOutcome(exitCode: 3, line: "no customer \(key) is known")
            }
            guard woken > 0 else {
                return HandoverDoneOutcome(
                    exitCode: 4,
                    line:
                        "nothing of \(key) waits for its technician (a job may be running its check now: try again in a minute)"
                )
            }
            return HandoverDoneOutcome(exitCode: 0, line: "handover done for \(key): \(woken) waiting job(s) resumed")
        }
    }
}

/// What `handover done` says of one customer: its line (not yet made safe for a terminal), and the exit status
/// it alone would give.
struct HandoverDoneOutcome {
    let exitCode: Int32
    let line: String
}
