import Foundation
import Graph
import HTTP
import Postgres
import Testing

/// `onboarder audit` end to end: customers of both paths onboarded against the simulator, then changed by
/// hand through Graph as a tenant administrator would, and audited by worker processes, as the operator login.
@Suite("The nightly drift audit (simulator over HTTP, real PostgreSQL, worker processes)", .serialized)
struct DriftAuditTests {
    static let teams = "teams1.onmicrosoft.com"
    static let m365 = "m365a.onmicrosoft.com"

    /// A tenant administrator's Graph call in `domain` (signed in with an app the tenant consented: what the
    /// admin center sends on an administrator's behalf). Returns the status and the JSON answer.
    static func admin(
        _ lab: PipelineLab, _ domain: String, _ method: String, _ path: String, _ body: String? = nil
    ) async throws -> (Int, [String: Any]) {
        let token = try await TokenClient(http: lab.http, loginBaseURL: lab.base).freshToken(
            tenant: lab.tenant(domain).id.uuidString.lowercased(),
            clientID: lab.simulator.world.partnerApp.appID.uuidString.lowercased(),
            credential: .secret(lab.simulator.world.partnerSecret))
        let response = try await lab.http.execute(
            HTTPRequest(
                method: method, url: "\(lab.base)/v1.0/\(path)",
                headers: [("Authorization", "Bearer \(token.value)"), ("Content-Type", "application/json")],
                body: body.map { Array($0.utf8) }))
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
        return (response.status, json)
    }

    /// The customer's app and service principal as the simulator holds them.
    static func app(_ lab: PipelineLab, _ domain: String) async throws -> (
        objectID: String, principalID: String, passwords: [String]
    ) {
        let state = try await lab.inspect(domain)
        let app = try #require((state["applications"] as? [[String: Any]])?.first)
        let appID = try #require(app["appId"] as? String)
        let principal = try #require(
            (state["servicePrincipals"] as? [[String: Any]])?.first { $0["appId"] as? String == appID }?["id"]
                as? String)
        return (try #require(app["id"] as? String), principal, app["passwordKeyIds"] as? [String] ?? [])
    }

    /// Whether the app's service principal holds application permission `role` (by name) in Microsoft Graph.
    static func assigned(_ lab: PipelineLab, _ domain: String, _ role: String) async throws -> Bool {
        let principal = try await app(lab, domain).principalID
        let assignments = (try await lab.inspect(domain)["appRoleAssignments"] as? [[String: Any]]) ?? []
        return assignments.contains {
            $0["principalId"] as? String == principal && $0["appRoleId"] as? String == KnownGraphRoles.id(role)
        }
    }

    /// The findings recorded for `domain`: "finding subject".
    static func findings(_ lab: PipelineLab, _ domain: String) async throws -> [String] {
        try await lab.pool.query(
            """
            SELECT f.finding || ' ' || f.subject FROM onboarder.drift_findings f
              JOIN onboarder.tenants t ON t.id = f.tenant_id
             WHERE t.tenant_key = \(lab.tenant(domain).id.uuidString.lowercased()) ORDER BY 1
            """
        ).map { try $0[0].decode(String.self) }
    }

    static func since(_ lab: PipelineLab, _ finding: String) async throws -> (since: Date, seen: Date) {
        try await lab.pool.query(
            "SELECT since, seen_at FROM onboarder.drift_findings WHERE finding = \(finding)"
        ).single().decode((Date, Date).self)
    }

    static func audit(_ lab: PipelineLab, _ extra: [String] = []) async throws -> (status: Int32, output: String) {
        try await lab.onboarder(["audit", "--wait", "120", "--actor", "nightly"] + extra)
    }

    @Test func driftByHandIsFoundRepairedAndWhatIsNotOnboardersStays() async throws {
        let lab = try await PipelineLab(
            "drift", world: PipelineLab.world([(Self.teams, .full, .e5), (Self.m365, .full, .e5)]))
        let teamsKey = lab.tenant(Self.teams).id.uuidString.lowercased()
        let m365Key = lab.tenant(Self.m365).id.uuidString.lowercased()
        let onboardings = [
            try await lab.enqueue(Self.teams, path: "teams"), try await lab.enqueue(Self.m365, path: "m365"),
        ]
        let worker = try lab.startWorker("w1")
        try await lab.waitFor(onboardings)
        for job in onboardings { #expect(try await lab.state(job).state == "succeeded") }

        // As Onboarder left them: no drift, exit 0, and each customer's audit recorded.
        let clean = try await Self.audit(lab)
        #expect(clean.status == 0 && clean.output.contains("no drift"), "\(clean.output)")
        let audited = try await lab.pool.query(
            "SELECT count(*)::int FROM onboarder.integrations WHERE audited_at IS NOT NULL AND audit_job_id IS NOT NULL"
        ).single()[0].decode(Int.self)
        #expect(audited == 2)

        // A tenant administrator revokes one application permission and adds a client secret by hand.
        let (objectID, principalID, _) = try await Self.app(lab, Self.teams)
        let (_, graphPrincipal) = try await Self.admin(
            lab, Self.teams, "GET", "servicePrincipals(appId='\(KnownGraphPermissions.resourceAppID)')")
        let graphID = try #require(graphPrincipal["id"] as? String)
        let (_, assignedTo) = try await Self.admin(
            lab, Self.teams, "GET", "servicePrincipals/\(graphID)/appRoleAssignedTo")
        let calendars = try #require(
            (assignedTo["value"] as? [[String: Any]])?.first {
                $0["principalId"] as? String == principalID
                    && $0["appRoleId"] as? String == KnownGraphRoles.id("Calendars.Read")
            }?["id"] as? String)
        #expect(
            try await Self.admin(
                lab, Self.teams, "DELETE", "servicePrincipals/\(graphID)/appRoleAssignedTo/\(calendars)"
            ).0
                == 204)
        #expect(try await Self.assigned(lab, Self.teams, "Calendars.Read") == false)
        let (added, password) = try await Self.admin(
            lab, Self.teams, "POST", "applications/\(objectID)/addPassword",
            #"{"passwordCredential": {"displayName": "helpdesk test"}}"#)
        #expect(added == 200)
        let handAdded = try #require(password["keyId"] as? String).lowercased()

        // Exactly those findings, for that customer only; the command names it and exits 5.
        let drifted = try await Self.audit(lab)
        #expect(drifted.status == 5, "\(drifted.output)")
        #expect(drifted.output.contains("drift in 1 customer(s): msp1 \(teamsKey)"), "\(drifted.output)")
        // In a cron job's log (standard output and error in one file) the verdict comes after the findings.
        #expect(
            drifted.output.split(separator: "\n").last?.hasPrefix("audit: drift in 1 customer(s)") == true,
            "\(drifted.output)")
        #expect(drifted.output.contains("role-assignment-missing  Calendars.Read  since "), "\(drifted.output)")
        #expect(!drifted.output.contains(m365Key))
        #expect(
            try await Self.findings(lab, Self.teams) == [
                "credential-unknown \(handAdded)", "role-assignment-missing Calendars.Read",
            ])
        #expect(try await Self.findings(lab, Self.m365) == [])
        let events = try await lab.pool.query(
            "SELECT count(*)::int FROM onboarder.events WHERE kind = 'drift_found'"
        ).single()[0].decode(Int.self)
        #expect(events == 2)

        // Seen again: since stays when it was first seen, seen_at moves on.
        let first = try await Self.since(lab, "role-assignment-missing")
        #expect(try await Self.audit(lab).status == 5)
        let second = try await Self.since(lab, "role-assignment-missing")
        #expect(second.since == first.since && second.seen > first.seen)

        // Repair: an onboarding of the drifted customer only. It puts the permission back (consent) and never
        // removes the secret it did not make; with that secret on the app it cannot tell the PBX's check passes
        // with its own, so it stops at verify for an operator, naming it. The command says repair leaves it.
        let repaired = try await Self.audit(lab, ["--repair"])
        #expect(repaired.status == 5, "\(repaired.output)")
        #expect(repaired.output.contains("repair: \(teamsKey): onboarding job"), "\(repaired.output)")
        #expect(
            repaired.output.contains("credential-unknown \(handAdded) is not repaired by an onboarding"),
            "\(repaired.output)")
        let repairJobs = try await lab.pool.query(
            """
            SELECT j.id FROM onboarder.jobs j JOIN onboarder.events e ON e.job_id = j.id AND e.kind = 'enqueued'
             WHERE j.kind = 'onboard' AND e.detail->>'repair' = 'true'
            """
        ).map { try $0[0].decode(Int64.self) }
        #expect(repairJobs.count == 1)
        try await lab.waitFor(repairJobs)
        let repairState = try await lab.state(repairJobs[0])
        #expect(
            repairState.state == "needs_attention" && repairState.attention?.contains(handAdded) == true,
            "\(repairState)")
        #expect(try await Self.assigned(lab, Self.teams, "Calendars.Read"))
        #expect(try await Self.app(lab, Self.teams).passwords.map { $0.lowercased() }.contains(handAdded))
        // A second --repair while that onboarding waits for its operator enqueues no other: what is left, the
        // secret nobody recorded, is not an onboarding's to put right.
        let again = try await Self.audit(lab, ["--repair"])
        #expect(
            !again.output.contains("onboarding job") && again.output.contains("is not repaired by an onboarding"),
            "\(again.output)")
        let onboardingJobs = try await lab.pool.query("SELECT count(*)::int FROM onboarder.jobs WHERE kind = 'onboard'")
            .single()[0].decode(Int.self)
        #expect(onboardingJobs == onboardings.count + repairJobs.count)

        // What is left is the secret nobody recorded; the cleared finding has its event.
        let after = try await Self.audit(lab)
        #expect(after.status == 5)
        #expect(try await Self.findings(lab, Self.teams) == ["credential-unknown \(handAdded)"])
        let cleared = try await lab.pool.query(
            "SELECT detail->>'finding' FROM onboarder.events WHERE kind = 'drift_cleared'"
        ).map { try $0[0].decode(String.self) }
        #expect(cleared == ["role-assignment-missing"])

        // Narrowed to nothing, or to another MSP: exit 3, nothing enqueued.
        let nobody = try await Self.audit(lab, ["--customer", "nobody.example.com"])
        #expect(nobody.status == 3 && nobody.output.contains("no onboarded customer"), "\(nobody.output)")
        let otherMSP = try await Self.audit(lab, ["--msp", "msp2"])
        #expect(otherMSP.status == 3 && otherMSP.output.contains("no MSP msp2"), "\(otherMSP.output)")

        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        // No worker to run them: the command gives up after --wait with its own status, saying so.
        let waited = try await lab.onboarder(["audit", "--wait", "1"])
        #expect(waited.status == 6 && waited.output.contains("not finished after 1 s"), "\(waited.output)")
        try await lab.close()
    }

    /// A Teams customer whose activation user lost its licence: found, repaired by an onboarding that
    /// succeeds (nothing foreign on the app), and the next audit is clean.
    @Test func aRepairPutsBackTheActivationUsersLicence() async throws {
        let lab = try await PipelineLab("driftteams", world: PipelineLab.world([(Self.teams, .full, .e5)]))
        let onboarding = try await lab.enqueue(Self.teams, path: "teams")
        let worker = try lab.startWorker("w1")
        try await lab.waitFor([onboarding])
        #expect(try await lab.state(onboarding).state == "succeeded")
        let upn = "teams-activation@teams1.\(PipelineLab.sbcParent)"
        let users = (try await lab.inspect(Self.teams)["users"] as? [[String: Any]]) ?? []
        let skus = try #require(users.first { $0["userPrincipalName"] as? String == upn }?["skuIds"] as? [String])
        #expect(!skus.isEmpty)
        let removal = #"{"addLicenses": [], "removeLicenses": [\#(skus.map { "\"\($0)\"" }.joined(separator: ","))]}"#
        #expect(try await Self.admin(lab, Self.teams, "POST", "users/\(upn)/assignLicense", removal).0 == 200)

        let found = try await Self.audit(lab, ["--repair"])
        #expect(found.status == 5, "\(found.output)")
        #expect(try await Self.findings(lab, Self.teams) == ["activation-user \(upn)"])
        let repairJob = try await lab.pool.query(
            "SELECT max(id) FROM onboarder.jobs WHERE kind = 'onboard'"
        ).single()[0].decode(Int64.self)
        #expect(repairJob != onboarding && found.output.contains("onboarding job \(repairJob) enqueued"))
        try await lab.waitFor([repairJob])
        #expect(try await lab.state(repairJob).state == "succeeded")
        try await lab.expectOnboarded(Self.teams, path: "teams")

        let clean = try await Self.audit(lab)
        #expect(clean.status == 0, "\(clean.output)")
        #expect(try await Self.findings(lab, Self.teams) == [])
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        try await lab.close()
    }

    /// kill -9 of the worker just before and just after it stores an audit's findings: the worker that rescues
    /// the job records each finding once, with one `drift_found` event.
    @Test func killNineAroundTheStoreDuplicatesNothing() async throws {
        let lab = try await PipelineLab("driftcrash", world: PipelineLab.world([(Self.m365, .full, .e5)]))
        let onboarding = try await lab.enqueue(Self.m365, path: "m365")
        let worker = try lab.startWorker("w1")
        try await lab.waitFor([onboarding])
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        let (objectID, _, _) = try await Self.app(lab, Self.m365)
        let (_, password) = try await Self.admin(
            lab, Self.m365, "POST", "applications/\(objectID)/addPassword",
            #"{"passwordCredential": {"displayName": "by hand"}}"#)
        let handAdded = try #require(password["keyId"] as? String).lowercased()
        for point in ["before:audit-store", "after:audit-store"] {
            let job = try await lab.pool.query("SELECT job_id FROM onboarder.enqueue_audits()").single()[0]
                .decode(Int64.self)
            let crashing = try lab.startWorker("crash", concurrency: 1, ["ONBOARDER_CRASH_AT": point])
            let status = await crashing.wait()
            #expect(status == 128 + SIGKILL || status == -SIGKILL || status == SIGKILL, "\(point): exit \(status)")
            #expect(try await lab.state(job).state == "running", "\(point): the job should be left running")
            // The rescuer (lease 2 s) takes the job back and runs it again; the command waits for that job.
            let rescuer = try lab.startWorker("rescuer")
            let result = try await Self.audit(lab)
            #expect(result.status == 5 && result.output.contains("0 audit(s) enqueued"), "\(point): \(result.output)")
            #expect(try await lab.state(job).state == "succeeded", "\(point)")
            #expect(try await Self.findings(lab, Self.m365) == ["credential-unknown \(handAdded)"], "\(point)")
            rescuer.signal(SIGTERM)
            #expect(await rescuer.wait() == 0)
        }
        let found = try await lab.pool.query(
            "SELECT count(*)::int FROM onboarder.events WHERE kind = 'drift_found'"
        ).single()[0].decode(Int.self)
        #expect(found == 1)
        try await lab.close()
    }

    @Test func thePBXsCheckAUsersLicenceAndLostConsentAreFindings() async throws {
        // A second customer's users hold no Phone System (E3) from the start: its onboarding warns once, and
        // the audit does not call the state onboarding left drift.
        let e3 = "m365e3.onmicrosoft.com"
        let lab = try await PipelineLab(
            "driftm365", world: PipelineLab.world([(Self.m365, .full, .e5), (e3, .full, .e3)]))
        let onboarding = try await lab.enqueue(Self.m365, path: "m365")
        let warned = try await lab.enqueue(e3, path: "m365")
        let worker = try lab.startWorker("w1")
        try await lab.waitFor([onboarding, warned])
        #expect(try await lab.state(onboarding).state == "succeeded")
        #expect(try await lab.state(warned).state == "succeeded_with_warnings")
        let clean = try await Self.audit(lab)
        #expect(clean.status == 0 && clean.output.contains("no drift"), "\(clean.output)")

        // The PBX holds a wrong secret (typed in by hand), and alice's licence was taken away.
        try await lab.pasteSecret(Self.m365, "not-the-secret")
        let users = (try await lab.inspect(Self.m365)["users"] as? [[String: Any]]) ?? []
        let skus = try #require(
            users.first { ($0["userPrincipalName"] as? String)?.hasPrefix("alice@") == true }?["skuIds"] as? [String])
        let removal = #"{"addLicenses": [], "removeLicenses": [\#(skus.map { "\"\($0)\"" }.joined(separator: ","))]}"#
        #expect(
            try await Self.admin(lab, Self.m365, "POST", "users/alice@\(Self.m365)/assignLicense", removal).0 == 200)
        let result = try await Self.audit(lab)
        #expect(result.status == 5, "\(result.output)")
        #expect(
            try await Self.findings(lab, Self.m365) == ["pbx-test-failed ", "user-phone-system alice@\(Self.m365)"])
        #expect(result.output.contains("AADSTS7000215"), "\(result.output)")

        // The partner app's consent revoked: the audit cannot read the tenant, and says so as a finding;
        // the findings it could not look at stay as they were. (A token Entra issued before the revocation
        // stays valid until it expires, as in Entra: a new worker asks for a new one.)
        try await lab.fix(Self.m365, #"{"consent": "none"}"#)
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        let second = try lab.startWorker("w2")
        let unreadable = try await Self.audit(lab)
        #expect(unreadable.status == 5, "\(unreadable.output)")
        let afterRevocation = try await Self.findings(lab, Self.m365)
        #expect(
            afterRevocation == ["audit-failed ", "pbx-test-failed ", "user-phone-system alice@\(Self.m365)"],
            "\(afterRevocation) \(unreadable.output)")
        #expect(try await Self.findings(lab, e3) == [])
        #expect(unreadable.output.contains("audit-failed"), "\(unreadable.output)")
        second.signal(SIGTERM)
        #expect(await second.wait() == 0)
        try await lab.close()
    }
}
