import ArgumentParser
import Foundation
import Postgres
import Queue
import Store

struct RotateSecretsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-secrets",
        abstract: "Enqueue a rotation for every client secret and certificate expiring soon (cron / a systemd timer).",
        discussion: """
            Finds the active client secrets that expire within --within (or the named ones with --force), \
            enqueues one rotation job per secret, and exits. Running it twice, or on two hosts at once, \
            enqueues each rotation once. Quiet when nothing is due; otherwise a summary. Exit status 1 when \
            a rotation has ended in needs-attention or failed (they are listed), 0 otherwise.
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Rotate secrets expiring within this long: 30d, 12h.") var within = "30d"
    @Option(help: "Only this MSP's customers.") var msp: String?
    @Option(help: "Only this customer (tenant id or domain).") var tenant: String?
    @Flag(help: "Rotate the selected secrets now, however far their expiry.") var force = false
    @Option(help: "What to rotate: all, secrets or certificates.") var only = "all"
    @Flag(help: "List what would be enqueued; enqueue nothing.") var dryRun = false
    @Flag(help: "Wait until the enqueued rotations finish or wait for an operator.") var wait = false
    @Option(help: "With --wait: give up after this many seconds.") var timeout = 3600

    static func seconds(_ text: String) -> Int? {
        guard let unit = text.last, let number = Int(text.dropLast()), number >= 0 else { return nil }
        switch unit {
        case "d": return number * 86_400
        case "h": return number * 3600
        case "m": return number * 60
        default: return nil
        }
    }

    func run() async throws {
        try await reportingErrors {
            guard let window = Self.seconds(within) else {
                throw CleanExit.message(
                    "--within: a number and d, h or m (30d, 12h), not \(within)", code: .validationFailure)
            }
            guard let scope = RotationSchedule.Scope(rawValue: only) else {
                throw CleanExit.message("--only: all, secrets or certificates", code: .validationFailure)
            }
            if force && tenant == nil && msp == nil {
                throw CleanExit.message("--force needs --tenant or --msp", code: .validationFailure)
            }
            try await withDatabase(global) { _, pool in
                var tenantID: Int64?
                if let tenant {
                    tenantID = try await TenantSelector.parse([tenant] + (msp.map { ["--msp", $0] } ?? [])).resolve(
                        pool
                    ).id
                }
                let due = try await RotationSchedule.due(
                    scope: scope, within: .seconds(window), force: force, msp: msp, tenant: tenantID, on: pool)
                var requests: [EnqueueRequest] = []
                var described: [String] = []
                for credential in due {
                    guard let request = credential.rotationRequest else {
                        FileHandle.standardError.write(
                            Data(
                                "\(credential.tenantKey): no onboarding job to take the PBX's details from; skipped\n"
                                    .utf8))
                        continue
                    }
                    requests.append(request)
                    described.append(
                        "\(credential.msp) \(credential.tenantKey) \(credential.kind) \(credential.keyID) expires \(credential.expiresAt.map { "\($0)" } ?? "?")"
                    )
                }
                if dryRun {
                    for line in described { print("would rotate: \(line)") }
                    return
                }
                // In one transaction: every rotation due is enqueued, or none.
                // A nil result: a concurrent run enqueued it in the same instant (its row was not visible to
                // this statement's snapshot); the idempotency key kept it single.
                let results = try await Jobs.enqueueAll(requests, actor: global.actingAs, on: pool)
                let jobs = results.compactMap { $0?.jobID }
                let created = results.filter { $0?.created == true }.count
                if !requests.isEmpty {
                    print(
                        "rotate-secrets: \(created) rotation(s) enqueued, \(requests.count - created) already enqueued before"
                    )
                }
                if wait && !jobs.isEmpty {
                    let deadline = ContinuousClock.now + .seconds(timeout)
                    while ContinuousClock.now < deadline {
                        let open = try await Jobs.unsettledCount(jobs, on: pool)
                        if open == 0 { break }
                        try await Task.sleep(for: .seconds(1))
                    }
                }
                let stopped = try await RotationSchedule.stopped(msp: msp, tenant: tenantID, on: pool)
                if !stopped.isEmpty {
                    for rotation in stopped {
                        FileHandle.standardError.write(
                            Data(
                                "rotation job \(rotation.job) of \(rotation.tenantKey) \(rotation.state): \(rotation.reason)\n"
                                    .utf8))
                    }
                    throw ExitCode.failure
                }
            }
        }
    }
}
