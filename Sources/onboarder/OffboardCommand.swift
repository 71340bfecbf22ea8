import ArgumentParser
import Foundation
import OnboarderConfig
import Pipeline
import Postgres
import Store

/// `onboarder offboard`: enqueues the reverse pipeline (job kind `offboard`) for customers of the login's MSPs,
/// through `onboarder.enqueue_offboard` (an operator may not write jobs). `--dry-run` enqueues a survey-only
/// job (only workers hold the partner app, the key and the PBX secrets), waits for it and prints the plan as
/// read from the tenant, the DNS and the PBX.
struct OffboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "offboard",
        abstract: "Take customers out of the integration: PBX cleared, app, activation user, domain and TXT removed.",
        discussion: """
            Exit status: 0 enqueued (or, with --dry-run, the plan printed), 1 error, 2 rejected input (nothing \
            enqueued), 5 the dry run did not finish within --wait seconds (its job stays queued). --keep-domain \
            keeps the SBC domain, its TXT record and the activation user: the domain stays activated for Direct \
            Routing, so a later onboarding of the customer does not wait for DNS and activation again.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The customers: tenant id (GUID) or domain, as enqueued, or the default domain.")
    var customers: [String] = []

    @Option(help: "The MSP, when several have a customer of that name (or to check it is this MSP's).")
    var msp: String?

    @Option(help: "A CSV file with a header: msp,tenant and optionally keep_domain (true/false).")
    var file: String?

    @Flag(help: "Print what would be removed, read from the tenant, its DNS and its PBX; remove nothing.")
    var dryRun = false

    @Flag(help: "Keep the SBC domain, its TXT record and the activation user (Teams path).")
    var keepDomain = false

    @Option(help: "With --dry-run: how many seconds to wait for a worker to survey (default 120).")
    var wait = 120

    /// One customer to offboard, and where it was named (a file's line, or the command line).
    struct Request {
        var place: String
        var msp: String?
        var key: String
        var keepDomain: Bool
    }

    func requests() throws -> [Request] {
        guard (file == nil) != customers.isEmpty else {
            throw CleanExit.message("name the customers, or give --file FILE (not both)", code: ExitCode(2))
        }
        if msp.map({ !Validation.isMSPID($0) }) ?? false {
            throw CleanExit.message("--msp: not an MSP id", code: ExitCode(2))
        }
        guard let file else {
            return customers.map { Request(place: $0, msp: msp, key: $0, keepDomain: keepDomain) }
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CleanExit.message("\(file): cannot be read", code: ExitCode(2))
        }
        let (rows, problems) = OffboardingFile.read(data, name: file)
        guard problems.isEmpty else {
            throw CleanExit.message(
                problems.map(\.description).joined(separator: "\n") + "\nnothing enqueued", code: ExitCode(2))
        }
        if let msp, let other = rows.first(where: { $0.msp != msp }) {
            throw CleanExit.message(
                "\(file):\(other.line): msp: \(other.msp), but --msp \(msp) was given\nnothing enqueued",
                code: ExitCode(2))
        }
        return rows.map {
            Request(place: "\(file):\($0.line)", msp: $0.msp, key: $0.tenant, keepDomain: $0.keepDomain || keepDomain)
        }
    }

    func run() async throws {
        try await reportingErrors {
            let requests = try requests()
            try await withDatabase(global) { _, pool in
                let jobs = try await enqueue(requests, pool: pool)
                for (request, job) in zip(requests, jobs) {
                    print(
                        job.created
                            ? "\(request.key): \(dryRun ? "dry-run " : "")offboard job \(job.jobID) enqueued"
                            : "\(request.key): offboard job \(job.jobID) was enqueued before and is not finished")
                }
                if dryRun {
                    try await printPlans(zip(requests, jobs).map { ($0.key, $1.jobID) }, pool: pool)
                } else {
                    print(
                        "onboarder show CUSTOMER follows each one. Entra keeps a deleted app registration restorable for 30 days (Deleted applications)."
                    )
                }
            }
        }
    }

    /// Every request in one transaction, one call per MSP: a refused row refuses them all, named by its place.
    func enqueue(_ requests: [Request], pool: PostgresPool) async throws -> [Offboarding.Enqueued] {
        var groups: [(msp: String?, indices: [Int])] = []
        for (index, request) in requests.enumerated() {
            if let at = groups.firstIndex(where: { $0.msp == request.msp }) {
                groups[at].indices.append(index)
            } else {
                groups.append((request.msp, [index]))
            }
        }
        var results = [Offboarding.Enqueued?](repeating: nil, count: requests.count)
        var current: [Int] = []
        do {
            try await pool.transaction { connection in
                for group in groups {
                    current = group.indices
                    let enqueued = try await Offboarding.enqueue(
                        msp: group.msp, keys: group.indices.map { requests[$0].key },
                        keepDomain: group.indices.map { requests[$0].keepDomain }, dryRun: dryRun,
                        actor: global.actingAs, on: connection)
                    for entry in enqueued { results[group.indices[entry.ordinal - 1]] = entry }
                }
            }
        } catch let error as PostgresError where error.sqlState == "22023" || error.sqlState == "42501" {
            throw CleanExit.message(
                "\(Self.refusal(error.message, places: current.map { requests[$0].place }))\nnothing enqueued",
                code: ExitCode(2))
        }
        return results.compactMap { $0 }
    }

    /// The database's `row N: field: why` as `PLACE: field: why` (the file's line, or the customer named).
    static func refusal(_ message: String, places: [String]) -> String {
        guard let match = message.firstMatch(of: /^row (\d+): (.*)$/), let row = Int(match.output.1),
            row >= 1, row <= places.count
        else { return message }
        return "\(places[row - 1]): \(match.output.2)"
    }

    /// Waits for the dry runs' surveys (polling; a worker runs them) and prints each plan.
    func printPlans(_ jobs: [(key: String, job: Int64)], pool: PostgresPool) async throws {
        let deadline = ContinuousClock.now + .seconds(max(wait, 0))
        var failed = false
        for (key, job) in jobs {
            while true {
                let (state, attention, survey) = try await Offboarding.survey(job: job, on: pool)
                if state == "succeeded" || state == "succeeded_with_warnings", let survey {
                    print("\n\(key): the offboarding would:")
                    for line in OffboardPlan.lines(survey) { print("  \(line)") }
                    break
                }
                if ["needs_attention", "failed", "cancelled"].contains(state) {
                    print("\n\(key): the dry run (job \(job)) stopped: \(state): \(attention ?? "")")
                    failed = true
                    break
                }
                guard ContinuousClock.now < deadline else {
                    throw CleanExit.message(
                        "\(key): the dry run (job \(job)) did not finish within \(wait) s (it is \(state)): is a worker running? It stays queued; onboarder show \(key) follows it.",
                        code: ExitCode(5))
                }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        if failed { throw ExitCode.failure }
    }
}
