import Crypto
import Foundation
import Pipeline
import Postgres
import Simulator
import Synchronization
import TestSupport
import Testing

/// A listener on loopback that records every request: where an attacker would like the partner secret,
/// the key file or another MSP's PBX secret to arrive.
final class Listener: Sendable {
    let server: SimHTTPServer
    private let recorder: Recorder

    final class Recorder: Sendable {
        let requests = Mutex<[SimRequest]>([])
    }

    let scheme: String

    init(
        tls: TestCA? = nil,
        reply: @escaping @Sendable (SimRequest) -> SimResponse = { _ in .json(200, #"{"access_token":"x"}"#) }
    ) throws {
        let recorder = Recorder()
        scheme = tls == nil ? "http" : "https"
        let context = try tls.map { try TLSServerContext(certificate: $0.serverCertificate, key: $0.serverKey) }
        server = try SimHTTPServer(tls: context) { request in
            recorder.requests.withLock { $0.append(request) }
            return .respond(reply(request), delay: .zero)
        }
        self.recorder = recorder
    }

    var requests: [SimRequest] { recorder.requests.withLock { $0 } }
    var url: String { url(host: "localhost") }
    func url(host: String) -> String { "\(scheme)://\(host):\(server.port)" }
}

/// Issue: an enqueue row chose both where a secret is read from and where it is sent, so it could have the
/// worker post the partner app's secret or the key file to a listener of its choosing. Each attack is
/// tried through the CLI (refused at enqueue) and straight in the database (refused by the worker, with
/// nothing sent).
@Suite("Enqueue input never reaches the deployment's secrets (simulator, PostgreSQL, worker processes)", .serialized)
struct ExfiltrationTests {
    @Test func theCLIRefusesRowsThatNameTheDeploymentsSecretsOrSendThemAstray() async throws {
        let lab = try await PipelineLab("exfil-cli", world: PipelineLab.world([("c1.onmicrosoft.com", .full, .e5)]))
        let listener = try Listener()
        let header = "msp,tenant,path,pbx_url,pbx_client_id,pbx_secret\n"
        let rows = [
            "msp1,a1.example.com,m365,\(listener.url),x,env:ONBOARDER_PARTNER_CLIENT_SECRET",
            "msp1,a2.example.com,m365,\(listener.url),x,env:ONBOARDER_SECRETS_KEY_FILE",
            "msp1,a3.example.com,m365,\(listener.url),x,file:\(lab.keyFile)",
            "msp1,a4.example.com,m365,\(listener.url),x,file:../keys",
            "msp1,a5.example.com,m365,https://user:hunter2@pbx.example.com,x,env:PBX_SECRET_A5",
            "msp1,a6.example.com,m365,http://203.0.113.7,x,env:PBX_SECRET_A6",
            "msp1,a7.example.com,m365,https://pbx.example.com,x,env:",
        ]
        let file = lab.directory.appendingPathComponent("attack.csv").path
        try Data((header + rows.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: file))
        let result = try await lab.onboarder(["enqueue", file])
        #expect(result.status == 2, "\(result.output)")
        for (index, reason) in [
            "deployment's own variables", "deployment's own variables", "outside the directories", "'..'",
            "user name or password", "must be https", "variable name",
        ].enumerated() {
            #expect(result.output.contains("\(file):\(index + 2): pbx_"), "line \(index + 2): \(result.output)")
            #expect(result.output.contains(reason), "\(reason): \(result.output)")
        }
        #expect(!result.output.contains("hunter2"))
        let jobs = try await lab.pool.query("SELECT count(*)::int FROM onboarder.jobs").single()[0].decode(Int.self)
        #expect(jobs == 0)
        #expect(listener.requests.isEmpty)
        try await lab.close()
    }

    @Test func rowsWrittenStraightIntoTheDatabaseGetNoFurtherThanTheWorker() async throws {
        let lab = try await PipelineLab(
            "exfil-db",
            world: PipelineLab.world([
                ("p1.onmicrosoft.com", .full, .e5), ("p2.onmicrosoft.com", .full, .e5),
                ("p3.onmicrosoft.com", .full, .e5), ("p4.onmicrosoft.com", .full, .e5),
                ("p5.onmicrosoft.com", .full, .e5),
            ]))
        let listener = try Listener()
        // A link inside the PBX secrets folder to the key file: the folder is allowed, its target is not.
        try FileManager.default.createSymbolicLink(
            atPath: lab.directory.appendingPathComponent("pbx-secrets/innocent").path, withDestinationPath: lab.keyFile)
        let vault = try lab.vault
        let otherCustomers =
            "sealed:"
            + (try vault.seal(
                lab.simulator.world.pbxes.values.first!.clientSecret,
                context: SecretReference.sealingContext(msp: "msp2", customer: "p5.onmicrosoft.com")))
        let allowed = listener.url(host: "127.0.0.1")
        let attacks: [(domain: String, secret: String, url: String?, reason: String)] = [
            // The listener is on a host the MSP allows (127.0.0.1): only the reference stops these.
            ("p1.onmicrosoft.com", "env:ONBOARDER_PARTNER_CLIENT_SECRET", allowed, "deployment's own variables"),
            ("p2.onmicrosoft.com", "file:innocent", allowed, "outside the directories"),
            ("p3.onmicrosoft.com", otherCustomers, allowed, "sealed for another customer"),
            // The PBX secret itself is fine; its destination (localhost) is not among the MSP's allowed hosts.
            ("p4.onmicrosoft.com", "", listener.url, "not one of this MSP's allowed PBX hosts"),
        ]
        // What a login with the worker's rights (or anyone with UPDATE on jobs) could write.
        let worker = PostgresPool(
            configuration: PostgresConfiguration(connectionString: lab.workerURL), maxConnections: 1)
        var jobs: [Int64] = []
        for attack in attacks {
            let job = try await lab.enqueue(attack.domain, path: "m365")
            if !attack.secret.isEmpty {
                try await worker.query(
                    """
                    UPDATE onboarder.jobs SET payload = jsonb_set(payload, '{pbx_secret}', to_jsonb(\(attack.secret)::text))
                     WHERE id = \(job)
                    """)
            }
            if let url = attack.url {
                try await worker.query(
                    "UPDATE onboarder.jobs SET payload = jsonb_set(payload, '{pbx_url}', to_jsonb(\(url)::text)) WHERE id = \(job)"
                )
            }
            jobs.append(job)
        }
        await worker.close()
        try await lab.pool.query("UPDATE onboarder.msps SET allowed_pbx_hosts = ARRAY['127.0.0.1'] WHERE id = 'msp1'")
        let daemon = try lab.startWorker("w1")
        try await lab.waitFor(jobs)
        for (job, attack) in zip(jobs, attacks) {
            let state = try await lab.state(job)
            #expect(state.state == "needs_attention", "\(attack.domain): \(state)")
            #expect(state.attention?.contains(attack.reason) == true, "\(attack.domain): \(state)")
        }
        #expect(listener.requests.isEmpty, "the listener received \(listener.requests.map(\.bodyText))")
        daemon.signal(SIGTERM)
        _ = await daemon.wait()
        // Nothing of the partner secret or the key in the worker's log either.
        let logs = lab.workerLogs.compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.joined()
        let key = try String(contentsOfFile: lab.keyFile, encoding: .utf8).split(separator: " ")[1]
        #expect(
            !logs.contains(lab.simulator.world.partnerSecret) && !logs.contains(key.trimmingCharacters(in: .newlines)))
        try await lab.close()
    }

    @Test func aPBXThatRedirectsItsTokenEndpointCannotBounceTheSecretElsewhere() async throws {
        let lab = try await PipelineLab(
            "exfil-redirect", world: PipelineLab.world([("r1.onmicrosoft.com", .full, .e5)]))
        // The listener speaks https with a certificate the worker trusts: libcurl follows redirects to https
        // only, so a plain-http listener would prove nothing.
        let tls = try TestCA()
        let listener = try Listener(tls: tls)
        // The PBX answers its token endpoint with a 307 to the listener: libcurl would post the same body
        // (the PBX's client secret) there if it followed.
        let bouncer = try Listener { _ in
            SimResponse(status: 307, headers: [("Location", "\(listener.url)/steal")])
        }
        let job = try await lab.enqueue("r1.onmicrosoft.com", path: "m365")
        try await lab.pool.query(
            "UPDATE onboarder.jobs SET payload = jsonb_set(payload, '{pbx_url}', to_jsonb(\(bouncer.url)::text)) WHERE id = \(job)"
        )
        let worker = try lab.startWorker("w1", ["ONBOARDER_HTTP_CA_BUNDLE": tls.caPath])
        // The job stops at the PBX step once the token request's transfer, redirect and all, is over.
        try await lab.waitFor([job], in: ["needs_attention", "waiting", "failed"])
        #expect(try await lab.state(job).error?.contains("307") == true)
        #expect(bouncer.requests.count >= 1)
        #expect(bouncer.requests.allSatisfy { $0.path.hasSuffix("/connect/token") })
        #expect(listener.requests.isEmpty, "the redirect was followed: \(listener.requests.map(\.bodyText))")
        worker.signal(SIGTERM)
        _ = await worker.wait()
        try await lab.close()
    }
}
