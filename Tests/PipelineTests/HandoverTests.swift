import Foundation
import Pipeline
import Postgres
import Simulator
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The PBX's hand-over (simulator over HTTP, real PostgreSQL, worker processes): a job succeeds only once
/// the PBX itself signs in with what Onboarder made; a rotation removes the old secret only once the PBX
/// is seen using the new one.
@Suite("The PBX's hand-over", .serialized)
struct HandoverTests {
    /// Polls (up to `seconds`) until `job` waits for input at `step` with a message containing `words`,
    /// `technician` playing meanwhile; records an issue if the job ends instead.
    func waitsAtHandover(
        _ lab: PipelineLab, _ job: Int64, step: String, containing words: [String], technician: Technician,
        seconds: Int = 90
    ) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var last = ""
        while ContinuousClock.now < deadline {
            try await lab.playTechnician(technician)
            let (state, current, reason, message) = try await lab.pool.query(
                "SELECT state, current_step, wait_reason, last_error FROM onboarder.jobs WHERE id = \(job)"
            ).single().decode((String, String?, String?, String?).self)
            last = "\(state) at \(current ?? "-") (\(reason ?? "-")): \(message ?? "")"
            #expect(!state.hasPrefix("succeeded"), "job \(job) succeeded without the PBX's part: \(last)")
            // The step it waits at is the one the dashboards show (marked running by the checkpoint before it,
            // also when that step checkpointed itself: the client secret's).
            if state == "waiting", reason == "input", let current, let message {
                #expect(message.hasPrefix("\(current): "), "job \(job) waits at a step it is not marked at: \(last)")
            }
            if state.hasPrefix("succeeded") || state == "failed" || state == "needs_attention" { break }
            if state == "waiting", reason == "input", current == step, let message,
                words.allSatisfy(message.contains)
            {
                return message
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("job \(job) never waited at \(step) for \(words): \(last)")
        throw CancellationError()
    }

    /// Each part of the technician's work left out in turn: the job waits at the step that needs it, with
    /// that part spelled out, never succeeds, and completes once the part is done.
    @Test(
        arguments: [
            ("secret", "verify", ["Client Secret", "onboarder handover done"]),
            ("certificate", "certificate", ["Generate New Key Pair", "onboarder cert add"]),
            ("sign-in", "verify", ["Log into Microsoft 365"]),
        ])
    func neverSucceedsWhileThePBXLacksAPart(_ part: String, _ step: String, _ words: [String]) async throws {
        let domain = "lacks-\(part).onmicrosoft.com"
        let lab = try await PipelineLab("lacks-\(part)", world: PipelineLab.world([(domain, .full, .e5)]))
        var partial = Technician.everything
        switch part {
        case "secret": partial.pasteSecret = false
        case "certificate": partial.certificate = false
        default: partial.signIn = false
        }
        let job = try await lab.enqueue(domain, path: "m365")
        let worker = try lab.startWorker("w1")
        let message = try await waitsAtHandover(lab, job, step: step, containing: words, technician: partial)
        #expect(message.contains(domain) || message.contains(lab.tenant(domain).id.uuidString.lowercased()))
        // It keeps waiting, looking again on its own, and a wake (the technician's word) does not fool it.
        _ = try await lab.onboarder(["handover", "done", domain], as: .operator)
        try await Task.sleep(for: .seconds(3))
        _ = try await waitsAtHandover(lab, job, step: step, containing: words, technician: partial)
        let checks = try await lab.pool.query(
            "SELECT count(*)::int FROM onboarder.events WHERE job_id = \(job) AND kind = 'handover_check'"
        ).single()[0].decode(Int.self)
        #expect(checks >= 2, "\(checks) looks")
        // Each look is recorded by the finish that set the job waiting (one transaction), not before it.
        let alone = try await lab.pool.query(
            """
            SELECT count(*)::int FROM onboarder.events c
             WHERE c.job_id = \(job) AND c.kind = 'handover_check'
               AND NOT EXISTS (SELECT 1 FROM onboarder.events r WHERE r.job_id = c.job_id AND r.kind = 'rescheduled'
                                  AND r.xmin::text = c.xmin::text AND r.id > c.id)
            """
        ).single()[0].decode(Int.self)
        #expect(alone == 0, "\(alone) of \(checks) looks were recorded apart from their wait")
        // Once the technician does that part too, the job completes.
        lab.playedHandovers.removeAll()
        try await lab.waitFor([job], seconds: 90)
        #expect(try await lab.state(job).state == "succeeded")
        try await lab.expectOnboarded(domain, path: "m365")
        worker.signal(SIGTERM)
        _ = await worker.wait()
        try await lab.close()
    }

    /// kill -9 while the job waits for the technician (the worker killed outright, or killing itself right
    /// after deciding a look, before the finish records it with the wait): nothing is lost or made twice, and
    /// the job completes once handed over.
    @Test(arguments: ["sigkill-while-waiting", "waiting:certificate", "waiting:verify"])
    func killNineDuringTheHandoverWait(_ how: String) async throws {
        let domain = "handover-kill.onmicrosoft.com"
        let lab = try await PipelineLab("handover-kill", world: PipelineLab.world([(domain, .full, .e5)]))
        let job = try await lab.enqueue(domain, path: "m365")
        var technician = Technician.absent
        if how == "waiting:verify" { technician.certificate = true }  // so that it reaches verify
        lab.technician = technician
        let first = try lab.startWorker(
            "w1", how.hasPrefix("waiting:") ? ["ONBOARDER_CRASH_AT": how, "ONBOARDER_WORKER_LEASE_SECONDS": "2"] : [:])
        let step = how == "waiting:verify" ? "verify" : "certificate"
        if how == "sigkill-while-waiting" {
            _ = try await waitsAtHandover(
                lab, job, step: step, containing: ["waiting for input"], technician: technician)
            first.signal(SIGKILL)
        } else {
            let deadline = ContinuousClock.now + .seconds(90)
            while !RotationTests.exited(first.pid), ContinuousClock.now < deadline {
                try await lab.playTechnician(technician)
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(RotationTests.exited(first.pid), "the worker did not die at \(how)")
        }
        _ = await first.wait()
        lab.technician = .everything
        lab.playedHandovers.removeAll()
        let second = try lab.startWorker("w2")
        try await lab.waitFor([job], seconds: 120)
        #expect(try await lab.state(job).state == "succeeded")
        // One app, one secret (recorded, held by the PBX), one certificate: expectOnboarded checks each.
        try await lab.expectOnboarded(domain, path: "m365")
        let (credentials, started, proven) = try await lab.pool.query(
            """
            SELECT (SELECT count(*)::int FROM onboarder.credentials),
                   (SELECT count(*)::int FROM onboarder.events WHERE job_id = \(job) AND kind = 'handover_started'),
                   (SELECT count(*)::int FROM onboarder.events WHERE job_id = \(job) AND kind = 'handover_proven')
            """
        ).single().decode((Int, Int, Int).self)
        #expect(credentials == 2 && started == 1 && proven == 1, "\(credentials) \(started) \(proven)")
        second.signal(SIGTERM)
        _ = await second.wait()
        try await lab.close()
    }

    /// A rotation whose PBX never receives the new secret keeps the old one and says why; once the PBX has
    /// it (the sign-in report shows it signing in after Onboarder's own proof) the old one is removed.
    @Test func aRotationWhosePBXNeverGetsTheNewSecretKeepsTheOld() async throws {
        let domain = "rot-handover.onmicrosoft.com"
        let lab = try await PipelineLab("rot-handover", world: PipelineLab.world([(domain, .full, .e5)]))
        try await RotationTests().onboard(lab, [domain])
        let old = try #require(
            ((try await lab.inspect(domain)["applications"] as? [[String: Any]])?.first?["passwordKeyIds"]
                as? [String])?.first)
        let oldSecret = try await lab.showSecret(domain)
        let rotate = try await lab.onboarder(["rotate-secrets", "--force", "--only", "secrets", "--tenant", domain])
        #expect(rotate.status == 0, "\(rotate.output)")
        let job = try await lab.pool.query("SELECT max(id) FROM onboarder.jobs WHERE kind = 'rotate-secret'")
            .single()[0].decode(Int64.self)
        let worker = try lab.startWorker("rotate", ["ONBOARDER_ROTATION_GRACE_HOURS": "0"])
        // The new secret is shown (the sheet's export) but never entered in the PBX.
        _ = try await waitsAtHandover(
            lab, job, step: "rotate-handover", containing: ["enter the new client secret"], technician: .absent)
        _ = try await lab.showSecret(domain)
        let message = try await waitsAtHandover(
            lab, job, step: "rotate-test-pbx", containing: ["old secret \(old.lowercased()) is kept"],
            technician: .absent)
        #expect(message.contains("Client Secret"), "\(message)")
        // The old secret is still on the app and the PBX still signs in with it.
        let keys =
            ((try await lab.inspect(domain)["applications"] as? [[String: Any]])?.first?["passwordKeyIds"]
                as? [String]) ?? []
        #expect(keys.contains(old) && keys.count == 2, "\(keys)")
        #expect((try await lab.pbxState(domain)["secret_key_id"] as? String)?.lowercased() == old.lowercased())
        // The technician enters it: the PBX signs in with the new secret, and only then is the old one removed.
        lab.playedHandovers.removeAll()
        try await lab.waitFor([job], seconds: 120)
        #expect(try await lab.state(job).state == "succeeded")
        try await lab.expectOnboarded(domain, path: "m365")
        let evidence = try await lab.pool.query(
            "SELECT detail->>'evidence' FROM onboarder.events WHERE job_id = \(job) AND kind = 'handover_proven'"
        ).single()[0].decode(String.self)
        #expect(evidence.contains("sign-in report"), "\(evidence)")
        #expect(try await lab.showSecret(domain) != oldSecret)
        worker.signal(SIGTERM)
        _ = await worker.wait()
        try await lab.close()
    }

    /// Onboarded again after the PBX was re-keyed (Generate New Key Pair, or a reinstalled PBX): the earlier
    /// onboarding's certificate is still recorded and on the app, but the PBX signs with another key. The
    /// sheet asks for the certificate, and once supplied it goes on the app and the job completes.
    @Test func aReKeyedPBXIsAskedForItsCertificateAgain() async throws {
        let domain = "rekeyed.onmicrosoft.com"
        let lab = try await PipelineLab("rekeyed", world: PipelineLab.world([(domain, .full, .e5)]))
        try await RotationTests().onboard(lab, [domain])
        _ = try await lab.generatePBXKeyPair(domain)
        let job = try await lab.enqueue(domain, path: "m365")
        let worker = try lab.startWorker("again")
        _ = try await waitsAtHandover(
            lab, job, step: "verify", containing: ["Generate New Key Pair"], technician: .absent)
        let line = try #require(try await lab.handoverSheet()[lab.tenant(domain).id.uuidString.lowercased()])
        #expect(line["certificate_needed"] as? Bool == true, "\(line)")
        try await lab.waitFor([job], seconds: 90)
        #expect(try await lab.state(job).state.hasPrefix("succeeded"))
        // The PBX signs with its new key, whose certificate is on the app and recorded active (the earlier
        // one stays beside it, recorded, until a certificate rotation prunes it).
        let held = try await lab.pbxState(domain)
        let active = try await lab.pool.query(
            """
            SELECT c.thumbprint FROM onboarder.credentials c JOIN onboarder.tenants t ON t.id = c.tenant_id
             WHERE t.tenant_key = \(lab.tenant(domain).id.uuidString.lowercased())
               AND c.kind = 'certificate' AND c.state = 'active'
            """
        ).map { try $0[0].decode(String.self) }
        let thumbprint = try #require(held["certificate_thumbprint"] as? String)
        #expect(active.contains(thumbprint) && held["certificate_on_app"] as? Bool == true, "\(held) \(active)")
        #expect(held["signed_in"] as? Bool == true && held["secret_key_id"] is String, "\(held)")
        worker.signal(SIGTERM)
        _ = await worker.wait()
        try await lab.close()
    }

    /// Where the tenant does not serve the sign-in report (no Entra ID P1/P2), the technician's `onboarder
    /// handover done` after the hand-over, with a passing check, stands in for it, and the event says whose
    /// word it was; a plain resume is not that word.
    @Test func withoutTheSignInReportTheTechniciansWordStandsIn() async throws {
        let domain = "rot-nopremium.onmicrosoft.com"
        let lab = try await PipelineLab("rot-nopremium", world: PipelineLab.world([(domain, .full, .e5)]))
        try await RotationTests().onboard(lab, [domain])
        try await lab.fix(domain, #"{"entra_id_premium": false}"#)
        let rotate = try await lab.onboarder(["rotate-secrets", "--force", "--only", "secrets", "--tenant", domain])
        #expect(rotate.status == 0, "\(rotate.output)")
        let job = try await lab.pool.query("SELECT max(id) FROM onboarder.jobs WHERE kind = 'rotate-secret'")
            .single()[0].decode(Int64.self)
        let worker = try lab.startWorker("rotate", ["ONBOARDER_ROTATION_GRACE_HOURS": "0"])
        // The technician enters the new secret and the PBX's check passes, but nothing shows it is the new one
        // until the technician says so (`handover done`, which this technician has not run yet).
        let message = try await waitsAtHandover(
            lab, job, step: "rotate-test-pbx",
            containing: ["unavailable", "Authentication_RequestFromNonPremiumTenantOrB2CTenant"],
            technician: Technician(wake: false))
        #expect(message.contains("is kept"), "\(message)")
        let done = try await lab.onboarder(["handover", "done", domain])
        #expect(done.status == 0, "\(done.output)")
        try await lab.waitFor([job], seconds: 90, technician: .absent)
        #expect(try await lab.state(job).state == "succeeded")
        try await lab.expectOnboarded(domain, path: "m365")
        let evidence = try await lab.pool.query(
            "SELECT detail->>'evidence' FROM onboarder.events WHERE job_id = \(job) AND kind = 'handover_proven'"
        ).single()[0].decode(String.self)
        #expect(evidence.contains("technician's word"), "\(evidence)")
        worker.signal(SIGTERM)
        _ = await worker.wait()
        try await lab.close()
    }

    /// `certificate_source = generate`: Onboarder's own certificate (its key sealed in the database) is on the
    /// app, and the PBX's goes beside it once supplied, so the PBX's check passes and the job completes.
    @Test func generateKeepsOnboardersCertificateBesideThePBXs() async throws {
        let domain = "generate.onmicrosoft.com"
        let lab = try await PipelineLab("generate", world: PipelineLab.world([(domain, .full, .e5)]))
        let job = try await lab.enqueue(domain, path: "m365")
        let worker = try lab.startWorker("w1", ["ONBOARDER_ONBOARDING_CERTIFICATE_SOURCE": "generate"])
        try await lab.waitFor([job], seconds: 90)
        #expect(try await lab.state(job).state == "succeeded")
        let active = try await lab.pool.query(
            """
            SELECT source, thumbprint, sealed IS NOT NULL FROM onboarder.credentials
             WHERE kind = 'certificate' AND state = 'active' ORDER BY source
            """
        ).map { try $0.decode((String, String, Bool).self) }
        #expect(active.map(\.0) == ["generated", "pbx"], "\(active)")
        #expect(active.first?.2 == true && active.last?.2 == false, "\(active)")
        let onApp =
            ((try await lab.inspect(domain)["applications"] as? [[String: Any]])?.first?["certificateThumbprints"]
                as? [String]) ?? []
        #expect(Set(onApp) == Set(active.map(\.1)))
        #expect(try await lab.pbxState(domain)["certificate_thumbprint"] as? String == active.last?.1)
        worker.signal(SIGTERM)
        _ = await worker.wait()
        try await lab.close()
    }
}
