import Foundation
import Logging
import Postgres
import Queue
import Store
import TestSupport
import Testing
import Worker

#if canImport(Glibc)
    import Glibc
#endif

/// A migrated scratch database, and `onboarder worker` processes against it.
struct WorkerLab {
    let name: String
    let url: String
    let pool: PostgresPool
    var queue: JobQueue { JobQueue(pool: pool) }

    /// The owner sets up and inspects (`pool`); the workers log in as the worker role (`url`).
    static func make(_ label: String) async throws -> WorkerLab {
        let (configuration, name) = try await TestDatabase.makeMigratedScratchDatabase(label)
        let pool = PostgresPool(configuration: configuration, maxConnections: 8)
        try await SleepHandler.prepareRecording(pool)
        let worker = try await TestDatabase.login(.worker, database: name, owner: configuration)
        return WorkerLab(name: name, url: worker.connectionString!, pool: pool)
    }

    /// Starts `onboarder worker`; settings are ONBOARDER_* overrides (short intervals for tests).
    func startWorker(_ id: String, concurrency: Int, settings: [String: String] = [:]) throws -> ChildProcess {
        var environment = [
            "ONBOARDER_DATABASE_URL": url,
            "ONBOARDER_WORKER_POLL_INTERVAL_MS": "200",
            "ONBOARDER_WORKER_HEARTBEAT_INTERVAL_MS": "200",
            "ONBOARDER_WORKER_LEASE_SECONDS": "2",
            "ONBOARDER_WORKER_REAP_INTERVAL_SECONDS": "1",
            "ONBOARDER_WORKER_SHUTDOWN_DEADLINE_SECONDS": "10",
            "ONBOARDER_LOG_FORMAT": "json",
        ]
        environment.merge(settings) { $1 }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("worker-\(name)-\(id).log").path
        return try ChildProcess(
            [
                builtProductsDirectory.appendingPathComponent("onboarder").path, "worker", "--id", id,
                "--concurrency", String(concurrency),
            ],
            environment: environment, logPath: log)
    }

    func int(_ query: PostgresQuery) async throws -> Int {
        try await pool.query(query).single()[0].decode(Int.self)
    }

    /// Polls until `condition` holds, failing after `seconds` (a bound, not a measurement).
    func waitUntil(_ seconds: Double, _ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("timed out after \(seconds) s waiting for: \(what)")
        throw CancellationError()
    }

    /// Starts another worker, waits until `count` jobs succeeded on their first counted attempt (jobs released
    /// at a shutdown had their claim uncounted), and stops it.
    func runReleasedJobsElsewhere(_ count: Int) async throws {
        let next = try startWorker("next", concurrency: 10)
        try await waitUntil(30, "the released jobs ran elsewhere, each on its first counted attempt") {
            try await int("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'succeeded' AND attempts = 1")
                == count
        }
        next.signal(SIGTERM)
        #expect(await next.wait() == 0)
    }

    func drop() async throws {
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}

func sleepJobs(_ count: Int, msps: [String], tenants: Int, payload: String) -> [EnqueueRequest] {
    (0..<count).map { index in
        let msp = msps[index % msps.count]
        return EnqueueRequest(
            msp: msp, tenantKey: "\(msp)-tenant-\(index % tenants)", kind: "sleep",
            payload: PostgresJSON(text: payload),
            subject: "job-\(index)")
    }
}

@Suite("Worker processes", .serialized)
struct WorkerProcessTests {
    @Test func threeWorkersRunEveryJobOnceWithinEveryLimit() async throws {
        let lab = try await WorkerLab.make("fleet")
        try await lab.pool.query("UPDATE onboarder.queue_limits SET max_running = 40")
        // 50 tenants spread over 3 MSPs; tenants keep the default limit of 1.
        _ = try await lab.queue.enqueue(
            sleepJobs(2000, msps: ["m0", "m1", "m2"], tenants: 50, payload: #"{"sleep_ms": 5, "record": true}"#))
        try await lab.pool.query("UPDATE onboarder.msps SET max_running = 10")
        let workers = try (0..<3).map { try lab.startWorker("w\($0)", concurrency: 30) }
        try await lab.waitUntil(240, "all 2000 jobs finished") {
            try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state <> 'succeeded'") == 0
        }
        for worker in workers { worker.signal(SIGTERM) }
        for worker in workers { #expect(await worker.wait() == 0, "worker log:\n\(worker.output.suffix(2000))") }

        #expect(try await lab.int("SELECT count(*)::int FROM onboarder_test.runs") == 2000)  // exactly once each
        #expect(try await lab.int("SELECT count(DISTINCT job_id)::int FROM onboarder_test.runs") == 2000)
        #expect(try await lab.int("SELECT count(DISTINCT worker_id)::int FROM onboarder_test.runs") == 3)
        let observed = try await lab.pool.query(
            "SELECT scope, max(max_running) AS peak FROM onboarder_test.observed GROUP BY scope")
        let peaks = Dictionary(
            uniqueKeysWithValues: try observed.map {
                (try $0.decode(String.self, column: "scope"), try $0.decode(Int.self, column: "peak"))
            })
        #expect(peaks["global"].map { $0 <= 40 && $0 > 1 } == true, "global peak \(peaks)")
        #expect(peaks["msp"].map { $0 <= 10 } == true, "MSP peak \(peaks)")
        #expect(peaks["tenant"] == 1, "tenant peak \(peaks)")
        #expect(try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'running'") == 0)
        #expect(try await lab.int("SELECT count(*)::int FROM onboarder.workers WHERE state = 'stopped'") == 3)
        try await lab.drop()
    }

    /// The claim loop keeps a claim in flight ahead of the one it is reading; the slots of both are reserved,
    /// so a worker never runs more jobs than its concurrency (here two batches of 5 would make 10).
    @Test func aWorkerNeverRunsMoreThanItsConcurrencyWithAClaimInFlightAhead() async throws {
        let lab = try await WorkerLab.make("ahead")
        _ = try await lab.queue.enqueue(
            sleepJobs(300, msps: ["m"], tenants: 300, payload: #"{"sleep_ms": 30, "record": true}"#))
        let worker = try lab.startWorker("w", concurrency: 7, settings: ["ONBOARDER_WORKER_CLAIM_BATCH": "5"])
        try await lab.waitUntil(120, "all 300 jobs finished") {
            try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state <> 'succeeded'") == 0
        }
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0, "worker log:\n\(worker.output.suffix(2000))")
        #expect(try await lab.int("SELECT count(DISTINCT job_id)::int FROM onboarder_test.runs") == 300)
        let peak = try await lab.int(
            "SELECT max_running FROM onboarder_test.observed WHERE scope = 'worker' AND key = 'w'")
        #expect((6...7).contains(peak), "peak of jobs running at once in the worker: \(peak)")
        try await lab.drop()
    }

    @Test func aKilledWorkersJobsAreRescuedAndNeverRunTwiceAtOnce() async throws {
        let lab = try await WorkerLab.make("kill")
        // Long enough that all six run at once even when a loaded machine spreads their starts (at 1.5 s a clean
        // clone's CI once saw the first end before the last began).
        _ = try await lab.queue.enqueue(
            sleepJobs(6, msps: ["m"], tenants: 6, payload: #"{"sleep_ms": 5000, "record": true}"#))
        let victim = try lab.startWorker("victim", concurrency: 10)
        try await lab.waitUntil(30, "the victim runs all 6 jobs") {
            try await lab.int("SELECT count(*)::int FROM onboarder_test.running WHERE worker_id = 'victim'") == 6
        }
        victim.signal(SIGKILL)
        #expect(await victim.wait() == 128 + SIGKILL)
        let killedAt = Date()
        let rescuer = try lab.startWorker("rescuer", concurrency: 10)
        try await lab.waitUntil(60, "the rescuer finishes every job") {
            try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'succeeded'") == 6
        }
        rescuer.signal(SIGTERM)
        #expect(await rescuer.wait() == 0)
        #expect(try await lab.int("SELECT sum(rescues)::int FROM onboarder.jobs") == 6)
        #expect(try await lab.int("SELECT count(*)::int FROM onboarder.events WHERE kind = 'rescued'") == 6)
        // Every job: one interrupted run by the victim, one complete run by the rescuer that began only after
        // the victim was gone.
        let runs = try await lab.pool.query(
            "SELECT job_id, worker_id, started_at, ended_at FROM onboarder_test.runs ORDER BY job_id, started_at")
        #expect(runs.count == 12)
        for row in runs {
            let (worker, started, ended) = (
                try row.decode(String.self, column: "worker_id"),
                try row.decode(Date.self, column: "started_at"), try row.decode(Date?.self, column: "ended_at")
            )
            if worker == "victim" { #expect(ended == nil) } else { #expect(ended != nil && started > killedAt) }
        }
        #expect(
            try await lab.int("SELECT count(*)::int FROM onboarder.workers WHERE id = 'victim' AND state = 'dead'") == 1
        )
        try await lab.drop()
    }

    @Test func sigtermDrainsRunningJobsAndExitsZero() async throws {
        let lab = try await WorkerLab.make("drain")
        _ = try await lab.queue.enqueue(
            sleepJobs(5, msps: ["m"], tenants: 5, payload: #"{"sleep_ms": 1000, "record": true}"#))
        let worker = try lab.startWorker("drainer", concurrency: 10)
        try await lab.waitUntil(30, "all 5 jobs started") {
            try await lab.int("SELECT count(*)::int FROM onboarder_test.running") == 5
        }
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        // Finished within the deadline: all succeeded, none released.
        #expect(try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'succeeded'") == 5)
        #expect(try await lab.int("SELECT count(*)::int FROM onboarder.events WHERE kind = 'released'") == 0)
        try await lab.drop()
    }

    @Test func sigtermReleasesWhatOutlivesTheDeadlineWithoutCountingAnAttempt() async throws {
        let lab = try await WorkerLab.make("release")
        _ = try await lab.queue.enqueue(
            sleepJobs(3, msps: ["m"], tenants: 3, payload: #"{"sleep_ms": 60000, "record": true}"#))
        let worker = try lab.startWorker(
            "slow", concurrency: 10, settings: ["ONBOARDER_WORKER_SHUTDOWN_DEADLINE_SECONDS": "1"])
        try await lab.waitUntil(30, "all 3 jobs started") {
            try await lab.int("SELECT count(*)::int FROM onboarder_test.running") == 3
        }
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        #expect(
            try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'queued' AND attempts = 0") == 3)
        #expect(try await lab.int("SELECT count(*)::int FROM onboarder.events WHERE kind = 'released'") == 3)
        #expect(try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'running'") == 0)
        // Another worker picks them up (made short so the test ends).
        try await lab.pool.query(#"UPDATE onboarder.jobs SET payload = '{"sleep_ms": 10}'"#)
        try await lab.runReleasedJobsElsewhere(3)
        try await lab.drop()
    }

    @Test func sigtermWhileAClaimIsInFlightStartsNoneOfItsJobsAndCountsNoAttempt() async throws {
        let lab = try await WorkerLab.make("inflight")
        let worker = try await lab.pool.withConnection { blocker in
            // Every claim locks the queue_limits row first: while the test holds it, the worker's claim waits in
            // the database, and the SIGTERM lands with that claim in flight. The jobs are enqueued before the
            // worker starts: a claim takes the jobs due when its transaction began.
            try await blocker.query("BEGIN")
            try await blocker.query("SELECT 1 FROM onboarder.queue_limits FOR UPDATE")
            _ = try await lab.queue.enqueue(
                sleepJobs(4, msps: ["m"], tenants: 4, payload: #"{"sleep_ms": 10, "record": true}"#))
            let started = try lab.startWorker("claiming", concurrency: 10)
            // Another login's query text in pg_stat_activity is the administrator's to read, not the owner's.
            let administrator = try await PostgresConnection.connect(
                PostgresConfiguration(connectionString: TestDatabase.urlNaming(database: lab.name)))
            defer { Task { await administrator.close() } }
            try await lab.waitUntil(30, "the worker's claim waits for the lock") {
                try await administrator.query(
                    """
                    SELECT count(*)::int FROM pg_stat_activity
                     WHERE datname = current_database() AND query LIKE '%onboarder.claim(%' AND wait_event_type = 'Lock'
                       AND xact_start >= (SELECT max(run_at) FROM onboarder.jobs)
                    """
                ).single()[0].decode(Int.self) == 1
            }
            started.signal(SIGTERM)
            try await lab.waitUntil(30, "the worker saw the SIGTERM") {
                started.output.contains("shutdown requested")
            }
            try await blocker.query("ROLLBACK")
            return started
        }
        #expect(await worker.wait() == 0)
        // The claim took the 4 jobs after the drain began: none ran, all are back in the queue uncounted.
        #expect(try await lab.int("SELECT count(*)::int FROM onboarder_test.runs") == 0)
        #expect(
            try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'queued' AND attempts = 0") == 4)
        #expect(try await lab.int("SELECT count(*)::int FROM onboarder.events WHERE kind = 'released'") == 4)
        try await lab.runReleasedJobsElsewhere(4)
        try await lab.drop()
    }

    @Test func aStepWaitingForRetryAfterGivesItsSlotBack() async throws {
        let lab = try await WorkerLab.make("retryafter")
        // One slot for the MSP. The throttled job is first in line; while it waits 2 s, the other one runs.
        _ = try await lab.queue.enqueue([
            EnqueueRequest(
                msp: "m", tenantKey: "a", kind: "sleep",
                payload: PostgresJSON(text: #"{"retry_after_s": 2, "record": true}"#), priority: 10),
            EnqueueRequest(
                msp: "m", tenantKey: "b", kind: "sleep",
                payload: PostgresJSON(text: #"{"sleep_ms": 200, "record": true}"#)),
        ])
        try await lab.pool.query("UPDATE onboarder.msps SET max_running = 1")
        let worker = try lab.startWorker("w", concurrency: 10)
        try await lab.waitUntil(60, "both jobs succeeded") {
            try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'succeeded'") == 2
        }
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        let rows = try await lab.pool.query(
            """
            SELECT t.tenant_key, r.started_at, r.ended_at FROM onboarder_test.runs r
              JOIN onboarder.jobs j ON j.id = r.job_id JOIN onboarder.tenants t ON t.id = j.tenant_id
            """)
        var runs: [String: (Date, Date?)] = [:]
        for row in rows {
            runs[try row.decode(String.self, column: "tenant_key")] = (
                try row.decode(Date.self, column: "started_at"), try row.decode(Date?.self, column: "ended_at")
            )
        }
        let throttled = try #require(runs["a"])
        let other = try #require(runs["b"])
        // b ran to its end before a's second (recorded) attempt began.
        #expect(try #require(other.1) < throttled.0)
        let events = try await lab.pool.query(
            "SELECT e.kind FROM onboarder.events e JOIN onboarder.jobs j ON j.id = e.job_id JOIN onboarder.tenants t ON t.id = j.tenant_id WHERE t.tenant_key = 'a' ORDER BY e.id"
        )
        #expect(
            try events.map { try $0.decode(String.self, column: "kind") } == ["enqueued", "rescheduled", "succeeded"])
        // The Retry-After was honoured: at least 2 s between the job's first claim and its second.
        let gap = try await lab.pool.query(
            """
            SELECT extract(epoch FROM (SELECT r.started_at FROM onboarder_test.runs r WHERE r.job_id = j.id) - e.at) AS seconds
              FROM onboarder.jobs j JOIN onboarder.events e ON e.job_id = j.id AND e.kind = 'rescheduled'
            """
        ).single().decode(Double.self, column: "seconds")
        #expect(gap >= 1.9)
        try await lab.drop()
    }

    @Test func poisonJobsFailAloneAfterTheirRetriesAndOthersRun() async throws {
        let lab = try await WorkerLab.make("poison")
        var requests = sleepJobs(20, msps: ["m"], tenants: 20, payload: #"{"sleep_ms": 10}"#)
        requests.append(
            EnqueueRequest(
                msp: "m", tenantKey: "bad-1", kind: "sleep",
                payload: PostgresJSON(text: #"{"fail": "broken on purpose"}"#)))
        requests.append(
            EnqueueRequest(
                msp: "m", tenantKey: "bad-2", kind: "sleep", payload: PostgresJSON(text: #"{"always_retry": true}"#)))
        _ = try await lab.queue.enqueue(requests)
        let worker = try lab.startWorker(
            "w", concurrency: 4,
            settings: [
                "ONBOARDER_RETRY_BASE_DELAY_MS": "20", "ONBOARDER_RETRY_MAX_ATTEMPTS": "3",
            ])
        try await lab.waitUntil(60, "every job ended") {
            try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE finished_at IS NULL") == 0
        }
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        #expect(try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'succeeded'") == 20)
        let failed = try await lab.pool.query(
            """
            SELECT t.tenant_key, j.attempts, j.last_error, s.attempts AS step_failures FROM onboarder.jobs j
              JOIN onboarder.tenants t ON t.id = j.tenant_id LEFT JOIN onboarder.job_steps s ON s.job_id = j.id
             WHERE j.state = 'failed' ORDER BY t.tenant_key
            """)
        #expect(failed.count == 2)
        #expect(try failed[0].decode(String.self, column: "last_error") == "sleep: broken on purpose")
        #expect(try failed[0].decode(Int.self, column: "attempts") == 1)
        // Retried with backoff, then given up after retry.max_attempts failures of the step.
        #expect(try failed[1].decode(Int.self, column: "attempts") == 3)
        #expect(try failed[1].decode(Int.self, column: "step_failures") == 3)
        #expect(try failed[1].decode(String.self, column: "last_error").hasPrefix("sleep failed 3 times"))
        try await lab.drop()
    }

    /// Found by scripts/chaos: at a 10% fault rate a job failed after ten 429s and replication retries of
    /// one step. Waits the service asks for do not use up the step's attempts; they have their own bound,
    /// ten times retry.max_attempts.
    @Test func throttlingDoesNotUseUpAStepsAttemptsButIsBounded() async throws {
        let lab = try await WorkerLab.make("throttled")
        _ = try await lab.queue.enqueue([
            EnqueueRequest(
                msp: "m", tenantKey: "patient", kind: "sleep", payload: PostgresJSON(text: #"{"throttle_times": 6}"#)),
            EnqueueRequest(
                msp: "m", tenantKey: "hammered", kind: "sleep",
                payload: PostgresJSON(text: #"{"throttle_times": 1000}"#)),
        ])
        let worker = try lab.startWorker(
            "w", concurrency: 4,
            settings: ["ONBOARDER_RETRY_BASE_DELAY_MS": "20", "ONBOARDER_RETRY_MAX_ATTEMPTS": "3"])
        try await lab.waitUntil(120, "both jobs ended") {
            try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE finished_at IS NULL") == 0
        }
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        let rows = try await lab.pool.query(
            """
            SELECT t.tenant_key, j.state, j.last_error, s.attempts, s.waits FROM onboarder.jobs j
              JOIN onboarder.tenants t ON t.id = j.tenant_id JOIN onboarder.job_steps s ON s.job_id = j.id
             ORDER BY t.tenant_key
            """)
        #expect(rows.count == 2)
        // Throttled six times with three attempts allowed: it waited as told and succeeded.
        #expect(try rows[1].decode(String.self, column: "tenant_key") == "patient")
        #expect(try rows[1].decode(String.self, column: "state") == "succeeded")
        #expect(try rows[1].decode(Int.self, column: "attempts") == 0)
        #expect(try rows[1].decode(Int.self, column: "waits") == 6)
        // Throttled without end: failed after 10 × 3 waits, saying so.
        #expect(try rows[0].decode(String.self, column: "state") == "failed")
        #expect(try rows[0].decode(Int.self, column: "waits") == 30)
        #expect(
            try rows[0].decode(String.self, column: "last_error").hasPrefix(
                "sleep was told to wait 30 times (throttled)"))
        try await lab.drop()
    }

    @Test func aWorkerDeclaredDeadStopsWithAFailureStatus() async throws {
        let lab = try await WorkerLab.make("dead")
        _ = try await lab.queue.enqueue(sleepJobs(2, msps: ["m"], tenants: 2, payload: #"{"sleep_ms": 60000}"#))
        let worker = try lab.startWorker("zombie", concurrency: 5)
        try await lab.waitUntil(30, "both jobs running") {
            try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'running'") == 2
        }
        // What the others do to a worker that went silent: declare it dead and take its jobs.
        try await lab.pool.query("UPDATE onboarder.workers SET state = 'dead' WHERE id = 'zombie'")
        try await lab.pool.query("SELECT onboarder.reap('1 hour')")
        #expect(await worker.wait() == 1)  // systemd's Restart=on-failure brings it back under a new id
        #expect(worker.output.contains("declared dead"))
        #expect(
            try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'queued' AND rescues = 1") == 2)
        try await lab.drop()
    }

    /// A worker's own reaper never declares it dead: when its beats come late (the process or the database
    /// paused past the lease), whether it lost its jobs is for the other workers to judge. Alone, it would
    /// otherwise stop and leave every job to wait for a restart. Other silent workers it still declares dead.
    @Test func aWorkersOwnReaperDoesNotDeclareItDead() async throws {
        let lab = try await WorkerLab.make("selfreap")
        // Another worker, silent for an hour, holding a job (set up before this worker can claim the job itself).
        try await lab.pool.query(
            """
            INSERT INTO onboarder.workers (id, host, pid, concurrency, version, heartbeat_at)
            VALUES ('gone', 'elsewhere', 1, 1, 'test', now() - interval '1 hour')
            """)
        let job = try await lab.queue.enqueue(sleepJobs(1, msps: ["m"], tenants: 1, payload: #"{"sleep_ms": 10}"#))[0]
        try await lab.pool.query(
            "UPDATE onboarder.jobs SET state = 'running', worker_id = 'gone', attempts = 1 WHERE id = \(job.jobID)")
        // This worker's beats stop reaching the table (it is still told whether it is alive), and once it has
        // registered its last one is an hour old.
        try await lab.pool.query(
            """
            CREATE OR REPLACE FUNCTION onboarder.heartbeat(p_worker text) RETURNS boolean LANGUAGE sql AS $$
                SELECT EXISTS (SELECT 1 FROM onboarder.workers WHERE id = p_worker AND state IN ('running', 'draining'))
            $$
            """)
        let worker = try lab.startWorker("paused", concurrency: 2)
        try await lab.waitUntil(30, "the worker registered") {
            try await lab.int("SELECT count(*)::int FROM onboarder.workers WHERE id = 'paused'") == 1
        }
        try await lab.pool.query(
            "UPDATE onboarder.workers SET heartbeat_at = now() - interval '1 hour' WHERE id = 'paused'")
        // The other silent worker: declared dead by this one's reaper, its job rescued and run here.
        try await lab.waitUntil(30, "the other silent worker declared dead, its job rescued and run") {
            try await lab.int(
                "SELECT count(*)::int FROM onboarder.jobs WHERE state = 'succeeded' AND rescues = 1") == 1
        }
        #expect(
            try await lab.int("SELECT count(*)::int FROM onboarder.workers WHERE id = 'gone' AND state = 'dead'") == 1)
        try await Task.sleep(for: .seconds(3))  // three reaps past this worker's own lease
        #expect(
            try await lab.pool.query("SELECT state FROM onboarder.workers WHERE id = 'paused'").single()[0].decode(
                String.self) == "running")
        #expect(!worker.output.contains("declared dead by another worker"))
        _ = try await lab.queue.enqueue(sleepJobs(2, msps: ["n"], tenants: 2, payload: #"{"sleep_ms": 10}"#))
        try await lab.waitUntil(30, "the worker still claims") {
            try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'succeeded'") == 3
        }
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        try await lab.drop()
    }

    /// A worker whose heartbeats fail stops claiming (others may soon take its jobs), and claims again
    /// once its heartbeat is back.
    @Test func aWorkerThatCannotHeartbeatStopsClaiming() async throws {
        let lab = try await WorkerLab.make("noheartbeat")
        let worker = try lab.startWorker(
            "silent", concurrency: 5,
            settings: ["ONBOARDER_WORKER_LEASE_SECONDS": "4", "ONBOARDER_WORKER_REAP_INTERVAL_SECONDS": "3600"])
        try await lab.waitUntil(30, "the worker registered") {
            try await lab.int("SELECT count(*)::int FROM onboarder.workers WHERE id = 'silent'") == 1
        }
        // The heartbeat statement fails from now on (as it would on a broken path to the database).
        try await lab.pool.query(
            """
            CREATE OR REPLACE FUNCTION onboarder.heartbeat(p_worker text) RETURNS boolean LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'heartbeat unavailable (test)'; END $$
            """)
        try await lab.waitUntil(30, "the worker noticing it cannot heartbeat") {
            worker.output.contains("cannot heartbeat; not claiming")
        }
        _ = try await lab.queue.enqueue(sleepJobs(3, msps: ["m"], tenants: 3, payload: #"{"sleep_ms": 10}"#))
        try await Task.sleep(for: .seconds(2))
        #expect(try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'queued'") == 3)
        // The heartbeat comes back (0002_queue.sql's definition): claiming resumes.
        try await lab.pool.query(
            """
            CREATE OR REPLACE FUNCTION onboarder.heartbeat(p_worker text) RETURNS boolean LANGUAGE sql AS $$
                WITH beat AS (
                    UPDATE onboarder.workers SET heartbeat_at = now()
                     WHERE id = p_worker AND state IN ('running', 'draining') RETURNING 1)
                SELECT EXISTS (SELECT 1 FROM beat)
            $$
            """)
        try await lab.waitUntil(30, "the jobs ran after the heartbeat came back") {
            try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'succeeded'") == 3
        }
        #expect(worker.output.contains("heartbeat restored; claiming again"))
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        try await lab.drop()
    }

    @Test func anIdleWorkerWakesOnNotifyNotThePoll() async throws {
        let lab = try await WorkerLab.make("wake")
        let worker = try lab.startWorker(
            "idle", concurrency: 5,
            settings: [
                "ONBOARDER_WORKER_POLL_INTERVAL_MS": "60000", "ONBOARDER_WORKER_HEARTBEAT_INTERVAL_MS": "60000",
                "ONBOARDER_WORKER_LEASE_SECONDS": "600",
            ])
        try await lab.waitUntil(30, "the worker registered") {
            try await lab.int("SELECT count(*)::int FROM onboarder.workers WHERE state = 'running'") == 1
        }
        try await Task.sleep(for: .milliseconds(500))  // let it go idle, listening
        _ = try await lab.queue.enqueue(EnqueueRequest(msp: "m", tenantKey: "t", kind: "sleep"))
        // Far less than the 60 s poll interval: only the NOTIFY can have woken it.
        try await lab.waitUntil(5, "the job ran") {
            try await lab.int("SELECT count(*)::int FROM onboarder.jobs WHERE state = 'succeeded'") == 1
        }
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        try await lab.drop()
    }
}
