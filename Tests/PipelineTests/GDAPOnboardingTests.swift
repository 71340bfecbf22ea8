import Foundation
import Postgres
import Simulator
import TestSupport
import Testing

/// Customers found through GDAP onboard like any others: the default MSP's partner tenant is exported by the
/// service login, the enqueuer enqueues the qualifying ones from the snapshot (PBX fields from a table keyed
/// by tenant id), and a worker onboards them to the end; the customer without a usable relationship has no job.
@Suite("GDAP discovery, end to end through a worker", .serialized)
struct GDAPOnboardingTests {
    @Test func customersFoundThroughGDAPAreOnboarded() async throws {
        var world = PipelineLab.world([
            ("gdap-a.onmicrosoft.com", .full, .e5), ("gdap-b.onmicrosoft.com", .full, .e5),
            ("gdap-c.onmicrosoft.com", .full, .e5),
        ])
        world.tenants[2].gdap = WorldDescription.GDAP(status: "terminated", end: "2025-01-01T00:00:00Z")
        let lab = try await PipelineLab("gdap_onboard", world: world)
        let partner = ["ONBOARDER_PARTNER_TENANT_ID": lab.simulator.world.partnerTenant.id.uuidString.lowercased()]
        let snapshot = lab.directory.appendingPathComponent("msp1-gdap.json").path
        let export = try await runCommand(
            [
                builtProductsDirectory.appendingPathComponent("onboarder").path, "gdap", "export", "--msp", "msp1",
                "-o",
                snapshot,
            ],
            environment: lab.environment(partner))
        #expect(export.status == 0, "\(export.output)")

        var table = "tenant_id,pbx_url,pbx_secret\n"
        for domain in ["gdap-a.onmicrosoft.com", "gdap-b.onmicrosoft.com", "gdap-c.onmicrosoft.com"] {
            let pbx = lab.pbxName(domain)
            table +=
                "\(lab.tenant(domain).id.uuidString.lowercased()),\(lab.base)/pbx/\(pbx),"
                + "json:\(lab.credentialsFile)#pbx.\(pbx).client_secret\n"
        }
        let tablePath = lab.directory.appendingPathComponent("pbx.csv").path
        try table.write(toFile: tablePath, atomically: true, encoding: .utf8)
        let enqueue = try await lab.onboarder(
            [
                "enqueue", "--from-gdap", snapshot, "--msp", "msp1", "--path", "m365", "--pbx-client-id", "onboarder",
                "--pbx-table", tablePath,
            ], as: .enqueuer)
        // A run from GDAP is held for approval (exit 3) until an approver, another login, approves it.
        #expect(enqueue.status == 3, "\(enqueue.output)")
        #expect(enqueue.output.contains("2 enqueued, 1 skipped"), "\(enqueue.output)")

        let jobs = try await lab.pool.query("SELECT id FROM onboarder.jobs ORDER BY id").map {
            try $0[0].decode(Int64.self)
        }
        #expect(jobs.count == 2)
        let batch = try await lab.pool.query("SELECT id FROM onboarder.batches").single()[0].decode(Int64.self)
        let approve = try await lab.onboarder(["approve", String(batch)])
        #expect(approve.status == 0, "\(approve.output)")
        let worker = try lab.startWorker("gdap")
        try await lab.waitFor(jobs)
        for job in jobs { #expect(try await lab.state(job).state == "succeeded") }
        try await lab.expectOnboarded("gdap-a.onmicrosoft.com", path: "m365")
        try await lab.expectOnboarded("gdap-b.onmicrosoft.com", path: "m365")
        worker.signal(SIGTERM)
        _ = await worker.wait()
        try await lab.close()
    }
}
