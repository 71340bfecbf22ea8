import Crypto
import Foundation
import Pipeline
import Postgres
import TestSupport
import Testing

/// Who acted, for every operator action the CLI offers: the database login (which a user cannot choose)
/// and, apart from it, the name given with `--actor`. Each command runs as the role the README gives it.
@Suite("Every operator action records who (simulator, PostgreSQL, worker processes)", .serialized)
struct AuditTests {
    /// The events of `job` of `kind`, as "actor db_user".
    func who(_ lab: PipelineLab, _ kind: String, job: Int64? = nil) async throws -> [String] {
        try await lab.pool.query(
            """
            SELECT coalesce(actor, '-') || ' ' || db_user FROM onboarder.events
             WHERE kind = \(kind) AND (\(job)::bigint IS NULL OR job_id = \(job)) ORDER BY id
            """
        ).map { try $0[0].decode(String.self) }
    }

    @Test func certAddSecretExportRetryResumeAndCancelRecordTheLoginAndTheActor() async throws {
        let lab = try await PipelineLab(
            "audit",
            // audit2 forbids client secrets: it stops for an operator (a customer without consent only waits).
            world: PipelineLab.world(
                [("audit1.onmicrosoft.com", .full, .e5), ("audit2.onmicrosoft.com", .full, .e5)],
                forbidPasswords: ["audit2.onmicrosoft.com"]))
        let operatorLogin = try #require(URLComponents(string: lab.operatorURL)?.user)
        let workerLogin = try #require(URLComponents(string: lab.workerURL)?.user)
        let onboarding = try await lab.enqueue("audit1.onmicrosoft.com", path: "m365")
        let stopped = try await lab.enqueue("audit2.onmicrosoft.com", path: "m365")
        let worker = try lab.startWorker("w1", ["ONBOARDER_ONBOARDING_CERTIFICATE_SOURCE": "file"])
        // The technician's part is played here, step by step, with who did it.
        lab.technician = .absent
        try await lab.waitFor([stopped])
        try await lab.waitFor([onboarding], in: ["waiting"], seconds: 60)

        // The technician supplies the PBX's certificate (Generate New Key Pair on the PBX).
        let pem = try await lab.generatePBXKeyPair("audit1.onmicrosoft.com")
        let file = lab.directory.appendingPathComponent("pbx.cer").path
        FileManager.default.createFile(atPath: file, contents: Data(try Certificate(pem: pem).der))
        let added = try await lab.onboarder(["cert", "add", "audit1.onmicrosoft.com", file, "--actor", "tech.tom"])
        #expect(added.status == 0, "\(added.output)")
        #expect(try await who(lab, "certificate_supplied") == ["tech.tom \(operatorLogin)"])

        // An operator cannot read a secret; the service login on a worker host can, and it is recorded.
        let refused = try await lab.onboarder(["secret", "export", "audit1.onmicrosoft.com"], as: .operator)
        #expect(refused.status == 1 && refused.output.contains("permission denied"), "\(refused.output)")
        let secrets = try await lab.secretValues()
        #expect(!secrets.contains { refused.output.contains($0) })
        let exported = try await lab.onboarder(["secret", "export", "audit1.onmicrosoft.com", "--actor", "admin.ann"])
        #expect(exported.status == 0, "\(exported.output)")
        #expect(try await who(lab, "secret_exported") == ["admin.ann \(workerLogin)"])
        // The technician enters it in the PBX and signs in; the job sees it at its next look (woken now).
        try await lab.pasteSecret(
            "audit1.onmicrosoft.com", exported.output.split(separator: "\n").last.map(String.init) ?? "")
        #expect(try await lab.signInPBX("audit1.onmicrosoft.com") == nil)
        _ = try await lab.onboarder(["resume", "audit1.onmicrosoft.com"])
        try await lab.waitFor([onboarding])
        #expect(try await lab.state(onboarding).state == "succeeded")

        // The customer that needs attention: retried, resumed, cancelled, each by someone.
        #expect(try await lab.state(stopped).state == "needs_attention")
        let retried = try await lab.onboarder(["retry", "--job", String(stopped), "--actor", "op.olga"])
        #expect(retried.status == 0, "\(retried.output)")
        try await lab.waitFor([stopped])
        let resumed = try await lab.onboarder(["resume", "--job", String(stopped), "--actor", "op.otto"])
        #expect(resumed.status == 0, "\(resumed.output)")
        worker.signal(SIGTERM)
        _ = await worker.wait()
        let cancelled = try await lab.onboarder(["cancel", "--job", String(stopped), "--actor", "op.oda"])
        #expect(cancelled.status == 0, "\(cancelled.output)")
        #expect(try await who(lab, "retried", job: stopped) == ["op.olga \(operatorLogin)"])
        #expect(try await who(lab, "resumed", job: stopped) == ["op.otto \(operatorLogin)"])
        #expect(try await who(lab, "cancelled", job: stopped) == ["op.oda \(operatorLogin)"])
        // A job that does not exist is "no such job" (3), not "not in a state for this" (4).
        #expect(try await lab.onboarder(["retry", "--job", "987654"]).status == 3)
        try await lab.close()
    }
}
