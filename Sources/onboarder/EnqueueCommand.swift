import ArgumentParser
import Foundation
import OnboarderConfig
import Pipeline
import Postgres
import Queue
import Store

#if canImport(Glibc)
    import Glibc
#endif

struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Enqueue customer onboardings from a CSV or JSON Lines file ('-': standard input).",
        discussion: """
            Columns: \(EnqueueFile.columns.joined(separator: ", ")) (msp, tenant, path, pbx_url, pbx_client_id \
            and pbx_secret required; see the README). Every row is validated before anything is written, and \
            every problem is reported as FILE:LINE: COLUMN: reason. By default nothing is enqueued when any \
            row is invalid. A customer is its Entra tenant id: each domain is looked up first (Entra's OpenID \
            discovery, at the login host of the MSP's cloud), so a customer enqueued before under another key (its \
            tenant id, another domain) is found, and its active onboarding is reported, not duplicated; a \
            domain Entra does not know is a row problem, and another MSP's customer is refused, naming the MSP. \
            At most 256 MiB is read; a file that is larger, not UTF-8, empty or without rows is rejected whole.
            Exit status: 0 all rows accepted; 2 rows or the file were rejected; 1 the database failed; 3 \
            accepted but held for approval (more onboard jobs than enqueue.approval_threshold, or --from-gdap): \
            the plan and the batch are printed, and nothing runs until another login runs onboarder approve \
            BATCH (2 wins when rows were also rejected).

            --from-gdap --msp X: the MSP's customers from its GDAP relationships instead of a file: those \
            with an active, unexpired relationship holding Privileged Role Administrator (--require-role), \
            matching --filter, are enqueued through the same checks, dedupe and report; every other one is \
            named with the reason it was skipped. FILE is then a snapshot from onboarder gdap export (the \
            login that may use the partner app); without it the partner tenant is read now. The PBX fields \
            come from --pbx-url/--pbx-client-id/--pbx-secret/--sbc-domain templates ({tenant_id}, {label}, \
            {customer}, {msp}) and --pbx-table (a CSV keyed by tenant_id, whose values win).
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The file, or - for standard input (with --from-gdap: a gdap export snapshot, optional).")
    var file: String?

    @Flag(help: "Enqueue the valid rows even when others are rejected.")
    var skipInvalid = false

    @Flag(help: "Validate, look up each domain's tenant id and report both; write nothing.")
    var dryRun = false

    @OptionGroup(title: "GDAP discovery") var gdap: GDAPEnqueueOptions

    @Flag(
        help: """
            Enqueue domains without looking up their tenant ids (the worker records each at resolve-tenant, and \
            stops a job there whose customer was enqueued before under another key).
            """)
    var noResolve = false

    func run() async throws {
        try await reportingErrors {
            if gdap.fromGDAP { return try await runFromGDAP() }
            if let option = gdap.setOptions.first {
                throw CleanExit.message(
                    "\(option) is for --from-gdap; a file names its MSPs and PBXs itself", code: .validationFailure)
            }
            guard let file else {
                throw CleanExit.message("give the file to enqueue (or --from-gdap --msp X)", code: .validationFailure)
            }
            let configuration = try global.configuration()
            let rules = try configuration.enqueueRules()
            let name = file == "-" ? "<stdin>" : file
            let data = try Self.readInput(file == "-" ? nil : file, name: name)
            var result = EnqueueFile.read(data, name: name, rules: rules)
            if result.rejectedWhole {
                Self.printProblems(result.problems)
                throw CleanExit.message(
                    "nothing enqueued: \(TerminalText.sanitized(name)) was rejected as a whole", code: ExitCode(2))
            }
            // One database session for the lookups and the write (withDatabase sets up logging, once).
            let resolving = !noResolve && !result.rows.isEmpty
            if resolving || !dryRun {
                try await withDatabase(global) { _, pool in
                    try await proceed(&result, name: name, configuration: configuration, pool: pool)
                }
            } else {
                try await proceed(&result, name: name, configuration: configuration, pool: nil)
            }
        }
    }

    /// After the file is read: the tenant ids (unless --no-resolve), the report, then the write (`pool` is
    /// nil only for a dry run without lookups).
    func proceed(
        _ result: inout EnqueueFile.Result, name: String, configuration: ResolvedConfiguration, pool: PostgresPool?
    ) async throws {
        var tenantIDs: [Int: String] = [:]  // by line
        if !noResolve, let pool, !result.rows.isEmpty {
            // Each domain is looked up in its MSP's cloud (read through msp_clouds: enqueuers may not read
            // the MSPs' table).
            let domainRows = result.rows.filter { EnqueueIdentity.tenantID(ofKey: $0.tenant) == nil }
            let clouds = try await CustomerIdentity.clouds(of: Array(Set(domainRows.map(\.msp))), on: pool)
            tenantIDs = await resolve(&result, name: name, configuration: configuration, clouds: clouds)
            // Another MSP's customers, reported by line now (and left out by --skip-invalid); enqueue_many
            // would refuse the whole file for them.
            let identified = result.rows.filter { tenantIDs[$0.line] != nil }
            let others = try await CustomerIdentity.otherMSPs(
                msps: identified.map(\.msp), tenantIDs: identified.map { tenantIDs[$0.line]! }, on: pool)
            for (index, msp) in others.sorted(by: { $0.key < $1.key }) {
                let row = identified[index]
                result.problems.append(
                    EnqueueFile.Problem(
                        file: name, line: row.line, column: "tenant",
                        reason: "\(row.tenant) is already a customer of MSP \(msp)"))
                result.rejectedLines.insert(row.line)
            }
            if !others.isEmpty {
                let lines = Set(others.keys.map { identified[$0].line })
                result.rows.removeAll { lines.contains($0.line) }
                result.problems.sort { $0.line < $1.line }
            }
        }
        Self.printProblems(result.problems)
        let rejected = result.rejectedLines.count
        if rejected > 0 && !skipInvalid && !dryRun {
            throw CleanExit.message(
                "nothing enqueued: \(rejected) row(s) rejected, \(result.rows.count) valid (fix the file, or --skip-invalid)",
                code: ExitCode(2))
        }
        if dryRun {
            // The resolution, domain by domain, for the operator to check.
            for row in result.rows where EnqueueIdentity.tenantID(ofKey: row.tenant) == nil {
                guard let id = tenantIDs[row.line] else { continue }
                print(TerminalText.sanitized("\(name):\(row.line): \(row.tenant): tenant \(id)"))
            }
            print("dry run: \(result.rows.count) row(s) valid, \(rejected) rejected; nothing written")
            if rejected > 0 { throw ExitCode(2) }
            return
        }
        guard let pool else { return }
        let outcome = try await enqueue(
            result.rows, tenantIDs: tenantIDs, name: name, configuration: configuration, pool: pool)
        var summary = "\(outcome.created) enqueued"
        if !outcome.existing.isEmpty { summary += ", \(outcome.existing.count) already had an active onboarding" }
        if rejected > 0 { summary += ", \(rejected) rejected" }
        for existing in outcome.existing.prefix(20) {
            // The customer enqueued before under another key (its tenant id, another domain): named.
            let under = existing.key.map { " as \($0)" } ?? ""
            print(
                TerminalText.sanitized(
                    "\(name):\(existing.line): already active\(under): job \(existing.job) (\(existing.state))"))
        }
        if outcome.existing.count > 20 { print("… and \(outcome.existing.count - 20) more already active") }
        print(summary)
        if rejected > 0 { throw ExitCode(2) }
        if outcome.batch != nil { throw ExitCode(Self.heldStatus) }
    }

    /// The exit status of an enqueue held for approval: accepted, but nothing runs until approved.
    static let heldStatus: Int32 = 3

    /// Problems quote the file's own text (and Entra's): shown through the sanitiser, so a row cannot write
    /// escape sequences to the operator's terminal.
    static func printProblems(_ problems: [EnqueueFile.Problem]) {
        var report = ""
        for problem in problems { report += TerminalText.sanitized(problem.description) + "\n" }
        FileHandle.standardError.write(Data(report.utf8))
    }

    /// The file's bytes (standard input's when `path` is nil), at most `EnqueueFile.Limits.fileBytes`: read
    /// in chunks and stopped past the limit, so `enqueue - < /dev/zero` ends with a message instead of
    /// filling memory; a regular file over the limit is refused before a byte is read.
    static func readInput(_ path: String?, name: String) throws -> Data {
        let limit = EnqueueFile.Limits.fileBytes
        let shown = TerminalText.sanitized(name)
        func tooLarge(_ size: String) -> CleanExit {
            CleanExit.message(
                "nothing enqueued: \(shown) has \(size) bytes; enqueue reads at most \(limit) (256 MiB): split it",
                code: ExitCode(2))
        }
        let descriptor: Int32
        if let path {
            descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                throw CleanExit.message("cannot read \(shown): \(String(cString: strerror(errno)))")
            }
        } else {
            descriptor = STDIN_FILENO
        }
        defer { if path != nil { close(descriptor) } }
        var status = stat()
        if fstat(descriptor, &status) == 0 {
            if (status.st_mode & S_IFMT) == S_IFDIR { throw CleanExit.message("cannot read \(shown): it is a folder") }
            if (status.st_mode & S_IFMT) == S_IFREG && Int(status.st_size) > limit {
                throw tooLarge("\(status.st_size)")
            }
        }
        var data = Data()
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 1)
        defer { buffer.deallocate() }
        while true {
            // One byte past the limit tells "exactly the limit" from "more".
            let count = read(descriptor, buffer.baseAddress, min(chunk, limit + 1 - data.count))
            let error = errno
            if count < 0 && error == EINTR { continue }
            guard count >= 0 else {
                throw CleanExit.message("cannot read \(shown): \(String(cString: strerror(error)))")
            }
            if count == 0 { break }
            data.append(buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), count: count)
            if data.count > limit { throw tooLarge("more than \(limit)") }
        }
        return data
    }

    /// All rows in one transaction (all or nothing), in batches, with progress on a terminal. A row the
    /// database refuses ("row N: …", N counted in its batch) is reported as FILE:LINE, exit status 2.
    /// When the database holds them for approval (or `hold`, for --from-gdap), the plan and the batch are
    /// printed: `batch` in the outcome.
    func enqueue(
        _ rows: [EnqueueFile.Row], tenantIDs: [Int: String], name: String, configuration: ResolvedConfiguration,
        hold: String? = nil, pool: PostgresPool
    ) async throws -> (created: Int, existing: [(line: Int, job: Int64, state: String, key: String?)], batch: Int64?) {
        let plan = BatchPlan(
            rows: rows.map { BatchPlan.Row(msp: $0.msp, tenant: $0.tenant, payload: $0.payload) },
            settings: configuration.batchPlanSettings())
        do {
            return try await enqueue(rows, tenantIDs: tenantIDs, name: name, plan: plan, hold: hold, pool: pool)
        } catch is Jobs.HeldPartway {
            // A later statement of the file was held after earlier ones were not: the file is one batch.
            return try await enqueue(
                rows, tenantIDs: tenantIDs, name: name, plan: plan, hold: hold ?? "threshold", pool: pool)
        }
    }

    private func enqueue(
        _ rows: [EnqueueFile.Row], tenantIDs: [Int: String], name: String, plan: BatchPlan, hold: String?,
        pool: PostgresPool
    ) async throws -> (created: Int, existing: [(line: Int, job: Int64, state: String, key: String?)], batch: Int64?) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let requests = try rows.map { row in
            EnqueueRequest(
                msp: row.msp, tenantKey: row.tenant, kind: "onboard",
                payload: PostgresJSON(text: String(decoding: try encoder.encode(row.payload), as: UTF8.self)),
                priority: row.priority,
                entraTenantID: EnqueueIdentity.tenantID(ofKey: row.tenant) == nil ? tenantIDs[row.line] : nil)
        }
        let terminal = isatty(2) == 1
        var done = 0
        let results: [EnqueueResult?]
        do {
            results = try await Jobs.enqueueAll(
                requests, actor: global.actingAs, hold: hold,
                plan: { range in PostgresJSON(text: try plan.json(customers: range)) }, on: pool
            ) { count in
                done = count
                guard terminal else { return }
                let width = 30
                let filled = width * count / max(rows.count, 1)
                FileHandle.standardError.write(
                    Data(
                        "\r[\(String(repeating: "#", count: filled))\(String(repeating: " ", count: width - filled))] \(count)/\(rows.count)"
                            .utf8))
            }
        } catch let error as PostgresError {
            guard let (line, reason) = Self.refusedRow(error.message, offset: done, rows: rows) else { throw error }
            if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
            throw CleanExit.message(
                "\(name):\(line): \(reason)\nnothing enqueued: the database refused the row", code: ExitCode(2))
        }
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
        var created = 0
        var existing: [(line: Int, job: Int64, state: String, key: String?)] = []
        var batch: Int64?
        var heldRows: [Int] = []  // indexes into rows
        for (index, (row, result)) in zip(rows, results).enumerated() {
            guard let result else { continue }
            if result.created {
                created += 1
                if let id = result.batchID {
                    batch = id
                    heldRows.append(index)
                }
            } else {
                let key = result.existingKey.flatMap { $0 == row.tenant ? nil : $0 }
                existing.append((row.line, result.jobID, result.state, key))
            }
        }
        if let batch {
            // The plan of what was held (customers already active were not), as the batch stores it.
            var held = plan
            held.customers = heldRows.map { plan.customers[$0] }
            for line in held.lines(limit: 50) { print(TerminalText.sanitized(line)) }
            print(
                "held as batch \(batch): \(heldRows.count) job(s) wait until onboarder approve \(batch) by another login"
            )
        }
        return (created, existing, batch)
    }
}

extension ResolvedConfiguration {
    /// What a batch's plan tells of `[onboarding]`: only the keys that say what is created in a tenant, so
    /// an enqueuer's host needs no partner credential or DNS secret to print it. The worker's settings
    /// (`onboardingSettings()`) start from these, so a plan says what the pipeline will make.
    func batchPlanSettings() -> OnboardingSettings {
        var settings = OnboardingSettings()
        settings.appName = string(.onboardingAppName)
        settings.roles = Self.list(string(.onboardingRoles))
        settings.scopes = Self.list(string(.onboardingScopes))
        settings.redirectURITemplate = string(.onboardingRedirectURITemplate)
        settings.secretDisplayName = string(.onboardingSecretName)
        settings.secretLifetimeDays = integer(.onboardingSecretLifetime)
        settings.certificateSource = string(.onboardingCertificateSource)
        settings.sbcParentDomain = string(.onboardingSBCParentDomain)
        settings.usageLocation = string(.onboardingUsageLocation)
        return settings
    }
}
