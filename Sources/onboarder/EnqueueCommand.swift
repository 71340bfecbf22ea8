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
            row is invalid. A customer that already has an active onboarding is reported, not duplicated. \
            At most 256 MiB is read; a file that is larger, not UTF-8, empty or without rows is rejected whole.
            Exit status: 0 all rows accepted; 2 rows or the file were rejected; 1 the database failed.

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

    @Flag(help: "Validate and report; write nothing.")
    var dryRun = false

    @OptionGroup(title: "GDAP discovery") var gdap: GDAPEnqueueOptions

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
            let rules = try global.configuration().enqueueRules()
            let name = file == "-" ? "<stdin>" : file
            let data = try Self.readInput(file == "-" ? nil : file, name: name)
            let result = EnqueueFile.read(data, name: name, rules: rules)
            // Problems quote the file's own text: shown through the sanitiser, so a row cannot write escape
            // sequences to the operator's terminal.
            var report = ""
            for problem in result.problems { report += TerminalText.sanitized(problem.description) + "\n" }
            FileHandle.standardError.write(Data(report.utf8))
            if result.rejectedWhole {
                throw CleanExit.message(
                    "nothing enqueued: \(TerminalText.sanitized(name)) was rejected as a whole", code: ExitCode(2))
            }
            let rejected = result.rejectedLines.count
            if rejected > 0 && !skipInvalid && !dryRun {
                throw CleanExit.message(
                    "nothing enqueued: \(rejected) row(s) rejected, \(result.rows.count) valid (fix the file, or --skip-invalid)",
                    code: ExitCode(2))
            }
            if dryRun {
                print("dry run: \(result.rows.count) row(s) valid, \(rejected) rejected; nothing written")
                if rejected > 0 { throw ExitCode(2) }
                return
            }
            let outcome = try await withDatabase(global) { _, pool in try await enqueue(result.rows, pool: pool) }
            var summary = "\(outcome.created) enqueued"
            if !outcome.existing.isEmpty { summary += ", \(outcome.existing.count) already had an active onboarding" }
            if rejected > 0 { summary += ", \(rejected) rejected" }
            for (line, job, state) in outcome.existing.prefix(20) {
                print("\(TerminalText.sanitized(name)):\(line): already active: job \(job) (\(state))")
            }
            if outcome.existing.count > 20 { print("… and \(outcome.existing.count - 20) more already active") }
            print(summary)
            if rejected > 0 { throw ExitCode(2) }
        }
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

    /// All rows in one transaction (all or nothing), in batches, with progress on a terminal.
    func enqueue(_ rows: [EnqueueFile.Row], pool: PostgresPool) async throws -> (
        created: Int, existing: [(line: Int, job: Int64, state: String)]
    ) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let requests = try rows.map { row in
            EnqueueRequest(
                msp: row.msp, tenantKey: row.tenant, kind: "onboard",
                payload: PostgresJSON(text: String(decoding: try encoder.encode(row.payload), as: UTF8.self)),
                priority: row.priority)
        }
        let terminal = isatty(2) == 1
        let results = try await Jobs.enqueueAll(requests, actor: global.actingAs, on: pool) { done in
            guard terminal else { return }
            let width = 30
            let filled = width * done / max(rows.count, 1)
            FileHandle.standardError.write(
                Data(
                    "\r[\(String(repeating: "#", count: filled))\(String(repeating: " ", count: width - filled))] \(done)/\(rows.count)"
                        .utf8))
        }
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
        var created = 0
        var existing: [(line: Int, job: Int64, state: String)] = []
        for (row, result) in zip(rows, results) {
            guard let result else { continue }
            if result.created { created += 1 } else { existing.append((row.line, result.jobID, result.state)) }
        }
        return (created, existing)
    }
}
