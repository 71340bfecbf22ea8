import ArgumentParser
import Foundation
import OnboarderConfig
import Pipeline
import Postgres
import Store

/// `onboarder batch list|show|cancel`: held enqueues, for operators and approvers (README, "Approval of
/// large enqueues").
struct BatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Enqueues held for approval: list them, show one's plan and jobs, cancel one.",
        subcommands: [List.self, Show.self, Cancel.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every batch of this login's MSPs, held first, with its jobs by state.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                try await withDatabase(global) { _, pool in
                    let batches = try await Batches.list(on: pool)
                    if batches.isEmpty { print("no batch") }
                    for batch in batches { print(TerminalText.sanitized(BatchCommand.line(batch))) }
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One batch: who enqueued and decided it, the stored plan, and each job's state.",
            discussion: "Exit status: 0 shown; 1 error; 3 no such batch (or none of this login's MSPs).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The batch.") var batch: Int64

        func run() async throws {
            try await reportingErrors {
                try await withDatabase(global) { _, pool in
                    guard let (summary, plan, jobs) = try await Batches.show(batch, on: pool) else {
                        throw CleanExit.message("no batch \(batch) is known", code: ExitCode(3))
                    }
                    var lines = [BatchCommand.line(summary)]
                    // The plan as enqueue printed it; a batch enqueued by another client may store only
                    // its rows (onboarder.enqueue_many's own plan): then as stored.
                    if let decoded = try? JSONDecoder().decode(BatchPlan.self, from: Data(plan.utf8)) {
                        lines += decoded.lines()
                    } else {
                        lines.append("plan: \(plan)")
                    }
                    lines.append("jobs:")
                    for job in jobs {
                        let reason = job.waitReason.map { " (\($0))" } ?? ""
                        let step = job.step.map { " at \($0)" } ?? ""
                        lines.append("  \(job.id) \(job.msp) \(job.tenant): \(job.state)\(reason)\(step)")
                    }
                    for line in lines { print(TerminalText.sanitized(line)) }
                }
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a held batch: its jobs waiting for approval are cancelled, and it cannot be approved.",
            discussion: """
                Operators and approvers who act for every MSP of the batch, the login that enqueued it \
                included. Each job records a 'cancelled' event (login, --actor). Exit status: 0 cancelled; 1 \
                error; 3 no such batch; 4 refused (an MSP this login does not act for, or neither role); 5 the \
                batch was approved or cancelled before.
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The batch.") var batch: Int64

        func run() async throws {
            try await reportingErrors {
                try await withDatabase(global) { _, pool in
                    let decision = try await Batches.cancel(batch, actor: global.actingAs, on: pool)
                    try ApproveCommand.report(decision, batch: batch, done: "cancelled")
                }
            }
        }
    }

    /// One batch in one line: `7 held (threshold) msp1: 250 jobs — 250 awaiting approval; by alice (alice) at …`.
    static func line(_ batch: Batches.Summary) -> String {
        let counts = [
            ("awaiting approval", batch.awaitingApproval), ("queued", batch.queued), ("running", batch.running),
            ("waiting", batch.waiting), ("needs attention", batch.needsAttention), ("succeeded", batch.succeeded),
            ("failed", batch.failed), ("cancelled", batch.cancelled),
        ].filter { $0.1 > 0 }.map { "\($0.1) \($0.0)" }
        let formatter = ISO8601DateFormatter()
        var line = "\(batch.id) \(batch.state) (\(batch.reason)) \(batch.msps.joined(separator: ", ")): "
        line += "\(batch.jobs) job(s)" + (counts.isEmpty ? "" : " — " + counts.joined(separator: ", "))
        line += "; enqueued by \(batch.createdBy)" + (batch.createdActor.map { " (\($0))" } ?? "")
        line += " at \(formatter.string(from: batch.createdAt))"
        if let by = batch.decidedBy, let at = batch.decidedAt {
            line += "; \(batch.state) by \(by)" + (batch.decidedActor.map { " (\($0))" } ?? "")
            line += " at \(formatter.string(from: at))"
        }
        return line
    }
}
