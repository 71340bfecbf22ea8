import Foundation
import Pipeline
import Simulator
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("What the worker sends to Graph, read back from the simulator's journal", .serialized)
struct JournalSchemaTests {
    /// Both paths onboarded, then a secret and a certificate rotated, by worker processes: every request
    /// body the worker sent to Graph on the way must be valid against the vendored Graph schema.
    @Test func everyGraphRequestBodyOfARealRunValidates() async throws {
        let teams = "journal-teams.onmicrosoft.com"
        let m365 = "journal-m365.onmicrosoft.com"
        let lab = try await PipelineLab("journal", world: PipelineLab.world([(teams, .full, .e5), (m365, .full, .e5)]))
        let worker = try lab.startWorker("journal", concurrency: 4, ["ONBOARDER_ROTATION_GRACE_HOURS": "0"])
        let onboardings = [try await lab.enqueue(teams, path: "teams"), try await lab.enqueue(m365, path: "m365")]
        try await lab.waitFor(onboardings)
        for job in onboardings { #expect(try await lab.state(job).state == "succeeded") }

        let secret = try await lab.onboarder(["rotate-secrets", "--force", "--only", "secrets", "--tenant", m365])
        #expect(secret.status == 0, "\(secret.output)")
        let certificate = try await lab.onboarder([
            "rotate-secrets", "--force", "--only", "certificates", "--tenant", teams,
        ])
        #expect(certificate.status == 0, "\(certificate.output)")
        let rotations = try await lab.pool.query(
            "SELECT id FROM onboarder.jobs WHERE kind IN ('rotate-secret', 'rotate-certificate') ORDER BY id"
        ).map { try $0[0].decode(Int64.self) }
        #expect(rotations.count == 2)
        // The secret rotation waits for the operator's hand-over: export the new secret when it asks.
        let deadline = ContinuousClock.now + .seconds(90)
        var exported = false
        while !exported, ContinuousClock.now < deadline {
            for job in rotations where (try await lab.state(job)).error?.contains("enter the new client secret") == true
            {
                #expect(try await lab.onboarder(["secret", "export", m365]).status == 0)
                exported = true
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(exported, "the secret rotation never asked for the hand-over")
        try await lab.waitFor(rotations)
        for job in rotations { #expect(try await lab.state(job).state == "succeeded") }
        worker.signal(SIGTERM)
        _ = await worker.wait()

        let (problems, checked, operations) = try GraphSchema.validateJournal(
            try String(contentsOfFile: lab.journal, encoding: .utf8))
        #expect(problems.isEmpty, "\(problems)")
        // Every write the pipeline makes with a body, on both paths and in both rotations.
        let expected: Set<String> = [
            "PATCH:/applications(uniqueName='{uniqueName}')", "POST:/servicePrincipals",
            "POST:/servicePrincipals/{servicePrincipal-id}/appRoleAssignedTo", "POST:/oauth2PermissionGrants",
            "POST:/applications/{application-id}/addPassword", "POST:/applications/{application-id}/removePassword",
            "PATCH:/applications/{application-id}", "POST:/domains", "POST:/users",
            "POST:/users/{user-id}/assignLicense",
        ]
        #expect(operations.isSuperset(of: expected), "not sent: \(expected.subtracting(operations).sorted())")
        #expect(checked >= 20, "only \(checked) request bodies were checked")
        try await lab.close()
    }
}
