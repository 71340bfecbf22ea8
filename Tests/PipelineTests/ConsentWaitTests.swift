import Foundation
import HTTP
import Pipeline
import Postgres
import Simulator
import Store
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The partner app's consent at scale (simulator over HTTP, real PostgreSQL, a worker process): a customer
/// whose tenant has not consented (or lacks a role) waits for input with the admin-consent link, is listed by
/// `onboarder consent links`, looks again on its own, and completes once the consent lands — no retry.
@Suite("Consent waits", .serialized)
struct ConsentWaitTests {
    /// Polls until `job` waits for input at resolve-tenant with a `consent_check` recorded; returns its message.
    func waitsForConsent(_ lab: PipelineLab, _ job: Int64, seconds: Int = 60) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var last = ""
        while ContinuousClock.now < deadline {
            let (state, current, reason, message) = try await lab.pool.query(
                "SELECT state, current_step, wait_reason, last_error FROM onboarder.jobs WHERE id = \(job)"
            ).single().decode((String, String?, String?, String?).self)
            last = "\(state) at \(current ?? "-") (\(reason ?? "-")): \(message ?? "")"
            if state != "waiting" && state != "running" && state != "queued" { break }
            if state == "waiting", reason == "input", current == "resolve-tenant", let message {
                return message
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("job \(job) never waited for consent: \(last)")
        throw CancellationError()
    }

    @Test func consentGrantedWhileTheJobWaitsLetsItContinueWithoutRetry() async throws {
        let lab = try await PipelineLab(
            "consent",
            world: PipelineLab.world([
                ("noconsent.onmicrosoft.com", .none, .e5), ("partial.onmicrosoft.com", .partial, .e5),
                ("full.onmicrosoft.com", .full, .e5),
            ]))
        let none = try await lab.enqueue("noconsent.onmicrosoft.com", path: "m365")
        let partial = try await lab.enqueue("partial.onmicrosoft.com", path: "teams")
        let full = try await lab.enqueue("full.onmicrosoft.com", path: "m365")
        // The looks every 30 s (the shortest cap), so the test sees a second look and the one after the consent.
        let worker = try lab.startWorker("w1", ["ONBOARDER_ONBOARDING_INPUT_RECHECK_SECONDS": "30"])
        let partner = lab.simulator.world.partnerApp.appID.uuidString.lowercased()
        let noneTenant = lab.tenant("noconsent.onmicrosoft.com").id.uuidString.lowercased()
        let partialTenant = lab.tenant("partial.onmicrosoft.com").id.uuidString.lowercased()
        let noneURL = "\(lab.base)/\(noneTenant)/adminconsent?client_id=\(partner)"
        let partialURL = "\(lab.base)/\(partialTenant)/adminconsent?client_id=\(partner)"

        // Not consented at all: waits, with the link on the MSP's cloud's login host.
        let noneMessage = try await waitsForConsent(lab, none)
        #expect(noneMessage.contains(noneURL), "\(noneMessage)")
        #expect(noneMessage.contains("not consented"), "\(noneMessage)")
        // Partly consented (every role but Domain.ReadWrite.All): waits too, naming the missing role.
        let partialMessage = try await waitsForConsent(lab, partial)
        #expect(partialMessage.contains(partialURL), "\(partialMessage)")
        #expect(partialMessage.contains("Domain.ReadWrite.All"), "\(partialMessage)")
        #expect(!partialMessage.contains("User.ReadWrite.All"), "only what is missing: \(partialMessage)")
        // Nothing was written in either tenant before the consent: no app registration.
        for domain in ["noconsent.onmicrosoft.com", "partial.onmicrosoft.com"] {
            #expect((try await lab.inspect(domain)["applications"] as? [Any])?.isEmpty == true, "\(domain)")
        }

        // The links: exactly the two waiting customers, each with its link, as an operator of the MSP sees them.
        let text = try await lab.onboarder(["consent", "links"], as: .operator)
        #expect(text.status == 0, "\(text.output)")
        #expect(text.output.contains(noneURL) && text.output.contains(partialURL), "\(text.output)")
        #expect(!text.output.contains("full.onmicrosoft.com"), "\(text.output)")
        let csv = try await lab.onboarder(["consent", "links", "--msp", "msp1", "--format", "csv"], as: .operator)
        #expect(csv.status == 0, "\(csv.output)")
        let lines = csv.output.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(lines.first == ConsentLinksHeader.header, "\(csv.output)")
        let rows = Set(lines.dropFirst().map { $0.components(separatedBy: ",") }.map { "\($0[1]) \($0[6])" })
        #expect(
            rows == [
                "\(noneTenant) \(noneURL)", "\(partialTenant) \(partialURL)",
            ], "\(csv.output)")
        let other = try await lab.onboarder(["consent", "links", "--msp", "other", "--format", "csv"], as: .operator)
        #expect(other.output.components(separatedBy: "\r\n").filter { !$0.isEmpty }.count == 1, "\(other.output)")

        // A consented customer beside them is not held up.
        try await lab.waitFor([full], seconds: 120)
        #expect(try await lab.state(full).state == "succeeded")
        // It looks again on its own: a second look is recorded, still waiting.
        let deadline = ContinuousClock.now + .seconds(75)
        var looks = 0
        while ContinuousClock.now < deadline {
            looks =
                try await lab.pool.query(
                    "SELECT min(n)::int FROM (SELECT count(*) AS n FROM onboarder.events WHERE job_id IN (\(none), \(partial)) AND kind = 'consent_check' GROUP BY job_id) c"
                ).single()[0].decode(Int?.self) ?? 0
            if looks >= 2 { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(looks >= 2, "each job looked again on its own")
        _ = try await waitsForConsent(lab, none)
        _ = try await waitsForConsent(lab, partial)

        // The customers' admins consent; the jobs notice on their next look and finish — no retry.
        try await lab.fix("noconsent.onmicrosoft.com", #"{"consent": "full"}"#)
        try await lab.fix("partial.onmicrosoft.com", #"{"consent": "full"}"#)
        try await lab.waitFor([none, partial], seconds: 150)
        #expect(try await lab.state(none).state == "succeeded")
        #expect(try await lab.state(partial).state == "succeeded")
        try await lab.expectOnboarded("noconsent.onmicrosoft.com", path: "m365")
        try await lab.expectOnboarded("partial.onmicrosoft.com", path: "teams")
        let events = try await lab.pool.query(
            """
            SELECT kind, count(*)::int FROM onboarder.events WHERE job_id IN (\(none), \(partial))
               AND kind IN ('retried', 'consent_check', 'consent_granted') GROUP BY kind ORDER BY kind
            """
        ).map { try $0.decode((String, Int).self) }
        let counts = Dictionary(uniqueKeysWithValues: events)
        #expect(counts["retried"] == nil, "\(counts)")
        #expect((counts["consent_check"] ?? 0) >= 4, "each job looked at least twice: \(counts)")
        #expect(counts["consent_granted"] == 2, "\(counts)")
        // Each look is recorded by the finish that set the job waiting (one transaction), not before it.
        let alone = try await lab.pool.query(
            """
            SELECT count(*)::int FROM onboarder.events c
             WHERE c.job_id IN (\(none), \(partial)) AND c.kind = 'consent_check'
               AND NOT EXISTS (SELECT 1 FROM onboarder.events r WHERE r.job_id = c.job_id AND r.kind = 'rescheduled'
                                  AND r.xmin::text = c.xmin::text AND r.id > c.id)
            """
        ).single()[0].decode(Int.self)
        #expect(alone == 0, "\(alone) consent looks were recorded apart from their wait")
        let after = try await lab.onboarder(["consent", "links"], as: .operator)
        #expect(after.output.contains("No customer waits"), "\(after.output)")
        worker.signal(SIGTERM)
        _ = await worker.wait()
        try await lab.close()
    }
}

extension ConsentWaitTests {
    /// An MSP in `partner-center` mode: the worker asks Partner Center (the simulator's) for the consent with
    /// the admin agent's refresh token, reads it back through Graph, and waits for what Partner Center cannot
    /// give (the application roles) with the link; Partner Center's refusals (no relationship, no consenting
    /// role) are said in the wait. Once the customer's admin consents, the job continues.
    @Test func partnerCenterModeAsksPartnerCenterAndWaitsForWhatItCannotGrant() async throws {
        let lab = try await PipelineLab(
            "partnercenter",
            world: PipelineLab.world([
                ("pcok.onmicrosoft.com", .none, .e5), ("pcnorel.onmicrosoft.com", .none, .e5),
                ("pcnorole.onmicrosoft.com", .none, .e5),
            ]))
        let ok = try await lab.enqueue("pcok.onmicrosoft.com", path: "m365")
        let noRelationship = try await lab.enqueue("pcnorel.onmicrosoft.com", path: "m365")
        let noRole = try await lab.enqueue("pcnorole.onmicrosoft.com", path: "m365")
        // The MSP consents through Partner Center; its admin agent's refresh token is sealed in msp_secrets.
        let updated = try await lab.pool.query(
            "UPDATE onboarder.msps SET consent_mode = 'partner-center' WHERE id = 'msp1'")
        #expect(updated.affectedRows == 1)
        let agent = try await lab.http.execute(
            HTTPRequest(method: "POST", url: "\(lab.base)/_sim/partnercenter/agents"))
        let refresh = try #require(
            (try JSONSerialization.jsonObject(with: Data(agent.body)) as? [String: Any])?["refresh_token"] as? String)
        try await PartnerCenterCredentials.setSealedRefreshToken(
            try lab.vault.seal(refresh, context: PartnerCenterCredentials.sealingContext(msp: "msp1")), msp: "msp1",
            on: lab.pool)
        for (domain, body) in [
            ("pcnorel.onmicrosoft.com", #"{"relationship": false}"#),
            ("pcnorole.onmicrosoft.com", #"{"roles": ["User Administrator"]}"#),
        ] {
            let response = try await lab.http.execute(
                HTTPRequest(
                    method: "PATCH", url: "\(lab.base)/_sim/partnercenter/customers/\(domain)", body: Array(body.utf8)))
            #expect(response.status == 200)
        }
        let worker = try lab.startWorker(
            "w1",
            [
                "ONBOARDER_ONBOARDING_INPUT_RECHECK_SECONDS": "30",
                "ONBOARDER_MICROSOFT_PARTNER_CENTER_BASE_URL": lab.base,
                "ONBOARDER_PARTNER_TENANT_ID": lab.simulator.world.partnerTenant.id.uuidString.lowercased(),
            ])
        let partnerApp = lab.simulator.world.partnerApp.appID.uuidString.lowercased()

        // Partner Center consented: the principal and the delegated grant are there, read back through Graph,
        // and the job still waits for the application roles, with the link.
        let message = try await waitsForConsent(lab, ok)
        #expect(message.contains("Partner Center: it consented the delegated scopes"), "\(message)")
        #expect(message.contains("adminconsent?client_id=\(partnerApp)"), "\(message)")
        let inspection = try await lab.inspect("pcok.onmicrosoft.com")
        let principal = try #require(
            (inspection["servicePrincipals"] as? [[String: Any]])?.first { $0["appId"] as? String == partnerApp })
        let grant = (inspection["oauth2PermissionGrants"] as? [[String: Any]])?.first {
            $0["clientId"] as? String == principal["id"] as? String
        }
        #expect((grant?["scope"] as? String)?.contains("Application.ReadWrite.All") == true, "\(grant ?? [:])")
        // The principal without a role cannot read the consent: Application.ReadWrite.All is what it lacks first.
        let waiting = try await lab.pool.query(
            "SELECT service_principal, array_to_string(missing, ',') FROM dashboard.consent_waiting WHERE job_id = \(ok)"
        ).single().decode((Bool, String).self)
        #expect(waiting.0 && waiting.1 == "Application.ReadWrite.All", "the principal, no role: \(waiting)")
        #expect(message.contains("cannot read which other roles"), "\(message)")
        // Partner Center's refusals, in words.
        let refusedRelationship = try await waitsForConsent(lab, noRelationship)
        #expect(
            refusedRelationship.contains("HTTP 403") && refusedRelationship.contains("relationship"),
            "\(refusedRelationship)")
        let refusedRole = try await waitsForConsent(lab, noRole)
        #expect(refusedRole.contains("Cloud Application Administrator"), "\(refusedRole)")
        for domain in ["pcnorel.onmicrosoft.com", "pcnorole.onmicrosoft.com"] {
            let principals = (try await lab.inspect(domain)["servicePrincipals"] as? [[String: Any]]) ?? []
            #expect(!principals.contains { $0["appId"] as? String == partnerApp }, "nothing made in \(domain)")
        }
        // A second look (30 s on) does not ask again: Partner Center has nothing more to give.
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let looks = try await lab.pool.query(
                "SELECT count(*)::int FROM onboarder.events WHERE job_id = \(ok) AND kind = 'consent_check'"
            ).single()[0].decode(Int.self)
            if looks >= 2 { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        let asks = try await lab.pool.query(
            "SELECT count(*)::int FROM onboarder.events WHERE job_id = \(ok) AND kind = 'partner_center_consent'"
        ).single()[0].decode(Int.self)
        #expect(asks == 1, "asked once: nothing more it can grant")

        // The customer's admin consents the application roles: the job continues on its own.
        try await lab.fix("pcok.onmicrosoft.com", #"{"consent": "full"}"#)
        try await lab.waitFor([ok], seconds: 120)
        #expect(try await lab.state(ok).state == "succeeded")
        // The admin agent's refresh token is a credential: never in the journal, the worker's log, an event or
        // any column in clear.
        let journal = (try? String(contentsOfFile: lab.journal, encoding: .utf8)) ?? ""
        let logs = lab.workerLogs.map { (try? String(contentsOfFile: $0, encoding: .utf8)) ?? "" }.joined()
        #expect(!journal.isEmpty && !logs.isEmpty)
        for (place, text) in [("journal", journal), ("worker log", logs), ("database", try await lab.databaseText())] {
            #expect(!text.contains(refresh), "the refresh token is in the \(place)")
        }
        worker.signal(SIGTERM)
        _ = await worker.wait()
        try await lab.close()
    }
}

extension ConsentWaitTests {
    /// Two MSPs, each with its own partner app: each waiting customer's link names its own MSP's app, and an
    /// operator sees its own MSPs' customers only.
    @Test func linksNameEachMSPsOwnPartnerApp() async throws {
        var description = PipelineLab.world([("m1none.onmicrosoft.com", .none, .e5)])
        description.partners = [WorldDescription.Partner(msp: "acme")]
        description.tenants.append(
            WorldDescription.Tenant(
                domain: "acmenone.onmicrosoft.com", consent: .none, sku: .e5, users: ["alice", "bob", "carol"],
                partner: "acme"))
        let lab = try await PipelineLab("consentmsps", world: description)
        let acme = try #require(lab.simulator.world.partner(msp: "acme"))
        let acmeApp = acme.app.appID.uuidString.lowercased()
        let defaultApp = lab.simulator.world.partnerApp.appID.uuidString.lowercased()
        // acme's own partner app, its secret sealed for it, as `onboarder msp set` leaves them.
        try await lab.pool.query(
            """
            INSERT INTO onboarder.msps (id, display_name, partner_tenant_id, partner_client_id)
            VALUES ('acme', 'Acme', \(acme.tenant.id), \(acme.app.appID))
            """)
        let sealed = try lab.vault.seal(acme.secret, context: "onboarder.msp_secrets/partner_secret/acme")
        try await lab.pool.query(
            "INSERT INTO onboarder.msp_secrets (msp_id, partner_secret_sealed) VALUES ('acme', \(sealed))")
        let m1 = try await lab.enqueue("m1none.onmicrosoft.com", path: "m365")
        let pbx = lab.pbxName("acmenone.onmicrosoft.com")
        let payload = try PostgresJSON(
            encoding: OnboardingPayload(
                path: "m365", displayName: "acme customer", pbxURL: "\(lab.base)/pbx/\(pbx)", pbxClientID: "onboarder",
                pbxSecret: "json:\(lab.credentialsFile)#pbx.\(pbx).client_secret"))
        let acmeTenant = lab.tenant("acmenone.onmicrosoft.com").id.uuidString.lowercased()
        let a1 = try await lab.pool.query(
            "SELECT job_id FROM onboarder.enqueue('acme', \(acmeTenant), 'onboard', \(payload))"
        ).single().decode(Int64.self, column: "job_id")
        let worker = try lab.startWorker("w1")
        _ = try await waitsForConsent(lab, m1)
        let acmeMessage = try await waitsForConsent(lab, a1)
        #expect(acmeMessage.contains("\(lab.base)/\(acmeTenant)/adminconsent?client_id=\(acmeApp)"), "\(acmeMessage)")

        // An operator of both MSPs: both customers, each with its MSP's app.
        let owner = PostgresConfiguration(connectionString: lab.databaseURL)
        let both = try await TestDatabase.login(
            .operator, msps: ["msp1", "acme"], database: lab.databaseName, owner: owner)
        let csv = try await runCommand(
            [builtProductsDirectory.appendingPathComponent("onboarder").path, "consent", "links", "--format", "csv"],
            environment: lab.environment(["ONBOARDER_DATABASE_URL": both.connectionString!]))
        #expect(csv.status == 0, "\(csv.output)")
        let rows = Set(
            csv.output.components(separatedBy: "\r\n").dropFirst().filter { !$0.isEmpty }.map {
                let cells = $0.components(separatedBy: ",")
                return "\(cells[0]) \(cells[6]) \(cells[7])"
            })
        let m1Tenant = lab.tenant("m1none.onmicrosoft.com").id.uuidString.lowercased()
        #expect(
            rows == [
                "msp1 \(lab.base)/\(m1Tenant)/adminconsent?client_id=\(defaultApp) \(defaultApp)",
                "acme \(lab.base)/\(acmeTenant)/adminconsent?client_id=\(acmeApp) \(acmeApp)",
            ], "\(csv.output)")
        // msp1's operator: msp1's customer only (row-level security), even when asking for acme's.
        let mine = try await lab.onboarder(["consent", "links", "--format", "csv"], as: .operator)
        #expect(mine.output.contains(defaultApp) && !mine.output.contains(acmeApp), "\(mine.output)")
        let theirs = try await lab.onboarder(["consent", "links", "--msp", "acme", "--format", "csv"], as: .operator)
        #expect(!theirs.output.contains(acmeApp), "\(theirs.output)")
        worker.signal(SIGTERM)
        _ = await worker.wait()
        try await lab.close()
    }
}

/// The CSV header `consent links` prints (ConsentLinks.columns, as the binary writes it).
enum ConsentLinksHeader {
    static let header = "msp,customer,tenant_id,job_id,waiting_since,missing,consent_url,client_id"
}
