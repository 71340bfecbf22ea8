import Crypto
import Foundation
import Graph
import HTTP
import Pipeline
import Postgres
import Simulator
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Secret rotation (simulator over HTTP, real PostgreSQL, worker processes)", .serialized)
struct RotationTests {
    /// Onboards `domains` (m365 path) and returns their jobs once succeeded.
    func onboard(_ lab: PipelineLab, _ domains: [String]) async throws {
        var jobs: [Int64] = []
        for domain in domains { jobs.append(try await lab.enqueue(domain, path: "m365")) }
        let worker = try lab.startWorker("onboard", concurrency: 20)
        try await lab.waitFor(jobs, seconds: 300)
        worker.signal(SIGTERM)
        _ = await worker.wait()
        for job in jobs { #expect(try await lab.state(job).state.hasPrefix("succeeded")) }
    }

    /// Whether Entra (the simulator) accepts `secret` for the customer's app now.
    func accepted(_ lab: PipelineLab, _ domain: String, _ secret: String) async throws -> Bool {
        let appID = try #require(
            (try await lab.inspect(domain)["applications"] as? [[String: Any]])?.first?["appId"] as? String)
        // The faults may answer a token request with a 5xx: those are asked again; a refusal is an answer.
        for _ in 0..<10 {
            do {
                _ = try await TokenClient(http: lab.http, loginBaseURL: lab.base).freshToken(
                    tenant: lab.tenant(domain).id.uuidString, clientID: appID, credential: .secret(secret))
                return true
            } catch let error as GraphError {
                if case .transient = error.failure { continue }
                return false
            }
        }
        return false
    }

    /// Shows the customer's current secret (`--again`: it was shown before, as the onboarding's technician
    /// was shown it) and, unless `paste` is false, enters it in the PBX and wakes the job, as the technician would.
    func export(_ lab: PipelineLab, _ domain: String, again: Bool = false, paste: Bool = true) async throws -> String {
        let result = try await lab.onboarder(["secret", "export", domain] + (again ? ["--again"] : []))
        #expect(result.status == 0, "\(result.output)")
        let secret = result.output.split(separator: "\n").last.map(String.init) ?? ""
        if paste {
            try await lab.pasteSecret(domain, secret)
            _ = try await lab.onboarder(["resume", domain])
        }
        return secret
    }

    /// Whether a child has exited (a zombie until waited for, which kill(pid, 0) still reports alive).
    static func exited(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        let state = stat.split(separator: ")").last?.split(separator: " ").first
        return state == "Z" || state == "X"
    }

    /// Each domain's (first) rotation job.
    func rotationJob(_ lab: PipelineLab, _ domain: String) async throws -> Int64 {
        try await lab.pool.query(
            """
            SELECT j.id FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
             WHERE j.kind = 'rotate-secret' AND t.tenant_key = \(lab.tenant(domain).id.uuidString.lowercased())
             ORDER BY j.id LIMIT 1
            """
        ).single()[0].decode(Int64.self)
    }

    func rotationJobs(_ lab: PipelineLab) async throws -> [Int64] {
        try await lab.pool.query("SELECT id FROM onboarder.jobs WHERE kind = 'rotate-secret' ORDER BY id").map {
            try $0[0].decode(Int64.self)
        }
    }

    @Test func rotate200TenantsWithFaultsTwoCronsAtOnceAndAPolicyThatForbidsSecrets() async throws {
        let domains = (1...200).map { "rot\($0).onmicrosoft.com" }
        let lab = try await PipelineLab("rotate", world: PipelineLab.world(domains.map { ($0, .full, .e5) }))
        try await onboard(lab, domains)
        var pbxSecret: [String: String] = [:]
        for domain in domains { pbxSecret[domain] = try await export(lab, domain, again: true, paste: false) }
        // The last tenant's admin forbids new secrets after onboarding.
        let forbidding = domains.count - 1
        try await lab.fix(domains[forbidding], #"{"forbid_passwords": true}"#)
        var faults = Faults()
        faults.seed = 9
        faults.errorRate = 0.05
        faults.lostResponseRate = 0.03
        faults.propagationMs = 700
        lab.simulator.setFaults(faults)

        // Two cron runs at once (secrets last 730 days: a 800-day window selects them all).
        async let first = lab.onboarder(["rotate-secrets", "--within", "800d", "--only", "secrets"])
        async let second = lab.onboarder(["rotate-secrets", "--within", "800d", "--only", "secrets"])
        let (a, b) = try await (first, second)
        #expect(a.status == 0 && b.status == 0, "\(a.output)\n\(b.output)")
        #expect(try await rotationJobs(lab).count == domains.count, "each secret is rotated once")
        let worker = try lab.startWorker("rotate", concurrency: 20, ["ONBOARDER_ROTATION_GRACE_HOURS": "0"])
        var jobs: [Int64] = []
        for domain in domains { jobs.append(try await rotationJob(lab, domain)) }
        // Each waits for the operator to hand the new secret to the PBX; the old one still works meanwhile.
        for (index, domain) in domains.prefix(forbidding).enumerated() {
            var state = try await lab.state(jobs[index])
            for _ in 0..<600 where state.error?.contains("waiting for input") != true {
                try await Task.sleep(for: .milliseconds(200))
                state = try await lab.state(jobs[index])
            }
            #expect(state.error?.contains("enter the new client secret in the PBX") == true, "\(domain): \(state)")
            #expect(try await accepted(lab, domain, pbxSecret[domain]!), "\(domain): the PBX's secret stopped working")
            let new = try await export(lab, domain)
            #expect(new != pbxSecret[domain])
            pbxSecret[domain] = new
        }
        try await lab.waitFor(jobs, seconds: 300)
        lab.simulator.setFaults(Faults())
        for (index, domain) in domains.prefix(forbidding).enumerated() {
            #expect(try await lab.state(jobs[index]).state == "succeeded", "\(domain)")
            // Exactly one password: the new one, recorded active; the PBX's secret works.
            try await lab.expectOnboarded(domain, path: "m365")
            #expect(try await accepted(lab, domain, pbxSecret[domain]!))
        }
        // The forbidding tenant: needs attention with the reason, the old secret untouched and working.
        let forbidden = try await lab.state(jobs[forbidding])
        #expect(forbidden.state == "needs_attention")
        #expect(forbidden.attention?.contains("forbids client secrets") == true, "\(forbidden)")
        #expect(forbidden.attention?.contains("was left in place") == true, "\(forbidden)")
        try await lab.expectOnboarded(domains[forbidding], path: "m365")
        #expect(try await accepted(lab, domains[forbidding], pbxSecret[domains[forbidding]]!))
        // cron sees it: non-zero, the job listed; nothing new enqueued for the rotated ones.
        let again = try await lab.onboarder(["rotate-secrets", "--within", "800d", "--only", "secrets"])
        #expect(again.status == 1)
        #expect(again.output.contains("rotation job \(jobs[forbidding])"), "\(again.output)")
        #expect(try await rotationJobs(lab).count == 2 * domains.count - 1, "the new secrets are due too, once each")
        worker.signal(SIGTERM)
        _ = await worker.wait()
        try await lab.close()
    }

    /// Kill -9 at each step boundary of the rotation: after each kill the PBX's secret still works; after
    /// restarts everything ends rotated, with no unrecorded password left.
    @Test func killNineAtEveryRotationStep() async throws {
        let points =
            RotationHandler.steps.map { "after:\($0)" }
            + ["after-call:rotate-add-password", "after-call:rotate-remove-old", "before:rotate-add-password"]
        let domains = points.indices.map { "rk\($0).onmicrosoft.com" }
        let lab = try await PipelineLab("rotcrash", world: PipelineLab.world(domains.map { ($0, .full, .e5) }))
        try await onboard(lab, domains)
        for (index, point) in points.enumerated() {
            let domain = domains[index]
            let enqueue = try await lab.onboarder([
                "rotate-secrets", "--force", "--only", "secrets", "--tenant", domain,
            ])
            #expect(enqueue.status == 0, "\(enqueue.output)")
            let job = try #require(try await rotationJobs(lab).last)
            var exported = false
            // Run until the crash, handing over the new secret when asked (as an operator would).
            for attempt in 0..<3 {
                let worker = try lab.startWorker(
                    "crash-\(index)-\(attempt)", concurrency: 1,
                    [
                        "ONBOARDER_CRASH_AT": point, "ONBOARDER_WORKER_LEASE_SECONDS": "600",
                        "ONBOARDER_ROTATION_GRACE_HOURS": "0",
                    ])
                var died = false
                for _ in 0..<400 {
                    if !exported, (try await lab.state(job)).error?.contains("enter the new client secret") == true {
                        _ = try await export(lab, domain)
                        exported = true
                    }
                    // A job that looked at the PBX before the secret was entered: the technician wakes it.
                    try await lab.playTechnician(lab.technician)
                    if Self.exited(worker.pid) {
                        died = true
                        break
                    }
                    if try await lab.state(job).state == "succeeded" { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                if died {
                    _ = await worker.wait()
                    // The secret last entered in the PBX, by this loop or by the technician at the hand-over.
                    let held = try #require(lab.secretInPBX(domain), "\(point): no secret was entered in the PBX")
                    #expect(try await accepted(lab, domain, held), "\(point): the PBX's secret is dead")
                    break
                }
                Issue.record("\(point): the worker did not die at its crash point")
                worker.signal(SIGKILL)
                _ = await worker.wait()
            }
        }
        let survivor = try lab.startWorker("survivor", concurrency: 8, ["ONBOARDER_ROTATION_GRACE_HOURS": "0"])
        let jobs = try await rotationJobs(lab)
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            try await lab.playTechnician(lab.technician)
            for (index, domain) in domains.enumerated() {
                let state = try await lab.state(jobs[index])
                if state.error?.contains("enter the new client secret") == true,
                    try await lab.pool.query(
                        "SELECT count(*)::int FROM onboarder.credentials c JOIN onboarder.jobs j ON j.tenant_id = c.tenant_id WHERE j.id = \(jobs[index]) AND c.state = 'pending' AND c.exported_at IS NULL"
                    ).single()[0].decode(Int.self) > 0
                {
                    _ = try await export(lab, domain)
                }
            }
            if try await lab.pool.query(
                "SELECT count(*)::int FROM onboarder.jobs WHERE kind = 'rotate-secret' AND state <> 'succeeded'"
            ).single()[0].decode(Int.self) == 0 {
                break
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        for (index, domain) in domains.enumerated() {
            #expect(try await lab.state(jobs[index]).state == "succeeded", "\(points[index])")
            // The PBX holds the one recorded secret (expectOnboarded), and that secret works.
            try await lab.expectOnboarded(domain, path: "m365")
            #expect(try await accepted(lab, domain, try await lab.showSecret(domain)), "\(points[index])")
        }
        survivor.signal(SIGTERM)
        _ = await survivor.wait()
        try await lab.close()
    }
}

@Suite("Certificate rotation", .serialized)
struct CertificateRotationTests {
    /// The PBX's certificate rotated: the job waits for the PBX's new certificate with the old one kept; once
    /// the technician generates a new key pair and supplies its certificate, the PBX's check passes with it
    /// on the app and only then is the old one removed.
    @Test func theNewCertificateWorksTheOldOneIsPruned() async throws {
        let domains = (1...3).map { "certrot\($0).onmicrosoft.com" }
        let lab = try await PipelineLab("certrot", world: PipelineLab.world(domains.map { ($0, .full, .e5) }))
        try await RotationTests().onboard(lab, domains)
        func onApp(_ domain: String) async throws -> [String] {
            ((try await lab.inspect(domain)["applications"] as? [[String: Any]])?.first?["certificateThumbprints"]
                as? [String]) ?? []
        }
        var old: [String: String] = [:]
        for domain in domains {
            old[domain] = try await onApp(domain).first
            #expect(try await lab.pbxState(domain)["certificate_thumbprint"] as? String == old[domain])
        }
        let enqueue = try await lab.onboarder(["rotate-secrets", "--force", "--only", "certificates", "--msp", "msp1"])
        #expect(enqueue.status == 0 && enqueue.output.contains("3 rotation(s) enqueued"), "\(enqueue.output)")
        let worker = try lab.startWorker("certs", concurrency: 4, ["ONBOARDER_ROTATION_GRACE_HOURS": "0"])
        let jobs = try await lab.pool.query("SELECT id FROM onboarder.jobs WHERE kind = 'rotate-certificate'").map {
            try $0[0].decode(Int64.self)
        }
        #expect(jobs.count == 3)
        // Without the technician: each waits for the PBX's new certificate, the old one on the app.
        try await lab.waitFor(jobs, in: ["waiting"], seconds: 60, technician: .absent)
        for (index, domain) in domains.enumerated() {
            let state = try await lab.state(jobs[index])
            #expect(state.error?.contains("Generate New Key Pair") == true, "\(domain): \(state)")
            #expect(try await onApp(domain) == [old[domain]!])
        }
        try await lab.waitFor(jobs, seconds: 120)
        for (index, domain) in domains.enumerated() {
            #expect(try await lab.state(jobs[index]).state == "succeeded")
            // One certificate on the app: the PBX's new one, recorded; the old one is gone.
            try await lab.expectOnboarded(domain, path: "m365")
            let now = try await onApp(domain)
            #expect(now.count == 1 && now.first != old[domain])
            #expect(try await lab.pbxState(domain)["certificate_thumbprint"] as? String == now.first)
        }
        worker.signal(SIGTERM)
        _ = await worker.wait()
        try await lab.close()
    }
}
