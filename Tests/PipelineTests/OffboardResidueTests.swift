import Foundation
import HTTP
import PBX
import Postgres
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `onboarder audit` of offboarded customers: nothing of Onboarder's left behind. Customers of both paths
/// onboarded and offboarded against the simulator by worker processes, residue put back by hand through
/// Graph and the PBX's XAPI, found, and removed by offboarding again; run as the operator login.
@Suite("Offboarded customers audited for residue (simulator over HTTP, real PostgreSQL, worker processes)", .serialized)
struct OffboardResidueTests {
    static let (teams, m365, kept) = ("resa.onmicrosoft.com", "resb.onmicrosoft.com", "resc.onmicrosoft.com")

    @Test func offboardedCustomersOfEachPathAuditCleanAndResidueIsFoundThenRemovedByOffboardingAgain() async throws {
        let lab = try await PipelineLab(
            "residue",
            world: PipelineLab.world([(Self.teams, .full, .e5), (Self.m365, .full, .e5), (Self.kept, .full, .e5)]))
        let (teamsKey, m365Key, keptKey) = (key(lab, Self.teams), key(lab, Self.m365), key(lab, Self.kept))
        let onboardings = [
            try await lab.enqueue(Self.teams, path: "teams"), try await lab.enqueue(Self.m365, path: "m365"),
            try await lab.enqueue(Self.kept, path: "teams"),
        ]
        let worker = try lab.startWorker("w1")
        try await lab.waitFor(onboardings)
        for job in onboardings { #expect(try await lab.state(job).state == "succeeded") }

        // Offboarded: two fully, one keeping its SBC domain (and so its activation user).
        #expect(try await lab.onboarder(["offboard", Self.teams, Self.m365]).status == 0)
        #expect(try await lab.onboarder(["offboard", Self.kept, "--keep-domain"]).status == 0)
        try await Self.offboardingsFinish(lab)
        try await lab.expectOffboarded(Self.teams, path: "teams", keptDomain: false)
        try await lab.expectOffboarded(Self.m365, path: "m365", keptDomain: false)
        try await lab.expectOffboarded(Self.kept, path: "teams", keptDomain: true)

        // Audited all the same (the deleted apps in Deleted applications and the kept domain are no residue).
        let clean = try await DriftAuditTests.audit(lab)
        #expect(clean.status == 0 && clean.output.contains("no drift"), "\(clean.output)")
        #expect(clean.output.contains("audit: 3 customer(s), 3 audit(s) enqueued"), "\(clean.output)")
        let audited = try await lab.pool.query(
            """
            SELECT count(*)::int FROM onboarder.integrations
             WHERE offboarded_at IS NOT NULL AND audited_at > offboarded_at AND audit_job_id IS NOT NULL
            """
        ).single()[0].decode(Int.self)
        #expect(audited == 3)
        for domain in [Self.teams, Self.m365, Self.kept] {
            #expect(try await DriftAuditTests.findings(lab, domain) == [], "\(domain)")
        }
        let keptFQDN = OffboardTests.fqdn(Self.kept)
        #expect(
            (try await lab.inspect(Self.kept)["domains"] as! [[String: Any]]).contains {
                $0["id"] as? String == keptFQDN
            }, "the kept domain is still in the tenant, and not residue")

        // Residue put back by hand: an app with Onboarder's unique name in the Microsoft 365 customer's tenant
        // (once the deleted one is purged, which held the name), and the PBX of the Teams customer pointed at
        // its tenant again through the XAPI.
        let deleted = try await DriftAuditTests.admin(
            lab, Self.m365, "GET", "directory/deletedItems/microsoft.graph.application")
        let deletedID = try #require((deleted.1["value"] as? [[String: Any]])?.first?["id"] as? String)
        #expect(
            try await DriftAuditTests.admin(lab, Self.m365, "DELETE", "directory/deletedItems/\(deletedID)").0 == 204)
        let (created, app) = try await DriftAuditTests.admin(
            lab, Self.m365, "POST", "applications",
            #"{"displayName": "3CX Teams integration (by hand)", "uniqueName": "bvoip-msteams-integration"}"#)
        #expect(created == 201, "\(app)")
        let handAppID = try #require(app["appId"] as? String).lowercased()
        try await Self.pbx(lab, Self.teams).setMicrosoft365Application(tenantID: teamsKey, applicationID: "")
        // And a sealed client secret back in the records (as a restore of an old backup would put it).
        let undestroyed = try await lab.pool.query(
            """
            UPDATE onboarder.credentials SET sealed = 'og1.restored.AAAA'
             WHERE id = (SELECT min(c.id) FROM onboarder.credentials c JOIN onboarder.tenants t ON t.id = c.tenant_id
                          WHERE t.tenant_key = \(teamsKey) AND c.kind = 'password')
            RETURNING lower(key_id::text)
            """
        ).single()[0].decode(String.self)

        let onboardsBefore = try await Self.onboardJobs(lab)
        let found = try await DriftAuditTests.audit(lab, ["--repair"])
        #expect(found.status == 5, "\(found.output)")
        #expect(
            found.output.contains("drift in 2 customer(s): msp1 \(m365Key), msp1 \(teamsKey)")
                || found.output.contains("drift in 2 customer(s): msp1 \(teamsKey), msp1 \(m365Key)"),
            "\(found.output)")
        #expect(!found.output.contains(keptKey), "\(found.output)")
        #expect(try await DriftAuditTests.findings(lab, Self.m365) == ["offboard-residue application \(handAppID)"])
        #expect(
            try await DriftAuditTests.findings(lab, Self.teams) == [
                "offboard-residue credential \(undestroyed)", "offboard-residue pbx Microsoft365Integration",
            ])
        #expect(try await DriftAuditTests.findings(lab, Self.kept) == [])
        #expect(
            found.output.contains("msp1 \(m365Key)  offboard-residue  application \(handAppID)  since "),
            "\(found.output)")
        // --repair never onboards an offboarded customer again; the output says what removes the residue.
        #expect(try await Self.onboardJobs(lab) == onboardsBefore, "--repair enqueued an onboarding")
        for customer in [teamsKey, m365Key] {
            #expect(
                found.output.contains(
                    "repair: \(customer): offboarded, with residue: `onboarder offboard \(customer)` removes it (offboarding is idempotent); no onboarding is enqueued"
                ), "\(found.output)")
        }
        let shown = try await lab.pool.query(
            "SELECT customer, finding, path FROM dashboard.drift ORDER BY customer"
        ).map { try $0.decode((String, String, String).self) }
        #expect(shown.count == 3 && shown.allSatisfy { $0.1 == "offboard-residue" }, "\(shown)")

        // Offboarding again removes it; the next audit is clean, and says the findings cleared.
        #expect(try await lab.onboarder(["offboard", teamsKey, m365Key]).status == 0)
        try await Self.offboardingsFinish(lab)
        #expect((try await lab.inspect(Self.m365)["applications"] as! [[String: Any]]).isEmpty)
        let again = try await DriftAuditTests.audit(lab)
        #expect(again.status == 0 && again.output.contains("no drift"), "\(again.output)")
        for domain in [Self.teams, Self.m365, Self.kept] {
            #expect(try await DriftAuditTests.findings(lab, domain) == [], "\(domain)")
        }
        let cleared = try await lab.pool.query(
            "SELECT count(*)::int FROM onboarder.events WHERE kind = 'drift_cleared' AND detail->>'finding' = 'offboard-residue'"
        ).single()[0].decode(Int.self)
        #expect(cleared == 3)
        let destroyed = try await lab.pool.query(
            "SELECT count(*)::int FROM onboarder.credentials WHERE state <> 'removed' OR sealed IS NOT NULL"
        ).single()[0].decode(Int.self)
        #expect(destroyed == 0)

        // Offboarded more than 30 days ago: out of the nightly audit, unless named.
        try await lab.pool.query(
            """
            UPDATE onboarder.integrations SET offboarded_at = now() - interval '31 days'
             WHERE tenant_id = (SELECT id FROM onboarder.tenants WHERE tenant_key = \(m365Key))
            """)
        let nightly = try await DriftAuditTests.audit(lab)
        #expect(nightly.status == 0 && nightly.output.contains("audit: 2 customer(s)"), "\(nightly.output)")
        let named = try await DriftAuditTests.audit(lab, ["--customer", Self.m365])
        #expect(named.status == 0 && named.output.contains("audit: 1 customer(s)"), "\(named.output)")

        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        try await lab.close()
    }

    /// An offboarded customer being onboarded again is not audited for residue, neither when the audit is
    /// enqueued nor when it runs: that onboarding's new app would look like residue (and likewise an
    /// offboarding again, which is removing it).
    @Test func aCustomerBeingOnboardedAgainIsNotAuditedForResidue() async throws {
        let lab = try await PipelineLab("residuebusy", world: PipelineLab.world([(Self.m365, .full, .e5)]))
        let onboarding = try await lab.enqueue(Self.m365, path: "m365")
        let worker = try lab.startWorker("w1")
        try await lab.waitFor([onboarding])
        #expect(try await lab.onboarder(["offboard", Self.m365]).status == 0)
        try await Self.offboardingsFinish(lab)
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        // Onboarded again, queued (no worker): the audit leaves the customer out.
        let again = try await lab.enqueue(Self.m365, path: "m365")
        let busy = try await lab.onboarder(["audit", "--wait", "1"])
        #expect(busy.status == 3 && busy.output.contains("no onboarded customer"), "\(busy.output)")
        #expect(try await lab.onboarder(["cancel", "--job", String(again)]).status == 0)
        let audits = try await lab.pool.query(
            "SELECT job_id, tenant_key FROM onboarder.enqueue_audits()"
        ).map { try $0.decode((Int64, String).self) }
        #expect(audits.map(\.1) == [key(lab, Self.m365)])
        // An onboarding enqueued after the audit, before a worker ran it: the job sees it and audits nothing
        // (it records neither findings nor audited_at), whichever of the two the worker takes first.
        let audit = try #require(audits.first?.0)
        try await lab.enqueue(Self.m365, path: "m365")
        let second = try lab.startWorker("w2")
        try await lab.waitFor([audit])
        #expect(try await lab.state(audit).state == "succeeded_with_warnings")
        let audited = try await lab.pool.query(
            "SELECT count(*)::int FROM onboarder.integrations WHERE audited_at IS NOT NULL"
        ).single()[0].decode(Int.self)
        #expect(audited == 0)
        #expect(try await DriftAuditTests.findings(lab, Self.m365) == [])
        second.signal(SIGTERM)
        _ = await second.wait()
        try await lab.close()
    }

    func key(_ lab: PipelineLab, _ domain: String) -> String { lab.tenant(domain).id.uuidString.lowercased() }

    /// Waits for every offboarding enqueued so far; each must succeed.
    static func offboardingsFinish(_ lab: PipelineLab) async throws {
        let jobs = try await lab.offboardJobs()
        try await lab.waitFor(jobs)
        for job in jobs { #expect(try await lab.state(job).state == "succeeded", "offboarding \(job)") }
    }

    static func onboardJobs(_ lab: PipelineLab) async throws -> [Int64] {
        try await lab.pool.query("SELECT id FROM onboarder.jobs WHERE kind = 'onboard' ORDER BY id").map {
            try $0[0].decode(Int64.self)
        }
    }

    /// The customer's PBX through its XAPI, as its administrator (or anyone with its API client) uses it.
    static func pbx(_ lab: PipelineLab, _ domain: String) throws -> XAPIClient {
        let pbx = try #require(lab.simulator.world.pbxes.values.first { $0.name == lab.pbxName(domain) })
        return XAPIClient(
            http: lab.http, baseURL: "\(lab.base)/pbx/\(pbx.name)", clientID: pbx.clientID, secret: pbx.clientSecret)
    }
}
