import Foundation
import Postgres
import Queue
import Store
import TestSupport
import Testing

/// Approval of large enqueues through the built `onboarder`, each command under the login the README gives
/// it: `migrate` (the owner) sets the threshold, `enqueue` (MSP staff) is held and prints the plan, the
/// enqueuer cannot approve its own batch, an approver can, and the jobs then run to the end against the
/// simulator; `batch list|show|cancel`.
@Suite("Approval of large enqueues: onboarder enqueue, approve, batch", .serialized)
struct ApprovalCommandTests {
    static let customers = ["teams1", "m365a", "m365b", "later1", "later2", "later3"].map { "\($0).onmicrosoft.com" }

    /// One JSON line per customer, keyed by its tenant id (no domain to look up).
    static func file(_ lab: PipelineLab, _ domains: [String], name: String) throws -> String {
        var text = ""
        for domain in domains {
            let pbx = lab.pbxName(domain)
            var row: [String: Any] = [
                "msp": "msp1", "tenant": lab.tenant(domain).id.uuidString.lowercased(),
                "path": domain.hasPrefix("teams") ? "teams" : "m365", "pbx_url": "\(lab.base)/pbx/\(pbx)",
                "pbx_client_id": "onboarder", "pbx_secret": "json:\(lab.credentialsFile)#pbx.\(pbx).client_secret",
            ]
            if domain.hasPrefix("teams") { row["sbc_domain"] = "teams1" }
            if domain.hasPrefix("m365b") { row["users"] = ["bob@\(domain)", "carol@\(domain)"] }
            text += String(
                decoding: try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys]), as: UTF8.self)
            text += "\n"
        }
        let path = lab.directory.appendingPathComponent(name).path
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    func strings(_ lab: PipelineLab, _ sql: PostgresQuery) async throws -> [String] {
        try await lab.pool.query(sql).map { try $0[0].decode(String.self) }
    }

    @Test func aHeldEnqueueRunsOnlyAfterAnotherLoginApprovesIt() async throws {
        let lab = try await PipelineLab(
            "approvecli", world: PipelineLab.world(Self.customers.map { ($0, .full, .e5) }))
        // The owner's migrate writes the configured threshold into the database.
        let migrate = try await runCommand(
            [
                builtProductsDirectory.appendingPathComponent("onboarder").path, "migrate", "--directory",
                TestDatabase.repositoryRoot.appendingPathComponent("sql/migrations").path,
            ],
            environment: [
                "ONBOARDER_DATABASE_URL": lab.databaseURL, "ONBOARDER_ENQUEUE_APPROVAL_THRESHOLD": "2",
                "ONBOARDER_LOG_FORMAT": "json", "ONBOARDER_CONFIG": "",
            ])
        #expect(migrate.status == 0, "\(migrate.output)")
        #expect(migrate.output.contains("approval threshold: enqueues creating more than 2 onboard jobs are held"))
        #expect(try await strings(lab, "SELECT approval_threshold::text FROM onboarder.queue_limits") == ["2"])

        let file = try Self.file(lab, Array(Self.customers.prefix(3)), name: "three.jsonl")
        let enqueue = try await lab.onboarder(["enqueue", file])
        #expect(enqueue.status == 3, "\(enqueue.output)")
        let batch = try #require(try await strings(lab, "SELECT id::text FROM onboarder.batches").first)
        let teamsPBX = lab.pbxName("teams1.onmicrosoft.com")
        for expected in [
            "plan: 3 customer(s) of MSP msp1 (1 teams, 2 m365)",
            "app registration \"bvoip-msteams-integration\" with admin consent to application permissions User.Read.All",
            "client secret \"PBX Secret · onboarder job …\" valid 730 days",
            "redirect URI \(lab.base)/pbx/\(teamsPBX)/api/microsoft365/callback",
            "domain teams1.sbc.msp.example (TXT teams1.sbc.msp.example); activation user teams-activation@teams1.sbc.msp.example",
            "PBX sync: bob@m365b.onmicrosoft.com, carol@m365b.onmicrosoft.com",
            "PBX sync: every licensed, enabled user",
            "held as batch \(batch): 3 job(s) wait until onboarder approve \(batch) by another login",
        ] {
            #expect(enqueue.output.contains(expected), "\(expected)\n\(enqueue.output)")
        }
        let jobs = try await lab.pool.query(
            "SELECT id FROM onboarder.jobs WHERE batch_id = \(batch)::bigint ORDER BY id"
        )
        .map { try $0[0].decode(Int64.self) }
        #expect(jobs.count == 3)
        let worker = try lab.startWorker("w1")

        // The enqueuer's own login cannot approve it.
        let own = try await lab.onboarder(["approve", batch], as: .enqueuer)
        #expect(own.status == 4, "\(own.output)")
        #expect(own.output.contains("refused:"), "\(own.output)")
        let list = try await lab.onboarder(["batch", "list"])
        #expect(list.status == 0, "\(list.output)")
        #expect(list.output.contains("\(batch) held (threshold) msp1: 3 job(s) — 3 awaiting approval; enqueued by"))
        let show = try await lab.onboarder(["batch", "show", batch], as: .approver)
        #expect(show.status == 0, "\(show.output)")
        #expect(show.output.contains("plan: 3 customer(s) of MSP msp1"), "\(show.output)")
        let teamsTenant = lab.tenant("teams1.onmicrosoft.com").id.uuidString.lowercased()
        #expect(show.output.contains(": waiting (approval)") && show.output.contains("msp1 \(teamsTenant)"))
        // Nothing ran: the worker is up, the jobs still wait.
        #expect(
            try await strings(lab, "SELECT DISTINCT state FROM onboarder.jobs WHERE id = ANY(\(jobs))") == ["waiting"])

        let approve = try await lab.onboarder(["approve", batch, "--actor", "carol"])
        #expect(approve.status == 0, "\(approve.output)")
        #expect(approve.output.contains("batch \(batch) approved: its jobs run now (3 job(s))"))
        try await lab.waitFor(jobs)
        let finished = try await strings(
            lab, "SELECT state || ' ' || coalesce(warnings::text, '') FROM onboarder.jobs WHERE id = ANY(\(jobs))")
        #expect(finished.allSatisfy { $0.hasPrefix("succeeded") }, "\(finished)")
        let approver = try #require(URLComponents(string: lab.approverURL)?.user)
        #expect(
            try await strings(
                lab,
                "SELECT DISTINCT db_user || ' ' || actor FROM onboarder.events WHERE kind = 'approved' AND job_id = ANY(\(jobs))"
            ) == ["\(approver) carol"])
        try await lab.expectOnboarded("teams1.onmicrosoft.com", path: "teams")
        try await lab.expectOnboarded(
            "m365b.onmicrosoft.com", path: "m365", users: ["bob@m365b.onmicrosoft.com", "carol@m365b.onmicrosoft.com"])
        #expect(try await lab.onboarder(["approve", batch], as: .approver).status == 5)

        // A second held enqueue, cancelled: its jobs never run, and it can no longer be approved.
        let later = try Self.file(lab, Array(Self.customers.suffix(3)), name: "later.jsonl")
        #expect(try await lab.onboarder(["enqueue", later]).status == 3)
        let second = try #require(
            try await strings(lab, "SELECT id::text FROM onboarder.batches WHERE id <> \(batch)::bigint").first)
        let cancel = try await lab.onboarder(["batch", "cancel", second])
        #expect(cancel.status == 0, "\(cancel.output)")
        #expect(cancel.output.contains("batch \(second) cancelled (3 job(s))"), "\(cancel.output)")
        #expect(try await lab.onboarder(["approve", second]).status == 5)
        #expect(
            try await strings(lab, "SELECT DISTINCT state FROM onboarder.jobs WHERE batch_id = \(second)::bigint")
                == ["cancelled"])
        let listed = try await lab.onboarder(["batch", "list"], as: .approver)
        #expect(
            listed.output.contains("\(second) cancelled (threshold) msp1: 3 job(s) — 3 cancelled"), "\(listed.output)")
        #expect(try await lab.onboarder(["batch", "show", "999999"]).status == 3)
        worker.signal(SIGTERM)
        _ = await worker.wait()
        try await lab.close()
    }

    /// A file enqueued in several statements (5,000 rows each; 3 here) whose later statement is held after an
    /// earlier one was not: the whole transaction is undone (`HeldPartway`), and enqueued again wholly held,
    /// as `onboarder enqueue` does, so no part of the file runs unapproved.
    @Test func aMultiStatementEnqueueHeldPartwayIsUndoneThenHeldWhole() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("approvepartway")
        let ownerPool = PostgresPool(configuration: owner, maxConnections: 1)
        let enqueuer = PostgresPool(
            configuration: try await TestDatabase.login(.enqueuer, msps: ["acme"], database: name, owner: owner),
            maxConnections: 1)
        try await ownerPool.query("UPDATE onboarder.queue_limits SET approval_threshold = 2")
        func requests(_ labels: [String]) -> [EnqueueRequest] {
            labels.map { label in
                EnqueueRequest(
                    msp: "acme", tenantKey: "\(label).example.com", kind: "onboard",
                    payload: PostgresJSON(
                        text:
                            #"{"path":"m365","pbx_url":"https://pbx.example.com","pbx_client_id":"o","pbx_secret":"env:PBX_SECRET_A"}"#
                    ))
            }
        }
        func count(_ sql: PostgresQuery) async throws -> Int {
            try await ownerPool.query(sql).single()[0].decode(Int.self)
        }
        _ = try await Jobs.enqueueAll(requests(["a1", "a2"]), actor: nil, on: enqueuer)
        // First statement: a1, a2 active already, n1 new (1 job, under 2); second: n2–n4 (3 jobs, held).
        let file = requests(["a1", "a2", "n1", "n2", "n3", "n4"])
        await #expect(throws: Jobs.HeldPartway.self) {
            try await Jobs.enqueueAll(file, actor: nil, batchSize: 3, on: enqueuer)
        }
        #expect(try await count("SELECT count(*)::int FROM onboarder.jobs") == 2)
        #expect(try await count("SELECT count(*)::int FROM onboarder.batches") == 0)
        let held = try await Jobs.enqueueAll(file, actor: nil, hold: "threshold", batchSize: 3, on: enqueuer)
        let created = held.compactMap { $0 }.filter(\.created)
        #expect(created.count == 4)
        #expect(Set(created.map(\.batchID)).count == 1 && created[0].batchID != nil)
        #expect(
            try await ownerPool.query("SELECT reason || ' ' || jobs FROM onboarder.batches").single()[0].decode(
                String.self) == "threshold 4")
        await enqueuer.close()
        await ownerPool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}
