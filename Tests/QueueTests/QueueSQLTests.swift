import Foundation
import Logging
import Migrations
import Postgres
import Queue
import TestSupport
import Testing

/// A migrated scratch database for one test: the owner sets up and inspects (`pool`); the queue's
/// operations run as a worker login (`queue`), as the workers run them, so a missing grant fails here.
struct QueueDatabase {
    let name: String
    let configuration: PostgresConfiguration
    let pool: PostgresPool
    let workerPool: PostgresPool
    var queue: JobQueue { JobQueue(pool: workerPool) }

    static func make(_ label: String) async throws -> QueueDatabase {
        let (configuration, name) = try await TestDatabase.makeMigratedScratchDatabase(label)
        let worker = try await TestDatabase.login(.worker, database: name, owner: configuration)
        return QueueDatabase(
            name: name, configuration: configuration,
            pool: PostgresPool(configuration: configuration, maxConnections: 24),
            workerPool: PostgresPool(configuration: worker, maxConnections: 24))
    }

    func registerWorker(_ id: String) async throws {
        try await queue.register(worker: id, host: "test", pid: 1, concurrency: 10, version: "test")
    }

    func count(_ query: PostgresQuery) async throws -> Int {
        try await pool.query(query).single().decode(Int.self, at: 0)
    }

    func drop() async throws {
        await pool.close()
        await workerPool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}

extension PostgresRow {
    func decode<T: PostgresDecodable>(_ type: T.Type, at column: Int) throws -> T { try self[column].decode(T.self) }
}

@Suite("Queue SQL")
struct QueueSQLTests {
    @Test func duplicateEnqueueReportsTheExistingJobAndIdempotencyKeysHold() async throws {
        let db = try await QueueDatabase.make("dup")
        let first = try await db.queue.enqueue(
            EnqueueRequest(msp: "acme", tenantKey: "contoso.onmicrosoft.com", kind: "sync"))
        let again = try await db.queue.enqueue(
            EnqueueRequest(msp: "acme", tenantKey: "contoso.onmicrosoft.com", kind: "sync"))
        #expect(first.created)
        #expect(!again.created)
        #expect(again.jobID == first.jobID)
        // Another kind for the same tenant is a different job.
        let rotation = try await db.queue.enqueue(
            EnqueueRequest(msp: "acme", tenantKey: "contoso.onmicrosoft.com", kind: "rotate"))
        #expect(rotation.created && rotation.jobID != first.jobID)
        // Within one batch, the second mention of a tenant reports the first's job.
        let batch = try await db.queue.enqueue([
            EnqueueRequest(msp: "acme", tenantKey: "fabrikam", kind: "sync"),
            EnqueueRequest(msp: "acme", tenantKey: "fabrikam", kind: "sync"),
        ])
        #expect(batch[0].created && !batch[1].created && batch[0].jobID == batch[1].jobID)
        // An idempotency key returns its job even for a different request.
        let keyed = try await db.queue.enqueue(
            EnqueueRequest(msp: "acme", tenantKey: "t1", kind: "sync", idempotencyKey: "import-7"))
        let replay = try await db.queue.enqueue(
            EnqueueRequest(msp: "acme", tenantKey: "t2", kind: "sync", idempotencyKey: "import-7"))
        #expect(keyed.created && !replay.created && replay.jobID == keyed.jobID)
        // A key names its job before the customer's own active job of the kind does.
        let active = try await db.queue.enqueue(EnqueueRequest(msp: "acme", tenantKey: "t3", kind: "sync"))
        let replayedThere = try await db.queue.enqueue(
            EnqueueRequest(msp: "acme", tenantKey: "t3", kind: "sync", idempotencyKey: "import-7"))
        #expect(active.created && !replayedThere.created && replayedThere.jobID == keyed.jobID)
        #expect(replayedThere.existingKey == "t1")
        #expect(try await db.count("SELECT count(*)::int FROM onboarder.jobs") == 5)
        try await db.drop()
    }

    @Test func enqueueFromPlainSQLWithOneNotifyPerTransaction() async throws {
        let db = try await QueueDatabase.make("sql")
        let listener = PostgresListener(configuration: db.configuration, channels: [JobQueue.channel])
        var events = listener.events.makeAsyncIterator()
        #expect(await events.next() == .connected)
        try await db.pool.transaction { connection in
            let row = try await connection.query(
                "SELECT job_id, created, state FROM onboarder.enqueue('acme', 'contoso.onmicrosoft.com', 'sync', '{\"path\":\"teams\"}')"
            ).single()
            #expect(try row.decode(Bool.self, column: "created"))
            #expect(try row.decode(String.self, column: "state") == "queued")
            try await connection.query(
                """
                SELECT count(*) FROM onboarder.enqueue_many(
                  array_fill('beta'::text, ARRAY[100]), ARRAY(SELECT 'tenant-' || g FROM generate_series(1, 100) g),
                  array_fill('sync'::text, ARRAY[100]))
                """)
        }
        // A marker sent after the transaction: exactly one notification must arrive before it.
        try await db.pool.query("SELECT pg_notify(\(JobQueue.channel), 'marker')")
        var seen = 0
        while let event = await events.next() {
            if case .notification(_, let payload, _) = event {
                if payload == "marker" { break }
                seen += 1
            }
        }
        #expect(seen == 1)
        #expect(try await db.count("SELECT count(*)::int FROM onboarder.jobs") == 101)
        let payload = try await db.pool.query("SELECT payload->>'path' FROM onboarder.jobs WHERE msp_id = 'acme'")
            .single()
        #expect(try payload.decode(String.self, at: 0) == "teams")
        await listener.stop()
        try await db.drop()
    }

    @Test func concurrentClaimersNeverExceedTheLimits() async throws {
        let db = try await QueueDatabase.make("limits")
        try await db.pool.query("UPDATE onboarder.queue_limits SET max_running = 12")
        var requests: [EnqueueRequest] = []
        for msp in ["a", "b", "c"] {
            for tenant in 0..<20 {
                for kind in ["one", "two", "three"] {
                    requests.append(EnqueueRequest(msp: msp, tenantKey: "\(msp)-\(tenant)", kind: kind))
                }
            }
        }
        _ = try await db.queue.enqueue(requests)
        try await db.pool.query("UPDATE onboarder.msps SET max_running = 5")
        // 16 claimers at once, each asking for more than any limit allows.
        let claimed = try await withThrowingTaskGroup(of: [ClaimedJob].self) { group in
            for index in 0..<16 {
                group.addTask {
                    try await db.registerWorker("w\(index)")
                    return try await db.queue.claim(worker: "w\(index)", limit: 10, kinds: ["one", "two", "three"])
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(claimed.count == 12)  // global limit reached: 3 MSPs × 5 would allow 15
        let perMSP = Dictionary(grouping: claimed, by: \.mspID).mapValues(\.count)
        #expect(perMSP.values.allSatisfy { $0 <= 5 })
        let perTenant = Dictionary(grouping: claimed, by: \.tenantID).mapValues(\.count)
        #expect(perTenant.values.allSatisfy { $0 == 1 })
        #expect(try await db.count("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'running'") == 12)
        // Finishing frees places: the next claim fills them, and no more.
        let firstOfA = try #require(claimed.first { $0.mspID == "a" })
        let owner = try await db.pool.query("SELECT worker_id FROM onboarder.jobs WHERE id = \(firstOfA.id)").single()
            .decode(String.self, column: "worker_id")
        #expect(try await db.queue.finish(worker: owner, [.init(id: firstOfA.id, state: "succeeded")]) == [firstOfA.id])
        let refill = try await db.queue.claim(worker: "w0", limit: 10, kinds: ["one", "two", "three"])
        #expect(refill.count == 1)
        try await db.drop()
    }

    @Test func finishChecksOwnershipAndReleasesSlots() async throws {
        let db = try await QueueDatabase.make("finish")
        try await db.registerWorker("w1")
        try await db.registerWorker("w2")
        _ = try await db.queue.enqueue(EnqueueRequest(msp: "acme", tenantKey: "t", kind: "k"))
        let job = try #require(try await db.queue.claim(worker: "w1", limit: 5, kinds: ["k"]).first)
        #expect(try await db.queue.finish(worker: "w2", [.init(id: job.id, state: "succeeded")]).isEmpty)
        #expect(
            try await db.queue.finish(
                worker: "w1",
                [.init(id: job.id, state: "waiting", delay: .seconds(60), waitReason: .throttled, error: "429")]) == [
                    job.id
                ])
        let row = try await db.pool.query(
            "SELECT state, wait_reason, run_at > now() + interval '50 seconds' AS later FROM onboarder.jobs"
        ).single()
        #expect(try row.decode((String, String, Bool).self) == ("waiting", "throttled", true))
        // Not ready yet: nothing to claim.
        #expect(try await db.queue.claim(worker: "w1", limit: 5, kinds: ["k"]).isEmpty)
        try await db.drop()
    }

    /// A completion's events (what the handler saw before it waited) are recorded by the finish, in the same
    /// statement and transaction as the job's new state, before the finish's own event and in their order —
    /// and not at all for a job the worker no longer holds.
    @Test func aCompletionsEventsAreRecordedByItsFinish() async throws {
        let db = try await QueueDatabase.make("finishevents")
        try await db.registerWorker("w1")
        try await db.registerWorker("w2")
        _ = try await db.queue.enqueue((0..<2).map { EnqueueRequest(msp: "acme", tenantKey: "t\($0)", kind: "k") })
        let jobs = try await db.queue.claim(worker: "w1", limit: 5, kinds: ["k"]).map(\.id).sorted()
        let looks = [
            JobEvent(kind: "handover_check", step: "verify", detail: ["check": "1", "note": "a \"quoted\" word"]),
            JobEvent(kind: "handover_started", step: "verify"),
        ]
        let wait = JobCompletion(
            id: jobs[0], state: .waiting, delay: .seconds(60), waitReason: .input, error: "verify: waits", events: looks
        )
        // Not w2's job: refused, and none of its events recorded.
        #expect(try await db.queue.finish(worker: "w2", [wait]).isEmpty)
        #expect(try await db.count("SELECT count(*)::int FROM onboarder.events WHERE kind LIKE 'handover%'") == 0)
        #expect(
            try await db.queue.finish(worker: "w1", [wait, .init(id: jobs[1], state: "succeeded")]) == Set(jobs))
        let events = try await db.pool.query(
            """
            SELECT kind || ' ' || coalesce(step, '-') || ' ' || coalesce(detail::text, '-') || ' ' || worker_id,
                   xmin::text = (SELECT xmin::text FROM onboarder.jobs WHERE id = \(jobs[0]))
              FROM onboarder.events WHERE job_id = \(jobs[0]) AND kind <> 'enqueued' ORDER BY id
            """
        ).map { try $0.decode((String, Bool).self) }
        #expect(
            events.map(\.0) == [
                #"handover_check verify {"note": "a \"quoted\" word", "check": "1"} w1"#,
                "handover_started verify - w1",
                #"rescheduled - {"wait_reason": "input"} w1"#,
            ], "\(events)")
        #expect(events.allSatisfy { $0.1 }, "the events and the job's wait were written by one transaction")
        #expect(try await db.count("SELECT count(*)::int FROM onboarder.events WHERE job_id = \(jobs[1])") == 2)
        try await db.drop()
    }

    @Test func reapRequeuesTheJobsOfDeadWorkers() async throws {
        let db = try await QueueDatabase.make("reap")
        try await db.registerWorker("alive")
        try await db.registerWorker("silent")
        _ = try await db.queue.enqueue((0..<4).map { EnqueueRequest(msp: "acme", tenantKey: "t\($0)", kind: "k") })
        let silentJobs = try await db.queue.claim(worker: "silent", limit: 2, kinds: ["k"])
        let aliveJobs = try await db.queue.claim(worker: "alive", limit: 2, kinds: ["k"])
        try await db.pool.query(
            "UPDATE onboarder.workers SET heartbeat_at = now() - interval '1 minute' WHERE id = 'silent'")
        // Its own reaper spares it (its late beat is for the others to judge); the live worker's does not.
        #expect(try await db.queue.reap(lease: .seconds(30), reaper: "silent") == 0)
        #expect(try await db.count("SELECT count(*)::int FROM onboarder.workers WHERE state = 'running'") == 2)
        #expect(try await db.queue.reap(lease: .seconds(30), reaper: "alive") == 2)
        let states = try await db.pool.query("SELECT id, state, rescues FROM onboarder.jobs ORDER BY id")
        for row in states {
            let (id, state, rescues) = try row.decode((Int64, String, Int).self)
            if silentJobs.contains(where: { $0.id == id }) {
                #expect(state == "queued" && rescues == 1)
            } else if aliveJobs.contains(where: { $0.id == id }) {
                #expect(state == "running" && rescues == 0)
            }
        }
        #expect(try await db.count("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'running'") == 2)
        // The dead worker learns it is dead, cannot claim, and its late results are refused.
        #expect(try await db.queue.heartbeat(worker: "silent") == false)
        #expect(try await db.queue.claim(worker: "silent", limit: 5, kinds: ["k"]).isEmpty)
        #expect(
            try await db.queue.finish(worker: "silent", silentJobs.map { .init(id: $0.id, state: "succeeded") }).isEmpty
        )
        try await db.drop()
    }

    /// enqueue_many's insert, planned for a 5,000-row call, passes the server's JIT cost thresholds, and
    /// compiling it took 1.9 s of every such call (`scripts/bench enqueue`: 2,008 rows/s with it, BENCHMARKS.md).
    /// The function turns JIT off for itself, whatever the server's setting.
    @Test func enqueueManyRunsWithoutJIT() async throws {
        let db = try await QueueDatabase.make("nojit")
        let config = try await db.pool.query(
            """
            SELECT array_to_string(proconfig, ',') AS config FROM pg_catalog.pg_proc
             WHERE oid = 'onboarder.enqueue_many(text[], text[], text[], jsonb[], integer[], timestamptz[], text[], text[],
                          text, uuid[], text, jsonb)'::regprocedure
            """
        ).single().decode(String.self, column: "config")
        #expect(config.split(separator: ",").contains("jit=off"), "\(config)")
        try await db.drop()
    }

    @Test func stateConstraintsRejectInconsistentRows() async throws {
        let db = try await QueueDatabase.make("checks")
        _ = try await db.queue.enqueue(EnqueueRequest(msp: "acme", tenantKey: "t", kind: "k"))
        for (sql, constraint) in [
            ("UPDATE onboarder.jobs SET state = 'waiting'", "jobs_waiting_has_reason"),
            ("UPDATE onboarder.jobs SET state = 'running'", "jobs_running_has_worker"),
            ("UPDATE onboarder.jobs SET state = 'succeeded'", "jobs_finished_at"),
            ("UPDATE onboarder.jobs SET state = 'needs_attention'", "jobs_attention_explained"),
            ("UPDATE onboarder.jobs SET state = 'failed', finished_at = now()", "jobs_attention_timed"),
        ] {
            let error = await #expect(throws: PostgresError.self) {
                try await db.pool.query(PostgresQuery(unsafeSQL: sql))
            }
            #expect(error?.constraintName == constraint)
        }
        let appendOnly = await #expect(throws: PostgresError.self) {
            try await db.pool.query("UPDATE onboarder.events SET kind = 'x'")
        }
        #expect(appendOnly?.message.contains("append-only") == true)
        try await db.drop()
    }
}

@Suite("Queue fairness")
struct QueueFairnessTests {
    /// The hot paths must stay flat as tables grow: claim, finish and enqueue read tenants and jobs by key.
    /// Each of these once scanned a whole table per call (`scripts/bench queue` profiles): claim hashed every
    /// tenant, finish walked the running-jobs index for its worker, enqueue hashed every tenant, and a claim
    /// planned mid-drain sorted every queued job. Table statistics count the rows each access method read.
    @Test func claimFinishAndEnqueueReadByKeyNotByScanningTables() async throws {
        let db = try await QueueDatabase.make("flat")
        try await db.registerWorker("w")
        let tenants = 5_000
        _ = try await db.queue.enqueue(
            (0..<tenants).map { EnqueueRequest(msp: "acme", tenantKey: "t\($0)", kind: "k", subject: "a") })
        try await db.pool.query("ANALYZE onboarder.jobs")
        try await db.pool.query("ANALYZE onboarder.tenants")
        // One connection, so the statistics it flushes are the work it did.
        let one = PostgresPool(configuration: db.configuration, maxConnections: 1)
        let queue = JobQueue(pool: one)
        struct Reads: Equatable {
            var tenantsScanned = 0, jobsScanned = 0, runningIndexRead = 0
        }
        func reads() async throws -> Reads {
            try await one.query("SELECT pg_stat_force_next_flush()")
            try await one.query("SELECT pg_stat_clear_snapshot()")
            let row = try await one.query(
                """
                SELECT (SELECT seq_tup_read FROM pg_stat_user_tables WHERE relid = 'onboarder.tenants'::regclass),
                       (SELECT seq_tup_read FROM pg_stat_user_tables WHERE relid = 'onboarder.jobs'::regclass),
                       (SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelid = 'onboarder.jobs_running'::regclass)
                """
            ).single()
            return Reads(
                tenantsScanned: try row.decode(Int.self, at: 0), jobsScanned: try row.decode(Int.self, at: 1),
                runningIndexRead: try row.decode(Int.self, at: 2))
        }

        var before = try await reads()
        // Claims, as a drain makes them: each one after the previous claim's jobs left the queue.
        var claimed: [ClaimedJob] = []
        for _ in 0..<5 { claimed += try await queue.claim(worker: "w", limit: 200, kinds: ["k"]) }
        #expect(claimed.count == 1_000)
        var after = try await reads()
        #expect(after.tenantsScanned == before.tenantsScanned, "claim scanned the tenants table")
        #expect(after.jobsScanned == before.jobsScanned, "claim scanned the jobs table")

        before = after
        let finished = try await queue.finish(
            worker: "w", claimed.map { JobQueue.Completion(id: $0.id, state: "succeeded") })
        #expect(finished.count == 1_000)
        after = try await reads()
        #expect(after.jobsScanned == before.jobsScanned, "finish scanned the jobs table")
        #expect(after.runningIndexRead == before.runningIndexRead, "finish searched the running jobs by worker")

        before = after
        // New jobs for existing tenants (and a few new ones), some duplicates of active jobs.
        let results = try await queue.enqueue(
            (0..<1_000).map { EnqueueRequest(msp: "acme", tenantKey: "t\($0 * 5 + 1)", kind: "k", subject: "b") }
                + (0..<10).map { EnqueueRequest(msp: "acme", tenantKey: "t\(2_000 + $0)", kind: "k", subject: "a") }
                + [EnqueueRequest(msp: "acme", tenantKey: "new", kind: "k")])
        #expect(results.prefix(1_000).allSatisfy { $0.created })
        #expect(results.dropFirst(1_000).prefix(10).allSatisfy { !$0.created && $0.state == "queued" })
        #expect(results.last?.created == true)
        after = try await reads()
        #expect(after.tenantsScanned == before.tenantsScanned, "enqueue scanned the tenants table")
        #expect(after.jobsScanned == before.jobsScanned, "enqueue scanned the jobs table")
        await one.close()
        try await db.drop()
    }

    /// The customers an enqueue inserts answer for their rows from the insert itself: no row's customer is
    /// looked up by key a second time (only a conflict with another call's insert makes that necessary).
    @Test func aBulkEnqueueOfNewCustomersLooksEachOneUpOnce() async throws {
        let db = try await QueueDatabase.make("newcustomers")
        try await db.pool.query("INSERT INTO onboarder.msps (id, display_name) VALUES ('acme', 'Acme')")
        // One connection, so the statistics it flushes are the work it did.
        let one = PostgresPool(configuration: db.configuration, maxConnections: 1)
        func lookupsByKey() async throws -> Int {
            try await one.query("SELECT pg_stat_force_next_flush()")
            try await one.query("SELECT pg_stat_clear_snapshot()")
            return try await one.query(
                """
                SELECT idx_scan::int FROM pg_stat_user_indexes
                 WHERE indexrelid = 'onboarder.tenants_msp_id_tenant_key_key'::regclass
                """
            ).single().decode(Int.self, at: 0)
        }
        let rows = 600, customers = 200
        let before = try await lookupsByKey()
        let requests = (0..<rows).map {
            EnqueueRequest(msp: "acme", tenantKey: "c\($0 % customers)", kind: "k", subject: "\($0)")
        }
        let results = try await JobQueue.enqueue(requests, on: one)
        let lookups = try await lookupsByKey() - before
        #expect(results.allSatisfy { $0?.created == true })
        #expect(try await db.count("SELECT count(DISTINCT tenant_id)::int FROM onboarder.jobs") == customers)
        #expect(
            try await db.count(
                """
                SELECT count(*)::int FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
                 WHERE t.tenant_key <> 'c' || (j.subject::int % \(customers))
                """) == 0, "a job went to another row's customer")
        // Each row's lookup before the insert, and the insert's check of each new customer's key; a second
        // lookup of every row would add as many again.
        #expect(lookups <= rows + customers, "\(lookups) lookups by key for \(rows) rows of \(customers) new customers")
        await one.close()
        try await db.drop()
    }

    @Test func aFullMSPsBacklogDoesNotHideOtherMSPs() async throws {
        let db = try await QueueDatabase.make("fair")
        try await db.registerWorker("w")
        // 500 jobs of one MSP ahead of 3 of another; the first MSP may run only 2 at once.
        _ = try await db.queue.enqueue((0..<500).map { EnqueueRequest(msp: "big", tenantKey: "b\($0)", kind: "k") })
        _ = try await db.queue.enqueue((0..<3).map { EnqueueRequest(msp: "small", tenantKey: "s\($0)", kind: "k") })
        try await db.pool.query("UPDATE onboarder.msps SET max_running = 2 WHERE id = 'big'")
        let first = try await db.queue.claim(worker: "w", limit: 10, kinds: ["k"])
        let second = try await db.queue.claim(worker: "w", limit: 10, kinds: ["k"])
        let claimed = first + second
        #expect(claimed.filter { $0.mspID == "big" }.count == 2)
        #expect(claimed.filter { $0.mspID == "small" }.count == 3)
        try await db.drop()
    }
}
