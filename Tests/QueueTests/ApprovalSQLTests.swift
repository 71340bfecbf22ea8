import Foundation
import Postgres
import TestSupport
import Testing

/// Approval of large enqueues in the database (enqueue_many in 20_enqueue.sql, 84_approval.sql), as MSP
/// staff's logins call it directly: the threshold and the hold, the four-eyes rule, the release, and that
/// nothing else (claim, retry, resume, wake) lets a held job run.
@Suite("Approval of large enqueues in SQL", .serialized)
struct ApprovalSQLTests {
    /// A migrated database with MSPs alpha and beta, a registered worker, and staff logins: an enqueuer of
    /// alpha (and one of alpha and beta), approvers of alpha, of beta, and of both, an operator of alpha.
    final class Lab: @unchecked Sendable {
        let name: String
        let owner: PostgresConnection
        let enqueuer, enqueuerBoth, approver, approverBeta, approverBoth, operatorAlpha, worker: PostgresConnection

        init(_ label: String) async throws {
            let (ownerConfiguration, name) = try await TestDatabase.makeMigratedScratchDatabase(label)
            self.name = name
            owner = try await PostgresConnection.connect(ownerConfiguration)
            try await owner.executeScript(
                unsafeSQL: """
                    INSERT INTO onboarder.msps (id, display_name) VALUES ('alpha', 'Alpha'), ('beta', 'Beta');
                    INSERT INTO onboarder.workers (id, host, pid, concurrency, version) VALUES ('w1', 'h', 1, 1, 'test');
                    """)
            func login(_ role: StaffRole, _ msps: [String]) async throws -> PostgresConnection {
                try await PostgresConnection.connect(
                    TestDatabase.login(role, msps: msps, database: name, owner: ownerConfiguration))
            }
            enqueuer = try await login(.enqueuer, ["alpha"])
            enqueuerBoth = try await login(.enqueuer, ["alpha", "beta"])
            approver = try await login(.approver, ["alpha"])
            approverBeta = try await login(.approver, ["beta"])
            approverBoth = try await login(.approver, ["alpha", "beta"])
            operatorAlpha = try await login(.operator, ["alpha"])
            worker = try await login(.worker, [])
        }

        func threshold(_ value: Int?) async throws {
            try await owner.query("UPDATE onboarder.queue_limits SET approval_threshold = \(value) WHERE singleton")
        }

        /// `enqueue_many` of one onboard row per key, as `connection`'s login calls it.
        @discardableResult
        func enqueue(
            _ keys: [String], msp: String = "alpha", hold: String? = nil, actor: String? = "alice",
            as connection: PostgresConnection
        ) async throws -> [(job: Int64, created: Bool, state: String, batch: Int64?)] {
            try await enqueue(keys.map { (msp, $0) }, hold: hold, actor: actor, as: connection)
        }

        @discardableResult
        func enqueue(
            _ rows: [(msp: String, key: String)], hold: String? = nil, actor: String? = "alice",
            as connection: PostgresConnection
        ) async throws -> [(job: Int64, created: Bool, state: String, batch: Int64?)] {
            let payloads = rows.map { _ in onboardingPayload() }
            return try await connection.query(
                """
                SELECT job_id, created, state, batch_id FROM onboarder.enqueue_many(
                    \(rows.map(\.msp)), \(rows.map(\.key)), \(rows.map { _ in "onboard" }), \(payloads)::jsonb[],
                    p_actor => \(actor), p_hold => \(hold))
                """
            ).map { try $0.decode((Int64, Bool, String, Int64?).self) }
        }

        func claim() async throws -> [Int64] {
            try await worker.query("SELECT id FROM onboarder.claim('w1', 100, ARRAY['onboard'])").map {
                try $0[0].decode(Int64.self)
            }
        }

        func strings(_ sql: PostgresQuery, on connection: PostgresConnection? = nil) async throws -> [String] {
            try await (connection ?? owner).query(sql).map { try $0[0].decode(String.self) }
        }

        func login(of connection: PostgresConnection) async throws -> String {
            try await connection.query("SELECT session_user::text").single()[0].decode(String.self)
        }

        /// The SQLSTATE a statement fails with (nil: it succeeded).
        func failure(_ sql: PostgresQuery, as connection: PostgresConnection) async throws -> String? {
            do {
                try await connection.query(sql)
                return nil
            } catch {
                return error.sqlState
            }
        }

        func close() async throws {
            for connection in [
                owner, enqueuer, enqueuerBoth, approver, approverBeta, approverBoth, operatorAlpha, worker,
            ] {
                await connection.close()
            }
            try await TestDatabase.dropScratchDatabase(name)
        }
    }

    static func keys(_ count: Int, _ prefix: String = "c") -> [String] { (1...count).map { "\(prefix)\($0).example" } }

    @Test func aboveTheThresholdTheJobsAreHeldAndNoClaimReachesThem() async throws {
        let lab = try await Lab("approvalheld")
        try await lab.threshold(2)
        // The enqueuer calls enqueue_many directly (no CLI): the database holds the call all the same.
        let results = try await lab.enqueue(Self.keys(3), as: lab.enqueuer)
        let batch = try #require(results.first?.batch)
        #expect(results.map(\.batch) == [batch, batch, batch])
        #expect(results.allSatisfy { $0.created && $0.state == "waiting" })
        let enqueuerLogin = try await lab.login(of: lab.enqueuer)
        #expect(
            try await lab.strings(
                """
                SELECT concat_ws(' ', state, reason, jobs, array_to_string(msp_ids, ','), (created_by = \(enqueuerLogin))::text,
                                 created_actor, jsonb_array_length(plan -> 'customers'), (decided_at IS NULL)::text)
                  FROM onboarder.batches
                """) == ["held threshold 3 alpha true alice 3 true"])
        #expect(
            try await lab.strings(
                """
                SELECT DISTINCT concat_ws(' ', state, wait_reason, (run_at = 'infinity')::text, (batch_id = \(batch))::text)
                  FROM onboarder.jobs
                """) == ["waiting approval true true"])
        #expect(
            try await lab.strings(
                """
                SELECT concat_ws(' ', kind, count(*), min(detail ->> 'reason')) FROM onboarder.events
                 WHERE job_id = ANY(\(results.map(\.job))) GROUP BY kind ORDER BY kind
                """) == ["enqueued 3", "held 3 threshold"])
        #expect(try await lab.claim() == [])
        // Approvers and operators see it in the dashboard, awaiting approval.
        for viewer in [lab.approver, lab.operatorAlpha] {
            #expect(
                try await lab.strings(
                    "SELECT concat_ws(' ', batch, state, awaiting_approval, queued) FROM dashboard.batches", on: viewer)
                    == ["\(batch) held 3 0"])
        }
        #expect(try await lab.strings("SELECT batch::text FROM dashboard.batches", on: lab.approverBeta) == [])
        try await lab.close()
    }

    @Test func atOrBelowTheThresholdNothingChanges() async throws {
        let lab = try await Lab("approvalbelow")
        try await lab.threshold(2)
        let results = try await lab.enqueue(Self.keys(2), as: lab.enqueuer)
        #expect(results.allSatisfy { $0.created && $0.state == "queued" && $0.batch == nil })
        // Three rows, of which two customers are active already: one job created, under the threshold.
        let again = try await lab.enqueue(Self.keys(3), as: lab.enqueuer)
        #expect(again.map(\.created) == [false, false, true])
        #expect(again.allSatisfy { $0.batch == nil })
        #expect(try await lab.strings("SELECT id::text FROM onboarder.batches") == [])
        #expect(Set(try await lab.claim()) == Set(results.map(\.job) + [again[2].job]))
        // No threshold: any number runs.
        try await lab.threshold(nil)
        let many = try await lab.enqueue(Self.keys(5, "n"), as: lab.enqueuer)
        #expect(many.allSatisfy { $0.state == "queued" && $0.batch == nil })
        try await lab.close()
    }

    @Test func theEnqueuersOwnLoginCannotApproveEvenAsAnApprover() async throws {
        let lab = try await Lab("approvalown")
        try await lab.threshold(2)
        // A plain enqueuer may not call approve_batch at all.
        let batch = try #require(try await lab.enqueue(Self.keys(3), as: lab.enqueuer).first?.batch)
        #expect(try await lab.failure("SELECT onboarder.approve_batch(\(batch))", as: lab.enqueuer) == "42501")
        // A login in both roles is still the login that enqueued: refused, nothing released.
        try await TestDatabase.grant(.approver, to: try await lab.login(of: lab.enqueuerBoth))
        let own = try #require(try await lab.enqueue(Self.keys(3, "own"), as: lab.enqueuerBoth).first?.batch)
        #expect(try await lab.failure("SELECT onboarder.approve_batch(\(own), 'bob')", as: lab.enqueuerBoth) == "42501")
        #expect(
            try await lab.strings("SELECT state FROM onboarder.batches WHERE id = \(own)") == ["held"])
        #expect(
            try await lab.strings(
                "SELECT DISTINCT concat_ws(' ', state, wait_reason) FROM onboarder.jobs WHERE batch_id = \(own)")
                == ["waiting approval"])
        #expect(try await lab.claim() == [])
        // Yet it may approve the other enqueuer's batch.
        #expect(
            try await lab.enqueuerBoth.query("SELECT onboarder.approve_batch(\(batch))").single()[0].decode(Int.self)
                == 3)
        try await lab.close()
    }

    @Test func anApproverMustActForEveryMSPOfTheBatch() async throws {
        let lab = try await Lab("approvalmsp")
        try await lab.threshold(2)
        let alphaOnly = try #require(try await lab.enqueue(Self.keys(3), as: lab.enqueuer).first?.batch)
        // Another MSP's approver: as if the batch did not exist.
        #expect(try await lab.failure("SELECT onboarder.approve_batch(\(alphaOnly))", as: lab.approverBeta) == "P0002")
        // A batch of alpha's and beta's customers: alpha's approver acts for one of them only.
        let rows = Self.keys(2, "a").map { (msp: "alpha", key: $0) } + Self.keys(2, "b").map { (msp: "beta", key: $0) }
        let mixed = try #require(try await lab.enqueue(rows, as: lab.enqueuerBoth).first?.batch)
        #expect(
            try await lab.strings("SELECT array_to_string(msp_ids, ',') FROM onboarder.batches WHERE id = \(mixed)")
                == ["alpha,beta"])
        #expect(try await lab.failure("SELECT onboarder.approve_batch(\(mixed))", as: lab.approver) == "42501")
        #expect(try await lab.strings("SELECT state FROM onboarder.batches WHERE id = \(mixed)") == ["held"])
        #expect(try await lab.claim() == [])
        #expect(
            try await lab.approverBoth.query("SELECT onboarder.approve_batch(\(mixed))").single()[0].decode(Int.self)
                == 4)
        try await lab.close()
    }

    @Test func anotherApproverReleasesTheJobsAndTheEventsRecordWhoAndWhen() async throws {
        let lab = try await Lab("approvalok")
        try await lab.threshold(2)
        let results = try await lab.enqueue(Self.keys(3), as: lab.enqueuer)
        let batch = try #require(results.first?.batch)
        let released = try await lab.approver.query("SELECT onboarder.approve_batch(\(batch), 'carol')").single()[0]
            .decode(Int.self)
        #expect(released == 3)
        let approverLogin = try await lab.login(of: lab.approver)
        #expect(
            try await lab.strings(
                """
                SELECT concat_ws(' ', state, (decided_by = \(approverLogin))::text, decided_actor,
                                 (decided_at BETWEEN now() - interval '1 minute' AND now() + interval '1 minute')::text)
                  FROM onboarder.batches
                """) == ["approved true carol true"])
        #expect(
            try await lab.strings(
                """
                SELECT concat_ws(' ', e.kind, (e.db_user = \(approverLogin))::text, e.actor, e.detail ->> 'batch',
                                 (e.at BETWEEN now() - interval '1 minute' AND now() + interval '1 minute')::text)
                  FROM onboarder.events e WHERE e.kind = 'approved' ORDER BY e.job_id
                """) == Array(repeating: "approved true carol \(batch) true", count: 3))
        #expect(Set(try await lab.claim()) == Set(results.map(\.job)))
        // Decided once.
        #expect(try await lab.failure("SELECT onboarder.approve_batch(\(batch))", as: lab.approverBoth) == "55000")
        try await lab.close()
    }

    @Test func cancellingABatchCancelsItsWaitingJobsForGood() async throws {
        let lab = try await Lab("approvalcancel")
        try await lab.threshold(2)
        let results = try await lab.enqueue(Self.keys(3), as: lab.enqueuer)
        let batch = try #require(results.first?.batch)
        #expect(try await lab.failure("SELECT onboarder.cancel_batch(\(batch))", as: lab.enqueuer) == "42501")
        #expect(
            try await lab.operatorAlpha.query("SELECT onboarder.cancel_batch(\(batch), 'dave')").single()[0].decode(
                Int.self) == 3)
        let operatorLogin = try await lab.login(of: lab.operatorAlpha)
        #expect(
            try await lab.strings(
                "SELECT concat_ws(' ', state, (decided_by = \(operatorLogin))::text, decided_actor) FROM onboarder.batches"
            )
                == ["cancelled true dave"])
        #expect(
            try await lab.strings(
                """
                SELECT concat_ws(' ', j.state, (e.db_user = \(operatorLogin))::text, e.actor, e.detail ->> 'batch')
                  FROM onboarder.jobs j JOIN onboarder.events e ON e.job_id = j.id AND e.kind = 'cancelled'
                """) == Array(repeating: "cancelled true dave \(batch)", count: 3))
        #expect(try await lab.failure("SELECT onboarder.approve_batch(\(batch))", as: lab.approver) == "55000")
        // A job of a cancelled batch cannot be retried into the queue either.
        #expect(
            try await lab.strings(
                "SELECT coalesce(onboarder.retry_job(\(results[0].job)), 'refused')", on: lab.operatorAlpha)
                == ["refused"])
        #expect(try await lab.claim() == [])
        try await lab.close()
    }

    @Test func retryResumeAndWakeCannotReleaseAHeldJobButCancellingOneIsFine() async throws {
        let lab = try await Lab("approvalretry")
        try await lab.threshold(2)
        let results = try await lab.enqueue(Self.keys(3), as: lab.enqueuer)
        let batch = try #require(results.first?.batch)
        for action in ["retry_job", "resume_job"] {
            #expect(
                try await lab.strings(
                    "SELECT coalesce(onboarder.\(unsafeSQL: action)(\(results[0].job)), 'refused')",
                    on: lab.operatorAlpha) == ["refused"], "\(action)")
        }
        let tenant = try await lab.owner.query("SELECT tenant_id FROM onboarder.jobs WHERE id = \(results[0].job)")
            .single()[0].decode(Int64.self)
        #expect(
            try await lab.operatorAlpha.query("SELECT onboarder.wake_tenant(\(tenant), 'DNS done')").single()[0]
                .decode(Int.self) == 0)
        #expect(try await lab.claim() == [])
        // One job of the batch cancelled: fine, and it stays out of the queue (retry refused) while held.
        #expect(
            try await lab.strings("SELECT onboarder.cancel_job(\(results[1].job))", on: lab.operatorAlpha)
                == ["cancelled"])
        #expect(
            try await lab.strings(
                "SELECT coalesce(onboarder.retry_job(\(results[1].job)), 'refused')", on: lab.operatorAlpha)
                == ["refused"])
        #expect(
            try await lab.strings(
                "SELECT DISTINCT concat_ws(' ', state, wait_reason) FROM onboarder.jobs WHERE id <> \(results[1].job)")
                == ["waiting approval"])
        // Approved: the two still waiting run; the cancelled one stays cancelled, and may be retried now.
        #expect(
            try await lab.approver.query("SELECT onboarder.approve_batch(\(batch))").single()[0].decode(Int.self) == 2)
        #expect(Set(try await lab.claim()) == [results[0].job, results[2].job])
        #expect(
            try await lab.strings("SELECT onboarder.retry_job(\(results[1].job))", on: lab.operatorAlpha) == ["queued"])
        try await lab.close()
    }

    @Test func aHoldReasonHoldsAnyCountAndLaterCallsOfTheTransactionJoinTheBatch() async throws {
        let lab = try await Lab("approvalhold")
        // No threshold: only p_hold holds (enqueue --from-gdap).
        let gdap = try await lab.enqueue(["g1.example"], hold: "gdap", as: lab.enqueuer)
        let held = try #require(gdap.first?.batch)
        #expect(gdap.first?.state == "waiting")
        #expect(try await lab.strings("SELECT reason FROM onboarder.batches WHERE id = \(held)") == ["gdap"])
        #expect(
            try await lab.failure(
                "SELECT * FROM onboarder.enqueue_many(ARRAY['alpha'], ARRAY['x.example'], ARRAY['onboard'], ARRAY[\(onboardingPayload())]::jsonb[], p_hold => 'none')",
                as: lab.enqueuer) == "22023")
        // One enqueue in two statements (as the CLI sends a large file): the second joins the first's batch.
        try await lab.threshold(2)
        try await lab.enqueuer.query("BEGIN")
        let first = try await lab.enqueue(Self.keys(3, "t"), as: lab.enqueuer)
        let second = try await lab.enqueue(["t4.example"], as: lab.enqueuer)
        try await lab.enqueuer.query("COMMIT")
        let batch = try #require(first.first?.batch)
        #expect(second.map(\.batch) == [batch])
        #expect(
            try await lab.strings(
                "SELECT concat_ws(' ', jobs, jsonb_array_length(plan -> 'customers')) FROM onboarder.batches WHERE id = \(batch)"
            ) == ["4 4"])
        // A later transaction does not: one row, under the threshold, runs.
        #expect(try await lab.enqueue(["t5.example"], as: lab.enqueuer).map(\.batch) == [nil])
        try await lab.close()
    }
}
