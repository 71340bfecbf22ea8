import Foundation
import Pipeline
import Postgres
import TestSupport
import Testing

/// One customer, one Entra tenant, end to end: `onboarder enqueue` as built, under MSP staff's enqueuer
/// login, resolving domains through the simulator's OpenID discovery; the worker's claim at resolve-tenant.
@Suite("One customer, one Entra tenant: the enqueue CLI and the worker (simulator, PostgreSQL)", .serialized)
struct CustomerIdentityPipelineTests {
    static let domain = "ident.onmicrosoft.com"

    func row(_ lab: PipelineLab, msp: String = "msp1", key: String, domain: String = Self.domain) -> String {
        let pbx = lab.pbxName(domain)
        return
            "\(msp),\(key),m365,\(lab.base)/pbx/\(pbx),onboarder,json:\(lab.credentialsFile)#pbx.\(pbx).client_secret"
    }

    func file(_ lab: PipelineLab, _ name: String, _ rows: [String]) throws -> String {
        let path = lab.directory.appendingPathComponent(name).path
        let text = "msp,tenant,path,pbx_url,pbx_client_id,pbx_secret\n" + rows.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func counts(_ lab: PipelineLab) async throws -> (tenants: Int, jobs: Int) {
        try await lab.pool.query(
            "SELECT (SELECT count(*)::int FROM onboarder.tenants), (SELECT count(*)::int FROM onboarder.jobs)"
        ).single().decode((Int, Int).self)
    }

    /// Domain then tenant id: the second enqueue reports the first job; the dry run shows the resolution;
    /// a domain Entra does not know is a row problem with its file and line; another MSP is refused, naming
    /// the first, with nothing written.
    @Test func domainThenTenantIDReportsTheFirstJobAndAnotherMSPIsRefused() async throws {
        let lab = try await PipelineLab(
            "identity-cli",
            world: PipelineLab.world([(Self.domain, .full, .e5), ("spare.onmicrosoft.com", .full, .e5)]))
        let id = lab.tenant(Self.domain).id.uuidString.lowercased()

        let dry = try await lab.onboarder(
            ["enqueue", "--dry-run", try file(lab, "dry.csv", [row(lab, key: Self.domain)])])
        #expect(dry.status == 0, "\(dry.output)")
        #expect(dry.output.contains("dry.csv:2: \(Self.domain): tenant \(id)"), "\(dry.output)")
        #expect(try await counts(lab) == (0, 0))

        let unknown = try file(
            lab, "unknown.csv", [row(lab, key: "spare.onmicrosoft.com"), row(lab, key: "nobody.example.com")])
        let refused = try await lab.onboarder(["enqueue", unknown])
        #expect(refused.status == 2, "\(refused.output)")
        #expect(
            refused.output.contains(
                "unknown.csv:3: tenant: Entra knows no tenant with the domain nobody.example.com (AADSTS90002: Tenant 'nobody.example.com' not found."
            ), "\(refused.output)")
        #expect(try await counts(lab) == (0, 0))

        let byDomain = try await lab.onboarder(["enqueue", try file(lab, "domain.csv", [row(lab, key: Self.domain)])])
        #expect(byDomain.status == 0 && byDomain.output.contains("1 enqueued"), "\(byDomain.output)")
        let job = try await lab.pool.query("SELECT id FROM onboarder.jobs").single()[0].decode(Int64.self)
        let byID = try await lab.onboarder(["enqueue", try file(lab, "id.csv", [row(lab, key: id)])])
        #expect(byID.status == 0, "\(byID.output)")
        #expect(byID.output.contains("0 enqueued, 1 already had an active onboarding"), "\(byID.output)")
        #expect(
            byID.output.contains("id.csv:2: already active as \(Self.domain): job \(job) (queued)"), "\(byID.output)")
        #expect(try await counts(lab) == (1, 1))
        let recorded = try await lab.pool.query("SELECT entra_tenant_id::text FROM onboarder.tenants").single()[0]
            .decode(String.self)
        #expect(recorded == id)

        // The same tenant under both keys in one file: the later row is rejected, naming the earlier.
        let twice = try await lab.onboarder(
            ["enqueue", try file(lab, "twice.csv", [row(lab, key: Self.domain), row(lab, key: id)])])
        #expect(twice.status == 2)
        #expect(
            twice.output.contains("twice.csv:3: tenant: \(id) is tenant \(id), the customer \(Self.domain) on line 2"),
            "\(twice.output)")

        // MSP 2's staff enqueue the same customer by its domain: refused, naming MSP 1; nothing written.
        let owner = PostgresConfiguration(connectionString: lab.databaseURL)
        let msp2 = try await TestDatabase.login(.enqueuer, msps: ["msp2"], database: lab.databaseName, owner: owner)
        let msp2File = try file(
            lab, "msp2.csv",
            [
                row(lab, msp: "msp2", key: "spare.onmicrosoft.com", domain: "spare.onmicrosoft.com"),
                row(lab, msp: "msp2", key: Self.domain),
            ])
        func asMSP2(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await runCommand(
                [builtProductsDirectory.appendingPathComponent("onboarder").path, "enqueue"] + arguments,
                environment: lab.environment(["ONBOARDER_DATABASE_URL": msp2.connectionString!]))
        }
        let other = try await asMSP2([msp2File])
        #expect(other.status == 2, "\(other.output)")
        #expect(
            other.output.contains("msp2.csv:3: tenant: \(Self.domain) is already a customer of MSP msp1"),
            "\(other.output)")
        #expect(try await counts(lab) == (1, 1))
        // --skip-invalid enqueues MSP 2's own customer and leaves the other MSP's out.
        let skipped = try await asMSP2(["--skip-invalid", msp2File])
        #expect(skipped.status == 2 && skipped.output.contains("1 enqueued, 1 rejected"), "\(skipped.output)")
        #expect(try await counts(lab) == (2, 2))
        try await lab.close()
    }

    /// Each domain is looked up at its MSP's cloud's login host: MSP 1's (global: the configured one, the
    /// simulator) resolves; MSP 2's, in the US Government cloud, is asked of login.microsoftonline.us, which
    /// this test machine cannot reach: the row says so, with the host it asked.
    @Test func eachDomainIsLookedUpInItsMSPsCloud() async throws {
        let lab = try await PipelineLab("identity-cloud", world: PipelineLab.world([(Self.domain, .full, .e5)]))
        let owner = PostgresConfiguration(connectionString: lab.databaseURL)
        let both = try await TestDatabase.login(
            .enqueuer, msps: ["msp1", "msp2"], database: lab.databaseName, owner: owner)
        try await lab.pool.query("UPDATE onboarder.msps SET cloud = 'usgov' WHERE id = 'msp2'")
        let clouds = try file(
            lab, "clouds.csv", [row(lab, key: Self.domain), row(lab, msp: "msp2", key: "gov.example.com")])
        let result = try await runCommand(
            [builtProductsDirectory.appendingPathComponent("onboarder").path, "enqueue", "--dry-run", clouds],
            environment: lab.environment(["ONBOARDER_DATABASE_URL": both.connectionString!]))
        #expect(result.status == 2, "\(result.output)")
        let id = lab.tenant(Self.domain).id.uuidString.lowercased()
        #expect(result.output.contains("clouds.csv:2: \(Self.domain): tenant \(id)"), "\(result.output)")
        #expect(
            result.output.contains(
                "clouds.csv:3: tenant: could not look up the tenant id of gov.example.com at https://login.microsoftonline.us ("
            ), "\(result.output)")
        try await lab.close()
    }

    /// Two `onboarder enqueue` processes at once, one by domain, one by tenant id: one customer row, one job;
    /// one reports it created, the other that it was there. In the first round both are held at the door
    /// (a lock on the customers' table) until both have looked and found no customer, then let go together.
    @Test func twoEnqueuesAtOnceUnderDifferentKeysMakeOneCustomerAndOneJob() async throws {
        let lab = try await PipelineLab("identity-race", world: PipelineLab.world([(Self.domain, .full, .e5)]))
        let id = lab.tenant(Self.domain).id.uuidString.lowercased()
        for round in 0..<3 {
            let byDomain = try file(lab, "domain\(round).csv", [row(lab, key: Self.domain)])
            let byID = try file(lab, "id\(round).csv", [row(lab, key: id)])
            let door = try await PostgresConnection.connect(PostgresConfiguration(connectionString: lab.databaseURL))
            if round == 0 {
                try await door.executeScript(unsafeSQL: "BEGIN; LOCK TABLE onboarder.tenants IN SHARE MODE")
            }
            async let first = lab.onboarder(["enqueue", byDomain])
            async let second = lab.onboarder(["enqueue", byID])
            if round == 0 {
                var held = 0
                for _ in 0..<100 where held < 2 {
                    try await Task.sleep(for: .milliseconds(100))
                    held = try await lab.pool.query(
                        """
                        SELECT count(*)::int FROM pg_locks
                         WHERE NOT granted AND relation = 'onboarder.tenants'::regclass
                        """
                    ).single()[0].decode(Int.self)
                }
                #expect(held == 2, "both enqueues were not held at once")
                try await door.executeScript(unsafeSQL: "COMMIT")
            }
            await door.close()
            let outputs = try await [first, second]
            #expect(outputs.allSatisfy { $0.status == 0 }, "\(outputs)")
            let created = outputs.filter { $0.output.contains("1 enqueued") }.count
            #expect(created == (round == 0 ? 1 : 0), "\(outputs.map(\.output))")
            #expect(try await counts(lab) == (1, 1), "round \(round)")
        }
        try await lab.close()
    }

    /// A customer row written straight through SQL by domain, while the customer is already a row under its
    /// tenant id: the worker stops its job at resolve-tenant, naming the other row, its MSP and its job,
    /// before anything is written in the tenant.
    @Test func aRowEnqueuedByDomainThroughSQLIsCaughtAtResolveTenantBeforeAnyWrite() async throws {
        let lab = try await PipelineLab("identity-claim", world: PipelineLab.world([(Self.domain, .full, .e5)]))
        let id = lab.tenant(Self.domain).id.uuidString.lowercased()
        let pbx = lab.pbxName(Self.domain)
        let payload = try PostgresJSON(
            encoding: OnboardingPayload(
                path: "m365", displayName: Self.domain, pbxURL: "\(lab.base)/pbx/\(pbx)", pbxClientID: "onboarder",
                pbxSecret: "json:\(lab.credentialsFile)#pbx.\(pbx).client_secret"))
        // The first, by tenant id, not due for a day (no worker takes it here).
        let first = try await lab.pool.query(
            "SELECT job_id FROM onboarder.enqueue('msp1', \(id), 'onboard', \(payload), 0, now() + interval '1 day')"
        ).single().decode(Int64.self, column: "job_id")
        let second = try await lab.pool.query(
            "SELECT job_id FROM onboarder.enqueue('msp1', \(Self.domain), 'onboard', \(payload))"
        ).single().decode(Int64.self, column: "job_id")
        #expect(try await counts(lab) == (2, 2))
        let journalBefore = try String(contentsOfFile: lab.journal, encoding: .utf8).split(separator: "\n").count
        let worker = try lab.startWorker("claim")
        // Until it stops, or gets past resolve-tenant (which it must not).
        for _ in 0..<300 {
            let (state, passed) = try await lab.pool.query(
                """
                SELECT j.state, EXISTS (SELECT 1 FROM onboarder.job_steps s
                                         WHERE s.job_id = j.id AND s.step = 'resolve-tenant' AND s.state = 'done')
                  FROM onboarder.jobs j WHERE j.id = \(second)
                """
            ).single().decode((String, Bool).self)
            if passed || !["queued", "running", "waiting"].contains(state) { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        worker.signal(SIGTERM)
        _ = await worker.wait()
        let (state, _, attention) = try await lab.state(second)
        #expect(state == "needs_attention")
        #expect(
            attention?.contains("Entra tenant \(id) (\(Self.domain)) is already this MSP's customer \(id)") == true,
            "\(attention ?? "")")
        #expect(attention?.contains("its job \(first) is queued") == true, "\(attention ?? "")")
        // No write reached the tenant (nor the PBX): every request after the enqueue was a read or a token.
        let writes = try String(contentsOfFile: lab.journal, encoding: .utf8).split(separator: "\n")
            .dropFirst(journalBefore)
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { line in
                let method = line["method"] as? String ?? ""
                let path = line["path"] as? String ?? ""
                return method != "GET" && !path.hasSuffix("/oauth2/v2.0/token")
            }
        #expect(writes.isEmpty, "\(writes.map { "\($0["method"] ?? "") \($0["path"] ?? "")" })")
        let apps = (try await lab.inspect(Self.domain)["applications"] as? [[String: Any]]) ?? []
        #expect(apps.isEmpty)
        // The domain row has no tenant id; the first row still has it.
        let ids = try await lab.pool.query(
            "SELECT tenant_key || ' ' || coalesce(entra_tenant_id::text, '-') FROM onboarder.tenants ORDER BY id"
        ).map { try $0[0].decode(String.self) }
        #expect(ids == ["\(id) \(id)", "\(Self.domain) -"])
        try await lab.close()
    }
}
