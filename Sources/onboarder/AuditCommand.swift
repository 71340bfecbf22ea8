import ArgumentParser
import Foundation
import OnboarderConfig
import Pipeline
import Postgres
import Store

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract:
            "Audit every onboarded customer for drift from what Onboarder set up (cron / a systemd timer, nightly).",
        discussion: """
            Enqueues one read-only audit job per onboarded customer the login acts for, and per customer \
            offboarded in the last 30 days (or named by --customer): nothing of Onboarder's may be left behind \
            (--msp, --customer narrow it); waits for them, and prints each finding: customer, finding, subject, since when, detail \
            (also in dashboard.drift). With --repair, enqueues an onboarding for each drifted customer (it puts \
            back only what is missing, and never removes a credential Onboarder did not make); never for an \
            offboarded customer, whose residue `onboarder offboard CUSTOMER` removes again. Exit status: 0 \
            no drift, 5 drift found (the customers are named), 6 the audits did not finish within --wait, \
            3 no onboarded customer matches, 2 bad options, 1 error.
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this MSP's customers.") var msp: String?
    @Option(help: "Only this customer (tenant id, tenant key or default domain).") var customer: String?
    @Flag(help: "Enqueue an onboarding for each drifted customer, to put back what is missing.") var repair = false
    @Option(help: "Give up waiting for the audits after this many seconds.") var wait = 600

    /// Exit statuses beyond the common ones (README, "Commands").
    static let drifted = ExitCode(5)
    static let timedOut = ExitCode(6)

    func run() async throws {
        try await reportingErrors {
            guard wait > 0 else {
                throw CleanExit.message("--wait: a number of seconds above 0, not \(wait)", code: .validationFailure)
            }
            try await withDatabase(global) { _, pool in
                let audits: [EnqueuedAudit]
                do {
                    audits = try await DriftFindings.enqueueAudits(
                        msp: msp, customer: customer, actor: global.actingAs, on: pool)
                } catch let error as PostgresError where error.sqlState == "P0002" {
                    throw CleanExit.message("audit: \(error.message)", code: ExitCode(3))
                }
                guard !audits.isEmpty else {
                    throw CleanExit.message(
                        "audit: no onboarded customer\(customer.map { " matches \($0)" } ?? "")\(msp.map { " of MSP \($0)" } ?? "")",
                        code: ExitCode(3))
                }
                let jobs = audits.map(\.job)
                print(
                    "audit: \(audits.count) customer(s), \(audits.filter(\.created).count) audit(s) enqueued, \(audits.filter { !$0.created }.count) already under way"
                )
                let deadline = ContinuousClock.now + .seconds(wait)
                var open = try await DriftFindings.unfinished(jobs, on: pool)
                while open > 0 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(500))
                    open = try await DriftFindings.unfinished(jobs, on: pool)
                }
                if open > 0 {
                    throw CleanExit.message(
                        "audit: \(open) of \(jobs.count) audit(s) not finished after \(wait) s (are workers running?); dashboard.drift shows them once done",
                        code: Self.timedOut)
                }
                try await report(audits, on: pool)
            }
        }
    }

    private func report(_ audits: [EnqueuedAudit], on pool: PostgresPool) async throws {
        let stopped = try await DriftFindings.stopped(audits.map(\.job), on: pool)
        let rows = try await DriftFindings.findings(of: audits.map { ($0.msp, $0.tenantKey) }, on: pool)
        for row in rows {
            let subject = row.subject.isEmpty ? "-" : row.subject
            print(
                TerminalText.sanitized(
                    "\(row.msp) \(row.customer)  \(row.finding)  \(subject)  since \(Self.timestamp(row.since))  \(row.detail)"
                ))
        }
        for job in stopped {
            let customer = audits.first { $0.job == job.job }.map { "\($0.msp) \($0.tenantKey)" } ?? "?"
            print(TerminalText.sanitized("\(customer)  audit job \(job.job) \(job.state): \(job.reason)"))
        }
        // Offboarded customers with something left behind: an onboarding would put the integration back, so
        // --repair never enqueues one for them (onboarder.repair_drift skips them); offboarding again does.
        let residual = Set(rows.filter { $0.finding == DriftFinding.offboardResidue }.map(\.customer)).sorted()
        for customer in residual {
            print(
                TerminalText.sanitized(
                    "\(repair ? "repair: " : "")\(customer): offboarded, with residue: `onboarder offboard \(customer)` removes it (offboarding is idempotent)\(repair ? "; no onboarding is enqueued for an offboarded customer" : "")"
                ))
        }
        var drifted = Set(rows.map { "\($0.msp) \($0.customer)" })
        for job in stopped {
            if let audit = audits.first(where: { $0.job == job.job }) {
                drifted.insert("\(audit.msp) \(audit.tenantKey)")
            }
        }
        guard !drifted.isEmpty else {
            print("audit: no drift")
            return
        }
        if repair {
            let tenants = audits.filter { drifted.contains("\($0.msp) \($0.tenantKey)") }.map(\.tenant)
            let repairs = try await DriftFindings.repair(tenants, actor: global.actingAs, on: pool)
            for repair in repairs {
                let held = repair.batch.map { ", held for approval in batch \($0)" } ?? ""
                print(
                    TerminalText.sanitized(
                        "repair: \(repair.tenantKey): onboarding job \(repair.job) \(repair.created ? "enqueued" : "already active")\(held) for \(repair.findings.joined(separator: ", "))"
                    ))
            }
            for batch in Set(repairs.compactMap(\.batch)).sorted() {
                print(
                    "repair: batch \(batch) holds more onboardings than enqueue.approval_threshold: another login approves it (onboarder approve \(batch)) or cancels it (onboarder batch cancel \(batch))"
                )
            }
            for row in rows
            where !DriftFinding(row.finding, subject: row.subject, row.detail).repairable
                && row.finding != DriftFinding.offboardResidue
            {
                print(
                    TerminalText.sanitized(
                        "repair: \(row.customer): \(row.finding) \(row.subject) is not repaired by an onboarding: \(Self.advice(row.finding))"
                    ))
            }
        }
        let names = drifted.sorted().joined(separator: ", ")
        throw CleanExit.message("audit: drift in \(drifted.count) customer(s): \(names)", code: Self.drifted)
    }

    /// What to do about a finding an onboarding does not fix (ops/RUNBOOK.md has them all).
    static func advice(_ finding: String) -> String {
        switch finding {
        case "credential-unknown":
            "a credential nobody recorded stays (and stops an onboarding at verify); find who added it, and remove it in Entra if nobody uses it"
        case "user-disabled": "the customer enables the user again, or onboards with another user list"
        case "user-phone-system": "assign the user a licence with Phone System (MCOEV)"
        case "user-missing": "restore the user (Entra keeps a deleted user 30 days) or onboard with another user list"
        case "audit-failed":
            "have the customer's admin consent to the partner app again (the link is in the detail), then audit again"
        default: "see ops/RUNBOOK.md"
        }
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
