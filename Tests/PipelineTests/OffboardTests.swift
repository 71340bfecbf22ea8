import Foundation
import Graph
import HTTP
import PBX
import Pipeline
import Postgres
import Simulator
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Offboarding end to end (simulator over HTTP, real PostgreSQL, worker processes)", .serialized)
struct OffboardTests {
    static let zone = PipelineLab.sbcParent

    /// Both paths offboarded from a file (one Teams customer keeping its domain), a dry run first that lists a
    /// secret added by hand and removes nothing; then the Teams customer onboarded again, to a new app.
    @Test func bothPathsOffboardedFromAFileThenOnboardedAgain() async throws {
        let (teams, m365, kept) = ("offa.onmicrosoft.com", "offb.onmicrosoft.com", "offc.onmicrosoft.com")
        let lab = try await PipelineLab(
            "offboard", world: PipelineLab.world([(teams, .full, .e5), (m365, .full, .e5), (kept, .full, .e5)]))
        let onboarding = [
            try await lab.enqueue(teams, path: "teams"), try await lab.enqueue(m365, path: "m365"),
            try await lab.enqueue(kept, path: "teams"),
        ]
        let worker = try lab.startWorker("w1")
        try await lab.waitFor(onboarding)
        for job in onboarding { #expect(try await lab.state(job).state == "succeeded") }

        // Someone added a secret by hand, and a verification record was left in the DNS.
        let app = (try await lab.inspect(m365)["applications"] as! [[String: Any]])[0]
        let byHand = try await lab.graph(m365).addPassword(
            applicationID: app["id"] as! String, displayName: "added by hand", end: Date().addingTimeInterval(86_400))
        let fqdn = Self.fqdn(teams)
        try await lab.dns.publish(name: fqdn, value: "MS=ms87654321", zone: Self.zone)
        #expect(lab.simulator.txtRecords(fqdn) == ["MS=ms87654321"])

        // The dry run reads the tenant: the secret added by hand is in the plan; nothing is removed.
        let dry = try await lab.onboarder(["offboard", m365, "--dry-run", "--wait", "60"])
        #expect(dry.status == 0, "\(dry.output)")
        #expect(
            dry.output.contains(
                "with client secret \(byHand.keyID.lowercased()) \"added by hand\" (not recorded by Onboarder)"),
            "\(dry.output)")
        #expect(dry.output.contains("remove application") && dry.output.contains("restorable for 30 days"))
        #expect(
            dry.output.contains(
                "remove PBX Microsoft 365 integration: TenantId \(lab.tenant(m365).id.uuidString.lowercased())"))
        let untouched = try await lab.inspect(m365)
        #expect((untouched["applications"] as! [[String: Any]]).count == 1)
        #expect((untouched["applications"] as! [[String: Any]])[0]["passwordKeyIds"] as? [String] != nil)
        #expect(
            ((untouched["pbx"] as! [String: Any])["microsoft365Integration"] as! [String: Any])["TenantId"] as? String
                == lab.tenant(m365).id.uuidString.lowercased())
        let dryJobs = try await lab.offboardJobs()
        #expect(dryJobs.count == 1)
        #expect(try await lab.state(dryJobs[0]).state == "succeeded")
        #expect(
            try await lab.pool.query(
                "SELECT count(*)::int FROM onboarder.job_steps WHERE job_id = \(dryJobs[0])"
            ).single()[0].decode(Int.self) == 1, "a dry run runs the survey only")

        // The last audit found drift in the Teams customer: offboarding clears it (the audit of an offboarded
        // customer records its own findings).
        try await lab.pool.query(
            """
            INSERT INTO onboarder.drift_findings (tenant_id, msp_id, finding, subject, detail)
            SELECT tenant_id, 'msp1', 'pbx-test-failed', '', 'the PBX cannot sign in' FROM onboarder.jobs
             WHERE id = \(onboarding[0])
            """)
        let file = lab.directory.appendingPathComponent("offboard.csv").path
        try "msp,tenant,keep_domain\nmsp1,\(teams),\nmsp1,\(m365),false\nmsp1,\(kept),true\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let result = try await lab.onboarder(["offboard", "--file", file, "--actor", "carol"])
        #expect(result.status == 0, "\(result.output)")
        let jobs = try await lab.offboardJobs().filter { !dryJobs.contains($0) }
        #expect(jobs.count == 3)
        try await lab.waitFor(jobs)
        for job in jobs { #expect(try await lab.state(job).state == "succeeded", "job \(job)") }
        let actors = try await lab.pool.query(
            "SELECT DISTINCT actor FROM onboarder.events WHERE kind = 'enqueued' AND job_id = ANY(\(jobs))"
        ).map { try $0[0].decode(String.self) }
        #expect(actors == ["carol"])
        let drift = try await lab.pool.query(
            """
            SELECT (SELECT count(*)::int FROM onboarder.drift_findings),
                   (SELECT count(*)::int FROM onboarder.events
                     WHERE kind = 'drift_cleared' AND detail->>'why' = 'offboarded' AND job_id = ANY(\(jobs)))
            """
        ).single().decode((Int, Int).self)
        #expect(drift == (0, 1), "findings left, cleared events: \(drift)")

        try await lab.expectOffboarded(teams, path: "teams", keptDomain: false)
        try await lab.expectOffboarded(m365, path: "m365", keptDomain: false)
        try await lab.expectOffboarded(kept, path: "teams", keptDomain: true)
        #expect(lab.simulator.txtRecords(fqdn).isEmpty, "the TXT record is left: \(lab.simulator.txtRecords(fqdn))")

        // Rotation skips them: nothing is active to rotate.
        let rotate = try await lab.onboarder(["rotate-secrets", "--within", "3650d"])
        #expect(rotate.status == 0, "\(rotate.output)")
        let rotations = try await lab.pool.query(
            "SELECT count(*)::int FROM onboarder.jobs WHERE kind LIKE 'rotate-%'"
        ).single()[0].decode(Int.self)
        #expect(rotations == 0)

        // Onboarded again: a new app (the deleted one held the unique name until it was purged).
        let again = try await lab.enqueue(teams, path: "teams")
        try await lab.waitFor([again])
        #expect(try await lab.state(again).state == "succeeded")
        try await lab.expectOnboarded(teams, path: "teams")
        let newApp = (try await lab.inspect(teams)["applications"] as! [[String: Any]])[0]["id"] as? String
        let events = try await lab.pool.query(
            "SELECT detail->>'object_id' FROM onboarder.events WHERE job_id = \(again) AND kind = 'deleted_application_purged'"
        ).map { try $0[0].decode(String.self) }
        #expect(events.count == 1 && events.first != newApp)
        let offboarded = try await lab.pool.query(
            """
            SELECT offboarded_at IS NULL AND offboard_job_id IS NULL FROM onboarder.integrations i
              JOIN onboarder.tenants t ON t.id = i.tenant_id WHERE t.tenant_key = \(lab.tenant(teams).id.uuidString.lowercased())
            """
        ).single()[0].decode(Bool.self)
        #expect(offboarded)
        worker.signal(SIGTERM)
        _ = await worker.wait()
        try await lab.close()
    }

    /// Kill -9 of the worker before and after every offboarding step, and right after each removal before its
    /// checkpoint, one worker after the other on the same job: the next worker finishes it, nothing half-removed,
    /// nothing removed twice.
    @Test func killNineAtEveryOffboardStep() async throws {
        let domain = "offcrash.onmicrosoft.com"
        let lab = try await PipelineLab("offcrash", world: PipelineLab.world([(domain, .full, .e5)]))
        let onboarding = try await lab.enqueue(domain, path: "teams")
        let first = try lab.startWorker("onboard")
        try await lab.waitFor([onboarding])
        #expect(try await lab.state(onboarding).state == "succeeded")
        first.signal(SIGTERM)
        _ = await first.wait()
        try await lab.dns.publish(name: Self.fqdn(domain), value: "MS=ms11112222", zone: Self.zone)

        #expect(try await lab.onboarder(["offboard", domain]).status == 0)
        let job = try #require(try await lab.offboardJobs().first)
        let removals: Set<Step> = [.offboardPBX, .offboardActivationUser, .offboardDomain, .offboardDNS, .offboardApp]
        let points = Step.offboarding(dryRun: false).flatMap { step in
            ["before:\(step)"] + (removals.contains(step) ? ["after-call:\(step)"] : []) + ["after:\(step)"]
        }
        for (index, point) in points.enumerated() {
            let worker = try lab.startWorker("crash-\(index)", concurrency: 1, ["ONBOARDER_CRASH_AT": point])
            let deadline = ContinuousClock.now + .seconds(60)
            while !RotationTests.exited(worker.pid), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            if !RotationTests.exited(worker.pid) {
                Issue.record("\(point): the worker did not reach its crash point")
                worker.signal(SIGKILL)
            }
            let status = await worker.wait()
            #expect(status == 128 + SIGKILL || status == -SIGKILL || status == SIGKILL, "\(point): exit \(status)")
        }
        let survivor = try lab.startWorker("survivor")
        try await lab.waitFor([job], seconds: 60)
        #expect(try await lab.state(job).state == "succeeded")
        try await lab.expectOffboarded(domain, path: "teams", keptDomain: false)
        #expect(lab.simulator.txtRecords(Self.fqdn(domain)).isEmpty)
        // Each object's removal recorded once, though some were made twice (404 the second time).
        let removed = try await lab.pool.query(
            """
            SELECT kind, count(*)::int FROM onboarder.events
             WHERE job_id = \(job) AND kind IN ('application_removed', 'domain_removed', 'user_removed', 'pbx_cleared')
             GROUP BY kind ORDER BY kind
            """
        ).map { try $0.decode((String, Int).self) }
        #expect(removed.map(\.0) == ["application_removed", "domain_removed", "pbx_cleared", "user_removed"])
        #expect(removed.allSatisfy { $0.1 == 1 }, "\(removed)")
        let destroyed = try await lab.pool.query(
            "SELECT count(*)::int FROM onboarder.events WHERE job_id = \(job) AND kind = 'credential_destroyed'"
        ).single()[0].decode(Int.self)
        let credentials = try await lab.pool.query("SELECT count(*)::int FROM onboarder.credentials").single()[0]
            .decode(Int.self)
        #expect(destroyed == credentials && credentials >= 2, "\(destroyed) destroyed of \(credentials)")
        survivor.signal(SIGTERM)
        _ = await survivor.wait()
        try await lab.close()
    }

    /// What `offboard` refuses, with exit status 2 and nothing enqueued; and a dry run no worker takes.
    @Test func refusalsEnqueueNothing() async throws {
        let (mine, theirs, busy) = ("refa.onmicrosoft.com", "refb.onmicrosoft.com", "refc.onmicrosoft.com")
        let lab = try await PipelineLab(
            "offrefuse", world: PipelineLab.world([(mine, .full, .e5), (theirs, .full, .e5), (busy, .full, .e5)]))
        // `mine` onboarded as far as the records go (no worker runs here): its onboarding finished.
        let done = try await lab.enqueue(mine, path: "m365")
        try await lab.pool.query(
            """
            WITH j AS (UPDATE onboarder.jobs SET state = 'succeeded', finished_at = now() WHERE id = \(done) RETURNING tenant_id)
            INSERT INTO onboarder.integrations (tenant_id, path, entra_tenant_id, default_domain, app_object_id, app_id)
            SELECT tenant_id, 'm365', \(lab.tenant(mine).id.uuidString.lowercased())::uuid, \(mine), gen_random_uuid(),
                   gen_random_uuid() FROM j
            """)
        let busyJob = try await lab.enqueue(busy, path: "m365")
        let payload = try PostgresJSON(
            encoding: OnboardingPayload(
                path: "m365", pbxURL: "https://pbx.example", pbxClientID: "c", pbxSecret: "env:X"))
        try await lab.pool.query(
            "SELECT * FROM onboarder.enqueue('msp2', \(lab.tenant(theirs).id.uuidString.lowercased()), 'onboard', \(payload))"
        )

        func refused(_ arguments: [String], _ expected: String) async throws {
            let result = try await lab.onboarder(["offboard"] + arguments)
            #expect(result.status == 2, "\(arguments): \(result.status) \(result.output)")
            #expect(result.output.contains(expected), "\(arguments): \(result.output)")
            #expect(try await lab.offboardJobs().isEmpty, "\(arguments) enqueued")
        }
        // Customers are named as enqueued (here by tenant id), or by the default domain onboarding recorded.
        let (theirsKey, busyKey) = (
            lab.tenant(theirs).id.uuidString.lowercased(), lab.tenant(busy).id.uuidString.lowercased()
        )
        try await refused(
            [theirsKey], "\(theirsKey): tenant: \(theirsKey) is not a customer of an MSP this login acts for")
        try await refused(["nobody.example.com"], "is not a customer")
        try await refused(["--msp", "msp2", mine], "msp: msp2 is not an MSP this login may act for")
        try await refused([busyKey], "has an active onboard job \(busyJob) (queued): cancel job \(busyJob) first")
        try await refused([mine, busyKey], "\(busyKey): tenant:")
        #expect(try await lab.onboarder(["cancel", "--job", String(busyJob)]).status == 0)
        try await refused([busyKey], "was never onboarded")
        try await refused([], "name the customers, or give --file FILE")

        let file = lab.directory.appendingPathComponent("bad.csv").path
        try "msp,tenant,keep_domain\nmsp1,\(mine),\nmsp1,\(busyKey),maybe\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        try await refused(["--file", file], "\(file):3: keep_domain: true or false")
        try "msp,tenant\nmsp1,\(mine)\nmsp1,\(busyKey)\n".write(toFile: file, atomically: true, encoding: .utf8)
        try await refused(["--file", file], "\(file):3: tenant: \(busyKey) was never onboarded")
        try "msp,customer\nmsp1,\(mine)\n".write(toFile: file, atomically: true, encoding: .utf8)
        try await refused(["--file", file], "\(file):1: customer: unknown column")

        // No worker: the dry run's job waits in the queue, and the command says so with its own status.
        let dry = try await lab.onboarder(["offboard", mine, "--dry-run", "--wait", "1"])
        #expect(dry.status == 5, "\(dry.output)")
        #expect(dry.output.contains("did not finish within 1 s") && dry.output.contains("is a worker running?"))
        let queued = try await lab.pool.query(
            "SELECT state, subject, payload->>'dry_run' FROM onboarder.jobs WHERE kind = 'offboard'"
        ).map { try $0.decode((String, String, String).self) }
        #expect(queued.count == 1 && queued.first! == ("queued", "dry-run", "true"))

        // While its offboarding is active, the customer takes no onboarding (it would be undone): the
        // database refuses it by row, naming the job. A dry run alone does not stop it.
        #expect(try await lab.onboarder(["offboard", mine]).status == 0)
        let offboarding = try #require(try await lab.offboardJobs().last)
        do {
            _ = try await lab.enqueue(mine, path: "m365")
            Issue.record("an onboarding was enqueued while the customer is being offboarded")
        } catch let error as PostgresError {
            #expect(error.message.contains("is being offboarded (job \(offboarding))"), "\(error)")
        }
        #expect(try await lab.onboarder(["cancel", "--job", String(offboarding)]).status == 0)
        _ = try await lab.enqueue(mine, path: "m365")
        try await lab.close()
    }

    static func fqdn(_ domain: String) -> String { "\(domain.prefix { $0 != "." }).\(zone)" }
}

extension PipelineLab {
    /// The offboarding jobs, oldest first.
    func offboardJobs() async throws -> [Int64] {
        try await pool.query("SELECT id FROM onboarder.jobs WHERE kind = 'offboard' ORDER BY id").map {
            try $0[0].decode(Int64.self)
        }
    }

    /// Graph in a customer tenant as the partner app: what a customer's admin (or anyone) does by hand.
    func graph(_ domain: String) -> GraphClient {
        GraphClient(
            http: http, tokens: TokenClient(http: http, loginBaseURL: base), baseURL: "\(base)/v1.0",
            tenant: tenant(domain).id.uuidString.lowercased(),
            clientID: simulator.world.partnerApp.appID.uuidString.lowercased(),
            credential: .secret(simulator.world.partnerSecret))
    }

    /// The simulated DNS provider, through its Cloudflare-shaped API.
    var dns: CloudflareDNSClient {
        CloudflareDNSClient(http: http, baseURL: "\(base)/client/v4", token: "dns-test-token")
    }

    /// Asserts an offboarded customer's end state, in the simulator and in the database: no app with Onboarder's
    /// unique name (the deleted one in Deleted applications), no service principal, role assignment or grant of
    /// it, tokens for it refused; the PBX's pages cleared; on the Teams path the activation user and the domain
    /// gone (kept with --keep-domain); every credential removed with its sealed value destroyed.
    func expectOffboarded(
        _ domain: String, path: String, keptDomain: Bool, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let state = try await inspect(domain)
        let key = tenant(domain).id.uuidString.lowercased()
        #expect(
            (state["applications"] as! [[String: Any]]).isEmpty, "\(domain): apps left", sourceLocation: sourceLocation)
        let deleted = state["deletedApplications"] as! [[String: Any]]
        #expect(
            deleted.count == 1 && deleted.first?["uniqueName"] as? String == "bvoip-msteams-integration",
            sourceLocation: sourceLocation)
        let appID = deleted.first?["appId"] as? String ?? "-"
        #expect(
            !(state["servicePrincipals"] as! [[String: Any]]).contains { $0["appId"] as? String == appID },
            "\(domain): the app's service principal is left", sourceLocation: sourceLocation)
        let graphPrincipal = (state["servicePrincipals"] as! [[String: Any]]).filter {
            $0["displayName"] as? String == "Microsoft Graph"
        }.compactMap { $0["id"] as? String }
        let principals = Set((state["servicePrincipals"] as! [[String: Any]]).compactMap { $0["id"] as? String })
        #expect(
            (state["appRoleAssignments"] as! [[String: Any]]).allSatisfy {
                principals.contains($0["principalId"] as? String ?? "")
            }, "\(domain): role assignments of a deleted principal", sourceLocation: sourceLocation)
        #expect(
            (state["oauth2PermissionGrants"] as! [[String: Any]]).allSatisfy {
                principals.contains($0["clientId"] as? String ?? "")
            }, "\(domain): grants of a deleted principal", sourceLocation: sourceLocation)
        #expect(!graphPrincipal.isEmpty, sourceLocation: sourceLocation)
        let pbx = state["pbx"] as! [String: Any]
        let m365 = pbx["microsoft365Integration"] as! [String: Any]
        #expect(
            m365["TenantId"] as? String == "" && m365["ApplicationId"] as? String == "", "\(m365)",
            sourceLocation: sourceLocation)
        #expect(
            ((m365["AdUsers"] as? [String: Any])?["SelectedUsers"] as? [Any])?.isEmpty == true,
            sourceLocation: sourceLocation)
        let teams = pbx["teamsIntegration"] as! [String: Any]
        #expect(
            teams["Enabled"] as? Bool == false && (teams["SbcFQDN"] is NSNull || teams["SbcFQDN"] == nil), "\(teams)",
            sourceLocation: sourceLocation)
        if path == "teams" {
            let fqdn = OffboardTests.fqdn(domain)
            let hasDomain = (state["domains"] as! [[String: Any]]).contains { $0["id"] as? String == fqdn }
            let hasUser = (state["users"] as! [[String: Any]]).contains {
                ($0["userPrincipalName"] as? String ?? "").hasSuffix("@\(fqdn)")
            }
            #expect(
                hasDomain == keptDomain && hasUser == keptDomain, "\(domain): domain \(hasDomain), user \(hasUser)",
                sourceLocation: sourceLocation)
        }
        // Tokens for the deleted app are refused (the PBX's secret no longer signs in).
        let signIn = try await http.execute(
            HTTPRequest(
                method: "POST", url: "\(base)/\(key)/oauth2/v2.0/token",
                headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: Array(
                    "grant_type=client_credentials&client_id=\(appID)&client_secret=x&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
                        .utf8)))
        #expect(
            signIn.status == 400 && String(decoding: signIn.body, as: UTF8.self).contains("700016"),
            sourceLocation: sourceLocation)
        let rows = try await pool.query(
            """
            SELECT c.state, c.sealed IS NULL, c.removed_at IS NOT NULL, i.offboarded_at IS NOT NULL,
                   i.offboard_job_id = (SELECT max(id) FROM onboarder.jobs WHERE tenant_id = t.id AND kind = 'offboard')
              FROM onboarder.tenants t JOIN onboarder.integrations i ON i.tenant_id = t.id
              JOIN onboarder.credentials c ON c.tenant_id = t.id
             WHERE t.tenant_key = \(key)
            """
        ).map { try $0.decode((String, Bool, Bool, Bool, Bool).self) }
        #expect(rows.count >= 2, sourceLocation: sourceLocation)
        for row in rows {
            #expect(row == ("removed", true, true, true, true), "\(domain): \(row)", sourceLocation: sourceLocation)
        }
    }
}
