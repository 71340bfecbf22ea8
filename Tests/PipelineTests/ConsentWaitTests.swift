import Foundation
import Pipeline
import Postgres
import Simulator
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
        #expect(rows == [
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
            looks = try await lab.pool.query(
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
        let after = try await lab.onboarder(["consent", "links"], as: .operator)
        #expect(after.output.contains("No customer waits"), "\(after.output)")
        worker.signal(SIGTERM)
        _ = await worker.wait()
        try await lab.close()
    }
}

/// The CSV header `consent links` prints (ConsentLinks.columns, as the binary writes it).
enum ConsentLinksHeader {
    static let header = "msp,customer,tenant_id,job_id,waiting_since,missing,consent_url,client_id"
}
