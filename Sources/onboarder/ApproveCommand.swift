import ArgumentParser
import Foundation
import OnboarderConfig
import Postgres
import Store

/// `onboarder approve BATCH`: the second person's part of a held enqueue (README, "Approval of large
/// enqueues"). The database decides who may: a member of onboarder_approver acting for every MSP of the
/// batch, and not the login that enqueued it.
struct ApproveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "Approve a held enqueue (a batch): its jobs run now.",
        discussion: """
            Run as a login in onboarder_approver that acts for every MSP of the batch and is not the login \
            that enqueued it (the database checks both; --actor is recorded beside the login, as a claim). \
            Read the plan first: onboarder batch show BATCH. Each released job records an 'approved' event \
            (the approver's login, --actor, the time). \
            Exit status: 0 approved; 1 error; 3 no such batch (or none of this login's MSPs); 4 refused (the \
            enqueuer's own login, an MSP this login does not act for, or not an approver); 5 the batch was \
            approved or cancelled before.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The batch, as enqueue printed it (onboarder batch list).")
    var batch: Int64

    func run() async throws {
        try await reportingErrors {
            try await withDatabase(global) { _, pool in
                let decision = try await Batches.approve(batch, actor: global.actingAs, on: pool)
                try Self.report(decision, batch: batch, done: "approved: its jobs run now")
            }
        }
    }

    /// The decision in words, and its exit status (the same for approve and batch cancel).
    static func report(_ decision: Batches.Decision, batch: Int64, done: String) throws {
        switch decision {
        case .done(let jobs):
            print("batch \(batch) \(done) (\(jobs) job(s))")
        case .noSuchBatch:
            throw CleanExit.message("no batch \(batch) is known", code: ExitCode(3))
        case .refused(let message):
            throw CleanExit.message("refused: \(TerminalText.sanitized(message))", code: ExitCode(4))
        case .notHeld(let message):
            throw CleanExit.message(TerminalText.sanitized(message), code: ExitCode(5))
        }
    }
}
