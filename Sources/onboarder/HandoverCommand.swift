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
                    let stored = try await CredentialRecords.handedOver(for: waiting, on: pool)
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
                    // Recorded, all in one statement, before the sheet is printed, as `secret export` does:
                    // a showing nobody recorded never happens.
                    try await CredentialRecords.recordExports(
                        credentials: shown.keys.sorted(), actor: global.actingAs, on: pool)
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
                job waiting for a DNS record is not woken). A line per customer. The customers are looked up \
                together and recorded together, one statement each: a customer not known leaves the others done; \
                a database error leaves none done (and says so). Exit 3: some customer is not known (or is several \
                MSPs' without --msp); else 4: for some customer none of its jobs waits at the hand-over (one may be \
                running its check: try again shortly); else 0.
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The customers: tenant id (GUID) or domain, as enqueued.") var customers: [String]
        @Option(help: "The MSP, when several have a customer.") var msp: String?

        func validate() throws {
            guard !customers.isEmpty else { throw ValidationError("name at least one customer") }
        }

        func run() async throws {
            try await reportingErrors {
                // One session and two statements for all of them: a technician's round names hundreds of
                // customers (BENCHMARKS.md, "The technician's round in a few statements").
                let outcomes = try await withDatabase(global) { _, pool in
                    let matches = try await Tenants.matching(customers, msp: msp, on: pool)
                    let found = zip(customers, matches).compactMap { name, rows in
                        TenantSelector.problem(matching: rows, name: name, msp: msp) == nil ? rows[0].id : nil
                    }
                    let woken = try await Handover.done(tenants: found, actor: global.actingAs, on: pool)
                    return zip(customers, matches).map { name, rows in
                        HandoverDoneOutcome(name: name, matching: rows, msp: msp, woken: woken)
                    }
                }
                for outcome in outcomes where outcome.exitCode == 0 {
                    print(TerminalText.sanitized(outcome.line))
                }
                let problems = outcomes.filter { $0.exitCode != 0 }
                guard let worst = problems.map(\.exitCode).min() else { return }
                throw CleanExit.message(problems.map(\.line).joined(separator: "\n"), code: ExitCode(worst))
            }
        }
    }
}

/// What `handover done` says of one customer: its line (not yet made safe for a terminal), and the exit status
/// it alone would give.
struct HandoverDoneOutcome {
    let exitCode: Int32
    let line: String

    /// The outcome for `name`, which matched `rows`, given how many jobs `handover_done_many` woke per customer
    /// (a customer it did not answer for is not one this login may act for).
    init(name: String, matching rows: [TenantRecord], msp: String?, woken: [Int64: Int]) {
        if let problem = TenantSelector.problem(matching: rows, name: name, msp: msp) {
            (exitCode, line) = (3, problem)
            return
        }
        let key = rows[0].key
        switch woken[rows[0].id] {
        case nil:
            (exitCode, line) = (3, "no customer \(key) is known")
        case 0:
            let hint = "a job may be running its check now: try again in a minute"
            (exitCode, line) = (4, "nothing of \(key) waits for its technician (\(hint))")
        case let count?:
            (exitCode, line) = (0, "handover done for \(key): \(count) waiting job(s) resumed")
        }
    }
}
