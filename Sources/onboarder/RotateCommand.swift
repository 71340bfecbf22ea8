import ArgumentParser
import Foundation
import Postgres

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
            guard ["all", "secrets", "certificates"].contains(only) else {
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
                let due = try await pool.query(
                    """
                    SELECT c.id, t.msp_id, t.tenant_key, coalesce(c.key_id::text, c.thumbprint), c.expires_at, c.kind,
                           (SELECT j.payload FROM onboarder.jobs j WHERE j.tenant_id = t.id AND j.kind = 'onboard'
                             ORDER BY j.id DESC LIMIT 1) AS payload
                      FROM onboarder.credentials c JOIN onboarder.tenants t ON t.id = c.tenant_id
                     WHERE c.kind = ANY(\(only == "secrets" ? ["password"] : only == "certificates" ? ["certificate"] : ["password", "certificate"]))
                       AND c.state = 'active'
                       AND (\(force) OR c.expires_at < now() + \(window) * interval '1 second')
                       AND (\(msp)::text IS NULL OR t.msp_id = \(msp))
                       AND (\(tenantID)::bigint IS NULL OR t.id = \(tenantID))
                     ORDER BY c.expires_at
                    """)
                var msps: [String] = []
                var kinds: [String] = []
                var keys: [String] = []
                var subjects: [String] = []
                var payloads: [String] = []
                var idempotency: [String] = []
                var described: [String] = []
                for row in due {
                    let (id, mspID, key, keyID, expires, kind, payload) = try row.decode(
                        (Int64, String, String, String, Date?, String, PostgresJSON?).self)
                    guard let payload,
                        var object = try? JSONSerialization.jsonObject(with: Data(payload.text.utf8)) as? [String: Any]
                    else {
                        FileHandle.standardError.write(
                            Data("\(key): no onboarding job to take the PBX's details from; skipped\n".utf8))
                        continue
                    }
                    object["credential_id"] = id
                    kinds.append(kind == "password" ? "rotate-secret" : "rotate-certificate")
                    msps.append(mspID)
                    keys.append(key)
                    subjects.append(keyID)
                    payloads.append(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
                    idempotency.append("rotate-secret:\(id)")
                    described.append("\(mspID) \(key) \(kind) \(keyID) expires \(expires.map { "\($0)" } ?? "?")")
                }
                if dryRun {
                    for line in described { print("would rotate: \(line)") }
                    return
                }
                var jobs: [Int64] = []
                var created = 0
                if !msps.isEmpty {
                    let rows = try await pool.query(
                        """
                        SELECT job_id, created FROM onboarder.enqueue_many(
                            \(msps), \(keys), \(kinds), \(payloads)::jsonb[], NULL, NULL,
                            \(idempotency), \(subjects), \(global.actingAs))
                        """)
                    for row in rows {
                        // NULL: a concurrent run enqueued it in the same instant (its row was not visible
                        // to this statement's snapshot); the idempotency key kept it single.
                        let (job, isNew) = try row.decode((Int64?, Bool).self)
                        if let job { jobs.append(job) }
                        if isNew { created += 1 }
                    }
                }
                if !msps.isEmpty {
                    print(
                        "rotate-secrets: \(created) rotation(s) enqueued, \(msps.count - created) already enqueued before"
                    )
                }
                if wait && !jobs.isEmpty {
                    let deadline = ContinuousClock.now + .seconds(timeout)
                    while ContinuousClock.now < deadline {
                        let open = try await pool.query(
                            """
                            SELECT count(*)::int FROM onboarder.jobs WHERE id = ANY(\(jobs))
                               AND (state IN ('queued', 'running') OR (state = 'waiting' AND wait_reason <> 'input'))
                            """
                        ).single()[0].decode(Int.self)
                        if open == 0 { break }
                        try await Task.sleep(for: .seconds(1))
                    }
                }
                let stopped = try await pool.query(
                    """
                    SELECT j.id, t.tenant_key, j.state, coalesce(j.attention, j.last_error, '')
                      FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
                     WHERE j.kind IN ('rotate-secret', 'rotate-certificate') AND j.state IN ('needs_attention', 'failed')
                       AND (\(msp)::text IS NULL OR j.msp_id = \(msp)) AND (\(tenantID)::bigint IS NULL OR t.id = \(tenantID))
                    """)
                if !stopped.isEmpty {
                    for row in stopped {
                        let (id, key, state, why) = try row.decode((Int64, String, String, String).self)
                        FileHandle.standardError.write(Data("rotation job \(id) of \(key) \(state): \(why)\n".utf8))
                    }
                    throw ExitCode.failure
                }
            }
        }
    }
}
