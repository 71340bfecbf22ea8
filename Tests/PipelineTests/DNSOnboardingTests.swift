import Foundation
import PBX
import Postgres
import Simulator
import TestSupport
import Testing

/// The teams-domain step with each DNS provider, end to end: worker processes, the simulator as
/// Microsoft, a real BIND 9 for RFC 2136 and the manual mode, the simulator's Cloudflare API.
@Suite("DNS: the teams-domain step end to end", .serialized)
struct DNSOnboardingTests {
    /// A lab whose Microsoft (the simulator) looks TXT records up in BIND, as Microsoft looks in the
    /// zone's public DNS.
    static func lab(_ label: String, domains: [String]) async throws -> PipelineLab {
        let lab = try await PipelineLab(label, world: PipelineLab.world(domains.map { ($0, .full, .e5) }))
        let resolver = DNSResolver(servers: [try TestBIND.server])
        lab.simulator.setDNSLookup { name in (try? resolver.txtNow(name, zone: name)) ?? [] }
        return lab
    }

    /// Customers of their own for each run: BIND's zone outlives a test.
    static func domains(_ prefix: String, _ count: Int) -> [String] {
        let run = UUID().uuidString.prefix(6).lowercased()
        return (1...count).map { "\(prefix)\(run)\($0).onmicrosoft.com" }
    }

    static func fqdn(_ domain: String) throws -> String { "\(domain.prefix { $0 != "." }).\(try TestBIND.zone)" }

    func events(_ lab: PipelineLab, job: Int64, kind: String) async throws -> [String] {
        try await lab.pool.query(
            "SELECT coalesce(detail::text, '') FROM onboarder.events WHERE job_id = \(job) AND kind = \(kind) ORDER BY id"
        ).map { try $0[0].decode(String.self) }
    }

    func verified(_ lab: PipelineLab, _ domain: String) async throws -> Bool {
        let fqdn = try Self.fqdn(domain)
        let domains = try await lab.inspect(domain)["domains"] as? [[String: Any]] ?? []
        return domains.first { $0["id"] as? String == fqdn }?["isVerified"] as? Bool == true
    }

    /// RFC 2136: a wrong TSIG secret stops the job with the key and server named; with the right one an
    /// operator's retry publishes, Microsoft verifies, and the record is removed. No secret in any log.
    @Test func rfc2136PublishesVerifiesAndRemoves() async throws {
        let domains = Self.domains("rfc", 1)
        let lab = try await Self.lab("dnsrfc", domains: domains)
        let environment = try TestBIND.workerEnvironment()
        let wrongSecret = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let job = try await lab.enqueue(domains[0], path: "teams")
        let refused = try lab.startWorker(
            "wrong-key", environment.merging(["ONBOARDER_DNS_TSIG_SECRET": wrongSecret]) { $1 })
        try await lab.waitFor([job])
        let stopped = try await lab.state(job)
        #expect(stopped.state == "needs_attention")
        let expected = "the TSIG key named \(try TestBIND.keyName) was refused by \(try TestBIND.server) (BADSIG)"
        #expect(stopped.attention?.contains(expected) == true, "\(stopped.attention ?? "")")
        refused.signal(SIGTERM)
        _ = await refused.wait()

        let worker = try lab.startWorker("right-key", environment)
        #expect(try await lab.onboarder(["retry", "--job", String(job)]).status == 0)
        try await lab.waitFor([job])
        #expect(try await lab.state(job).state == "succeeded")
        #expect(try await verified(lab, domains[0]))
        let fqdn = try Self.fqdn(domains[0])
        #expect(try await TestBIND.lookup(fqdn) == [], "the TXT record is left in BIND")
        let removed = try await events(lab, job: job, kind: "dns_record_removed")
        #expect(removed.count == 1 && removed.first?.contains("MS=ms") == true, "\(removed)")

        // A run that stopped between verifying and removing left a record: onboarding the customer again
        // finds the domain verified and removes Microsoft's leftover records, not the name's others.
        try await TestBIND.client.publish(name: fqdn, value: "MS=ms99999999", zone: try TestBIND.zone)
        try await TestBIND.client.publish(name: fqdn, value: "v=spf1 -all", zone: try TestBIND.zone)
        let again = try await lab.enqueue(domains[0], path: "teams")
        try await lab.waitFor([again])
        #expect(try await lab.state(again).state == "succeeded")
        #expect(try await TestBIND.lookup(fqdn) == ["v=spf1 -all"])
        #expect(try await events(lab, job: again, kind: "dns_record_removed").count == 1)
        try await TestBIND.client.remove(name: fqdn, value: "v=spf1 -all", zone: try TestBIND.zone)

        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        // Neither secret in the workers' logs, the database, or what `config check` prints.
        let check = try await runCommand(
            [builtProductsDirectory.appendingPathComponent("onboarder").path, "config", "check"],
            environment: lab.environment(environment))
        #expect(check.status == 0 && check.output.contains("dns.tsig_secret"), "\(check.output)")
        let logs = lab.workerLogs.compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.joined()
        let database = try await lab.databaseText()
        #expect(logs.contains("BADSIG") && database.contains("BADSIG"))
        for secret in [try TestBIND.secret, wrongSecret] {
            #expect(!logs.contains(secret), "a TSIG secret is in a worker's log")
            #expect(!database.contains(secret), "a TSIG secret is in the database")
            #expect(!check.output.contains(secret), "config check prints a TSIG secret")
        }
        try await lab.close()
    }

    /// manual: the job waits for input with the exact record, looks it up in BIND with a growing interval,
    /// and goes on by itself once the record resolves; `onboarder resume` makes it look at once.
    @Test func manualWaitsUntilTheRecordResolves() async throws {
        let domains = Self.domains("man", 2)
        let lab = try await Self.lab("dnsmanual", domains: domains)
        let zone = try TestBIND.zone
        let first = try await lab.enqueue(domains[0], path: "teams")
        let second = try await lab.enqueue(domains[1], path: "teams")
        let worker = try lab.startWorker(
            "w1",
            [
                "ONBOARDER_DNS_PROVIDER": "manual", "ONBOARDER_DNS_RESOLVER": try TestBIND.server.description,
                "ONBOARDER_ONBOARDING_SBC_PARENT_DOMAIN": zone,
            ])
        func waitingMessage(_ job: Int64) async throws -> String {
            try await lab.waitFor([job], in: ["waiting"], seconds: 60)
            for _ in 0..<300 {
                try await lab.playTechnician(lab.technician)  // the PBX's hand-over comes first
                if let message = try await lab.state(job).error, message.hasPrefix("teams-domain: waiting for input") {
                    return message
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("job \(job) does not wait for input: \(try await lab.state(job))")
            throw CancellationError()
        }
        func value(_ message: String) throws -> String {
            try #require(message.firstMatch(of: /TXT "(MS=ms\d+)"/)).output.1.description
        }
        let message = try await waitingMessage(first)
        let fqdn = try Self.fqdn(domains[0])
        #expect(message.contains("create the DNS record \(fqdn) TXT \""), "\(message)")
        #expect(message.contains("name \(fqdn), type TXT, value MS=ms") && message.contains("may be removed"))
        let reason = try await lab.pool.query("SELECT wait_reason FROM onboarder.jobs WHERE id = \(first)").single()[0]
            .decode(String.self)
        #expect(reason == "input")

        // The operator publishes the record (here by RFC 2136 into BIND): the job goes on by itself.
        try await TestBIND.client.publish(name: fqdn, value: try value(message), zone: zone)
        try await lab.waitFor([first], seconds: 60)
        #expect(try await lab.state(first).state == "succeeded")
        #expect(try await verified(lab, domains[0]))
        let removable = try await events(lab, job: first, kind: "dns_record_removable")
        #expect(removable.count == 1 && removable.first?.contains("may be removed") == true, "\(removable)")

        // Resumed before the record exists, the job looks, and waits again. (It also looks by itself, after
        // 5 s, 10 s …: a resume that meets it running one of those looks is refused; the operator resumes again.)
        let secondMessage = try await waitingMessage(second)
        var resumed = false
        for _ in 0..<5 where !resumed {
            resumed = try await lab.onboarder(["resume", "--job", String(second)]).status == 0
            if !resumed { _ = try await waitingMessage(second) }
        }
        #expect(resumed)
        func looksAfterTheResume() async throws -> Int {
            try await lab.pool.query(
                """
                SELECT count(*)::int FROM onboarder.events
                 WHERE job_id = \(second) AND kind = 'rescheduled'
                   AND id > (SELECT max(id) FROM onboarder.events WHERE job_id = \(second) AND kind = 'resumed')
                """
            ).single()[0].decode(Int.self)
        }
        for _ in 0..<600 where try await looksAfterTheResume() == 0 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(try await looksAfterTheResume() >= 1, "the resumed job did not look and wait again")
        _ = try await waitingMessage(second)
        #expect(try await verified(lab, domains[1]) == false)
        // Published, then resumed: it goes on at once, long before its next look was due. The next look is put
        // an hour away first, so that a slow machine reaching the job's own look (5 s, 10 s … away) cannot pass
        // for the resume.
        var pushedLook: Date?
        for _ in 0..<5 where pushedLook == nil {
            pushedLook = try await lab.pool.query(
                """
                UPDATE onboarder.jobs SET run_at = now() + interval '1 hour'
                 WHERE id = \(second) AND state = 'waiting' RETURNING run_at
                """
            ).first?[0].decode(Date.self)
            if pushedLook == nil { _ = try await waitingMessage(second) }  // it was looking: let it wait again
        }
        let nextLook = try #require(pushedLook)
        let secondFQDN = try Self.fqdn(domains[1])
        try await TestBIND.client.publish(name: secondFQDN, value: try value(secondMessage), zone: zone)
        #expect(try await lab.onboarder(["resume", "--job", String(second)]).status == 0)
        try await lab.waitFor([second], seconds: 60)
        #expect(try await lab.state(second).state == "succeeded")
        let stepDone = try await lab.pool.query(
            "SELECT finished_at FROM onboarder.job_steps WHERE job_id = \(second) AND step = 'teams-domain'"
        ).single()[0].decode(Date.self)
        #expect(stepDone < nextLook, "the resumed job waited for its next look (\(nextLook)), done \(stepDone)")
        worker.signal(SIGTERM)
        _ = await worker.wait()
        for name in [fqdn, secondFQDN] {
            for value in try await TestBIND.lookup(name) {
                try await TestBIND.client.remove(name: name, value: value, zone: zone)
            }
        }
        try await lab.close()
    }

    /// Cloudflare: the record published with the account's token, verified, removed; the token in no log.
    @Test func cloudflareRemovesTheRecordAndNeverLogsTheToken() async throws {
        let domains = Self.domains("cf", 1)
        let lab = try await PipelineLab("dnscloudflare", world: PipelineLab.world(domains.map { ($0, .full, .e5) }))
        let token = "cf-" + UUID().uuidString
        lab.simulator.setDNSAccount(SimDNSAccount(zones: [PipelineLab.sbcParent], tokens: [token]))
        let job = try await lab.enqueue(domains[0], path: "teams")
        let worker = try lab.startWorker("w1", ["ONBOARDER_DNS_API_TOKEN": token])
        try await lab.waitFor([job])
        #expect(try await lab.state(job).state == "succeeded")
        try await lab.expectOnboarded(domains[0], path: "teams")
        let fqdn = "\(domains[0].prefix { $0 != "." }).\(PipelineLab.sbcParent)"
        let left = try await CloudflareDNSClient(http: lab.http, baseURL: "\(lab.base)/client/v4", token: token)
            .values(name: fqdn, zone: PipelineLab.sbcParent)
        #expect(left == [], "the TXT record is left at Cloudflare")
        #expect(try await events(lab, job: job, kind: "dns_record_removed").count == 1)
        worker.signal(SIGTERM)
        _ = await worker.wait()
        let logs = lab.workerLogs.compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.joined()
        #expect(!logs.isEmpty && !logs.contains(token), "the API token is in a worker's log")
        #expect(!(try await lab.databaseText()).contains(token))
        try await lab.close()
    }
}
