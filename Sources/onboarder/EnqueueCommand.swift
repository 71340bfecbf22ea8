import ArgumentParser
import Foundation
import Pipeline
import Postgres
import Queue

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
            row is invalid. A customer that already has an active onboarding is reported, not duplicated.
            Exit status: 0 all rows accepted; 2 rows were rejected; 1 the database failed.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The file, or - for standard input.")
    var file: String

    @Flag(help: "Enqueue the valid rows even when others are rejected.")
    var skipInvalid = false

    @Flag(help: "Validate and report; write nothing.")
    var dryRun = false

    func run() async throws {
        try await reportingErrors {
            let data: Data
            if file == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let contents = FileManager.default.contents(atPath: file) else {
                    throw CleanExit.message("cannot read \(file)")
                }
                data = contents
            }
            let name = file == "-" ? "<stdin>" : file
            let result = EnqueueFile.read(data, name: name, rules: try global.configuration().enqueueRules())
            for problem in result.problems { FileHandle.standardError.write(Data("\(problem)\n".utf8)) }
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
                print("\(name):\(line): already active: job \(job) (\(state))")
            }
            if outcome.existing.count > 20 { print("… and \(outcome.existing.count - 20) more already active") }
            print(summary)
            if rejected > 0 { throw ExitCode(2) }
        }
    }

    /// All rows in one transaction (all or nothing), in batches of enqueue_many, with progress on a terminal.
    func enqueue(_ rows: [EnqueueFile.Row], pool: PostgresPool) async throws -> (
        created: Int, existing: [(line: Int, job: Int64, state: String)]
    ) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let terminal = isatty(2) == 1
        var created = 0
        var existing: [(line: Int, job: Int64, state: String)] = []
        try await pool.transaction { connection in
            var start = 0
            while start < rows.count {
                let batch = Array(rows[start..<min(start + 5000, rows.count)])
                let payloads = try batch.map { String(decoding: try encoder.encode($0.payload), as: UTF8.self) }
                let results = try await connection.query(
                    """
                    SELECT ordinal, job_id, created, state FROM onboarder.enqueue_many(
                        \(batch.map(\.msp)), \(batch.map(\.tenant)), \(batch.map { _ in "onboard" }),
                        \(payloads)::jsonb[], \(batch.map(\.priority))::integer[])
                    """)
                for row in results {
                    let (ordinal, job, isNew, state) = try row.decode((Int, Int64, Bool, String).self)
                    if isNew { created += 1 } else { existing.append((batch[ordinal - 1].line, job, state)) }
                }
                start += batch.count
                if terminal {
                    let width = 30
                    let done = width * start / max(rows.count, 1)
                    FileHandle.standardError.write(
                        Data(
                            "\r[\(String(repeating: "#", count: done))\(String(repeating: " ", count: width - done))] \(start)/\(rows.count)"
                                .utf8))
                }
            }
        }
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
        return (created, existing)
    }
}
