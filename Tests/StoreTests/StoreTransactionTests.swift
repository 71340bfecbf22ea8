import Foundation
import Postgres
import Queue
import Store
import TestSupport
import Testing

/// A valid onboarding payload (the PBX's details), as the enqueue file's rules have it.
let onboarding = PostgresJSON(
    text: #"{"path":"teams","pbx_client_id":"onboarder","pbx_secret":"env:PBX_SECRET","pbx_url":"https://pbx.example"}"#
)

func onboard(_ msp: String, _ tenant: String) -> EnqueueRequest {
    EnqueueRequest(msp: msp, tenantKey: tenant, kind: "onboard", payload: onboarding)
}

/// Thrown to end a transaction with a rollback.
struct RollBack: Error {}

func count(_ table: String, _ pool: PostgresPool) async throws -> Int {
    try await pool.query("SELECT count(*)::int AS n FROM \(unsafeSQL: table)").single().decode(Int.self, column: "n")
}

@Suite("Store methods on a caller's executor")
struct StoreTransactionTests {
    @Test func storeMethodsJoinTheCallersTransactionAndRollBackWithIt() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("storejoin")
        let pool = PostgresPool(configuration: owner, maxConnections: 2)
        await #expect(throws: RollBack.self) {
            try await pool.transaction { connection in
                let results = try await Jobs.enqueueAll(
                    [onboard("acme", "contoso.example")], actor: "tester", on: connection)
                let job = try #require(results.first??.jobID)
                let cancelled = try await OperatorActions.perform(.cancel, job: job, actor: "tester", on: connection)
                #expect(cancelled == .done(state: "cancelled"))
                // Seen inside the transaction, by the store's own reads.
                let tenant = try #require(try await Tenants.matching("contoso.example", on: connection).first)
                #expect(try await Jobs.latest(tenant: tenant.id, kind: "onboard", on: connection) == job)
                throw RollBack()
            }
        }
        // The enqueue, its tenant and MSP, the cancel and every event went with the rollback.
        for table in ["onboarder.jobs", "onboarder.tenants", "onboarder.msps", "onboarder.events"] {
            #expect(try await count(table, pool) == 0, "\(table)")
        }
        // And committed, the same calls stay.
        try await pool.transaction { connection in
            let results = try await Jobs.enqueueAll([onboard("acme", "contoso.example")], actor: nil, on: connection)
            let job = try #require(results.first??.jobID)
            _ = try await OperatorActions.perform(.cancel, job: job, actor: nil, on: connection)
        }
        #expect(try await count("onboarder.jobs WHERE state = 'cancelled'", pool) == 1)
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    @Test func enqueueAllIsAllOrNothingAcrossItsBatches() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("storebatches")
        let pool = PostgresPool(configuration: owner, maxConnections: 2)
        let good = (1...5).map { onboard("acme", "customer\($0).example") }
        // The fifth row is refused in the third call, after two calls were written.
        let error = await #expect(throws: PostgresError.self) {
            try await Jobs.enqueueAll(
                good.prefix(4) + [onboard("acme", "Not A Domain")], actor: nil, batchSize: 2, on: pool)
        }
        #expect(error?.sqlState == "22023")
        #expect(try await count("onboarder.jobs", pool) == 0)

        var progress: [Int] = []
        let first = try await Jobs.enqueueAll(good, actor: nil, batchSize: 2, on: pool) { progress.append($0) }
        #expect(progress == [2, 4, 5])
        #expect(first.map { $0?.created } == Array(repeating: true, count: 5))
        // Results in request order: each customer's own job, reported (not duplicated) the second time.
        let again = try await Jobs.enqueueAll(good.reversed(), actor: nil, batchSize: 2, on: pool)
        #expect(again.map { $0?.created } == Array(repeating: false, count: 5))
        #expect(again.map { $0?.jobID } == first.reversed().map { $0?.jobID })
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    @Test func operatorActionsAnswerNoSuchJobForAnotherMSPsJob() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("storeactions")
        let pool = PostgresPool(configuration: owner, maxConnections: 2)
        let jobs = try await Jobs.enqueueAll(
            [onboard("alpha", "a.example"), onboard("beta", "b.example")], actor: nil, on: pool
        ).map { try #require($0?.jobID) }
        await pool.close()
        let operatorLogin = try await TestDatabase.login(.operator, msps: ["alpha"], database: name, owner: owner)
        let staff = PostgresPool(configuration: operatorLogin, maxConnections: 1)
        #expect(try await OperatorActions.perform(.cancel, job: jobs[1], actor: "op", on: staff) == .noSuchJob)
        #expect(try await OperatorActions.perform(.cancel, job: 999_999, actor: "op", on: staff) == .noSuchJob)
        #expect(
            try await OperatorActions.perform(.cancel, job: jobs[0], actor: "op", on: staff)
                == .done(state: "cancelled"))
        #expect(try await OperatorActions.perform(.cancel, job: jobs[0], actor: "op", on: staff) == .notApplicable)
        #expect(try await Tenants.matching("b.example", on: staff).isEmpty)
        await staff.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    @Test func wakeRunsTheCustomersJobsWaitingForInputNow() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("storewake")
        let pool = PostgresPool(configuration: owner, maxConnections: 2)
        let job = try #require(
            try await Jobs.enqueueAll([onboard("alpha", "a.example")], actor: nil, on: pool).first??.jobID)
        try await pool.query(
            """
            UPDATE onboarder.jobs SET state = 'waiting', wait_reason = 'input', run_at = now() + interval '1 day'
             WHERE id = \(job)
            """)
        let tenant = try #require(try await Tenants.matching("a.example", on: pool).first)
        let operatorLogin = try await TestDatabase.login(.operator, msps: ["alpha"], database: name, owner: owner)
        let staff = PostgresPool(configuration: operatorLogin, maxConnections: 1)
        #expect(try await OperatorActions.wake(tenant: tenant.id, why: "DNS published", actor: "op", on: staff) == 1)
        let due = try await pool.query("SELECT run_at <= now() AS due FROM onboarder.jobs WHERE id = \(job)").single()
        #expect(try due.decode(Bool.self, column: "due"))
        await staff.close()
        // Another MSP's operator: no such customer, as for an id that does not exist.
        let other = try await TestDatabase.login(.operator, msps: ["beta"], database: name, owner: owner)
        let outsider = PostgresPool(configuration: other, maxConnections: 1)
        let error = await #expect(throws: PostgresError.self) {
            try await OperatorActions.wake(tenant: tenant.id, why: "spying", actor: "op", on: outsider)
        }
        #expect(error?.sqlState == "P0002")
        await outsider.close()
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    @Test func aRotationRequestIsTheOnboardingPayloadWithItsCredential() throws {
        let secret = DueCredential(
            credentialID: 7, msp: "acme", tenantKey: "contoso.example", keyID: "key-1", expiresAt: nil,
            kind: "password", onboardingPayload: onboarding)
        let request = try #require(secret.rotationRequest)
        #expect(request.kind == "rotate-secret")
        #expect(request.idempotencyKey == "rotate-secret:7")
        #expect(request.subject == "key-1")
        let payload = try #require(
            try JSONSerialization.jsonObject(with: Data(request.payload.text.utf8)) as? [String: Any])
        #expect(payload["credential_id"] as? Int == 7)
        #expect(payload["pbx_url"] as? String == "https://pbx.example")

        let certificate = DueCredential(
            credentialID: 8, msp: "acme", tenantKey: "contoso.example", keyID: "AB12", expiresAt: nil,
            kind: "certificate", onboardingPayload: onboarding)
        #expect(certificate.rotationRequest?.kind == "rotate-certificate")
        let neverOnboarded = DueCredential(
            credentialID: 9, msp: "acme", tenantKey: "contoso.example", keyID: "k", expiresAt: nil, kind: "password",
            onboardingPayload: nil)
        #expect(neverOnboarded.rotationRequest == nil)
    }
}
