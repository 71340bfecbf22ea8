"""scripts/bench queue, floor and profile: the job queue against pgqueuer, the plain-SQL ceiling (pgbench) and
the bare-SQL floor of its own schema; where a drain's time goes. Run through `scripts/bench`.

Each throughput measurement is repeated (BENCH_REPEATS), onboarder and its baselines alternating, and compared
by medians: on 2 shared cores one drain moves by ±20 % from the next. The workers run as the service login
(onboarder_svc); the fixtures (bulk enqueue_many, limits, the bare-SQL baselines) as the harness's superuser.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import harness
from harness import Database, log, psql, rate, ratio, median, cell

WORKER_LOG = ".local/bench-worker.log"
PGQUEUER_LOG = ".local/bench-pgqueuer.log"
VENV = ".local/bench-venv"


@dataclass(frozen=True)
class Settings:
    """The queue benchmarks' sizes, from the environment as BENCHMARKS.md gives them."""

    jobs: int
    seconds: int
    latency_jobs: int
    concurrency: int
    claim_batch: int
    repeats: int
    floor_clients: int  # more consumers than cores starve the producer of CPU
    perf: bool

    @staticmethod
    def from_environment(default_jobs: int = 50000) -> "Settings":
        env = os.environ.get
        return Settings(int(env("BENCH_JOBS", default_jobs)), int(env("BENCH_SECONDS", 30)),
                        int(env("BENCH_LATENCY_JOBS", 1000)), int(env("BENCH_CONCURRENCY", 1000)),
                        int(env("BENCH_CLAIM_BATCH", 250)), int(env("BENCH_REPEATS", 3)),
                        int(env("BENCH_FLOOR_CLIENTS", 2)), env("BENCH_PERF", "0") == "1")


class Queue:
    """One benchmark session on the bench cluster: its fresh databases, workers and baselines."""

    def __init__(self, admin_url: str, onboarder: str, settings: Settings):
        self.admin, self.onboarder, self.s = admin_url, onboarder, settings

    # MARK: onboarder

    def database(self, name: str = "bench_onb") -> Database:
        db = harness.fresh_db(self.admin, name, self.onboarder, settle=True)
        if os.environ.get("BENCH_AUTOVACUUM") == "off":
            # To tell autovacuum's share of a measurement (the latency's p99): none on onboarder's tables.
            psql(db.admin, """DO $$ DECLARE t text; BEGIN
    FOR t IN SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'onboarder' LOOP
        EXECUTE format('ALTER TABLE %s SET (autovacuum_enabled = false)', t);
    END LOOP; END $$""")
        return db

    def enqueue_sql(self, jobs: int, tenants: int) -> str:
        """One enqueue_many call of `jobs` no-op jobs over `tenants` tenants of one MSP."""
        return f"""SELECT count(*) FROM onboarder.enqueue_many(array_fill('bench'::text, ARRAY[{jobs}]),
            ARRAY(SELECT 't' || (g % {tenants}) FROM generate_series(1, {jobs}) g), array_fill('sleep'::text, ARRAY[{jobs}]),
            NULL, NULL, NULL, NULL, ARRAY(SELECT md5(random()::text) FROM generate_series(1, {jobs}) g))"""

    @contextmanager
    def worker(self, db: Database) -> Iterator[harness.Worker]:
        """`onboarder worker` as the service login for the length of the block; stopped with SIGTERM."""
        env = {**os.environ, "ONBOARDER_DATABASE_URL": db.worker, "ONBOARDER_LOG_FORMAT": "json",
               "ONBOARDER_WORKER_CLAIM_BATCH": str(self.s.claim_batch)}
        worker = harness.Worker(self.onboarder, env, self.s.concurrency, WORKER_LOG)
        try:
            yield worker
        finally:
            worker.terminate()

    def wait_drained(self, url: str, total: int, worker: harness.Worker) -> None:
        """Until every job succeeded.

        Every job writes two events (enqueued, succeeded) into a fresh database, so the newest event id reads
        progress off the primary key's end. Counting the jobs (or even probing the queue's index, dead entries
        and all) every 50 ms cost the drain a tenth of the machine, and a psql process started for each poll
        another 5 % (perf: the dynamic loader and page faults): one psql answers every poll. Then the jobs
        themselves are counted, once."""
        poll = subprocess.Popen([harness.server_binary("psql"), url, "-XqtA"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        query = (f"SELECT CASE WHEN coalesce(max(id), 0) >= 2 * {total} THEN (SELECT count(*) >= {total} "
                 "FROM onboarder.jobs WHERE state = 'succeeded') ELSE false END FROM onboarder.events;\n")
        deadline = time.time() + 900
        try:
            while True:
                poll.stdin.write(query)
                poll.stdin.flush()
                answer = poll.stdout.readline().strip()
                if answer == "t":
                    return
                if answer != "f":
                    harness.die(f"the progress query failed: {answer or 'its psql ended'}")
                if not worker.alive():
                    harness.die(f"the worker exited with {worker.process.returncode} (log: {WORKER_LOG})")
                if time.time() > deadline:
                    harness.die(f"jobs did not finish in 15 minutes (worker log: {WORKER_LOG})")
                time.sleep(0.02)
        finally:
            poll.stdin.close()
            poll.wait()

    def enqueue(self, db: Database) -> int:
        """`jobs` no-op jobs over 5,000 new tenants in one enqueue_many call: rows/s."""
        t0 = time.time()
        psql(db.admin, self.enqueue_sql(self.s.jobs, 5000))
        return rate(self.s.jobs, t0, time.time())

    def drain(self, limits: bool) -> tuple[int, int]:
        """Enqueue `jobs` no-op jobs, then drain them: (enqueue rows/s, drain jobs/s)."""
        db = self.database()
        enqueued = self.enqueue(db)
        if limits:
            psql(db.admin, "UPDATE onboarder.queue_limits SET max_running = 1000; UPDATE onboarder.msps SET max_running = 1000")
        else:
            psql(db.admin, "UPDATE onboarder.tenants SET max_running = NULL")
        psql(db.admin, "VACUUM ANALYZE")
        started = time.time()
        with self.worker(db) as worker:
            self.wait_drained(db.admin, self.s.jobs, worker)
            ended = time.time()
        return enqueued, rate(self.s.jobs, started, ended)

    # MARK: steady load

    # The backlog as the newest job id less the oldest queued one (two index probes): counting took 20 ms.
    BACKLOG_SQL = ("(SELECT max(id) FROM onboarder.jobs) - (SELECT id FROM onboarder.jobs WHERE state IN "
                   "('queued', 'waiting') ORDER BY priority DESC, run_at, id LIMIT 1)")
    SUCCEEDED_SQL = "SELECT count(*) FROM onboarder.jobs WHERE state = 'succeeded'"

    def pgbench(self, url: str, script: str, *args: str, background: bool = False) -> subprocess.Popen | str:
        """pgbench with `script` (a temporary file); its output, or the process when in the background."""
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as file:
            file.write(script)
        command = [harness.server_binary("pgbench"), "-n", *args, "-f", file.name, url]
        try:
            if background:
                process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)  # pgbench has read its script
                return process
            return subprocess.run(command, capture_output=True, text=True).stdout
        finally:
            os.unlink(file.name)

    def producer(self, url: str, batch_sql: str, backlog_sql: str) -> subprocess.Popen:
        """`batch_sql` while `backlog_sql` says fewer than 20,000 jobs wait, else a 20 ms pause, as the pgqueuer
        driver's producer does: the consumer is measured, not how fast a backlog can grow. One connection
        (pgbench), as the driver's producer has: a psql process per batch took an eighth of the machine's CPU."""
        batch = " ".join(batch_sql.split("\n"))
        script = (f"SELECT coalesce({backlog_sql}, 0) < 20000 AS room \\gset\n\\if :room\n{batch};\n"
                  "\\else\n\\sleep 20 ms\n\\endif\n")
        return self.pgbench(url, script, "-c", "1", "-T", str(self.s.seconds + 60), background=True)

    def succeeded_rate(self, url: str, count_sql: str) -> int:
        """Jobs/s over BENCH_SECONDS, after 2 s to settle."""
        time.sleep(2)
        c1, t1 = int(psql(url, count_sql)), time.time()
        time.sleep(self.s.seconds)
        c2, t2 = int(psql(url, count_sql)), time.time()
        return rate(c2 - c1, t1, t2)

    def steady_setup(self, db: Database) -> None:
        """Every tenant the producer names (100,000) known and 20,000 jobs queued."""
        psql(db.admin, self.enqueue_sql(20000, 100000))
        psql(db.admin, "INSERT INTO onboarder.tenants (msp_id, tenant_key) SELECT 'bench', 't' || g "
                       "FROM generate_series(0, 99999) g ON CONFLICT DO NOTHING; "
                       "UPDATE onboarder.tenants SET max_running = NULL; VACUUM ANALYZE")

    def steady(self) -> int:
        db = self.database()
        self.steady_setup(db)
        producer = self.producer(db.admin, self.enqueue_sql(1000, 100000), self.BACKLOG_SQL)
        try:
            with self.worker(db):
                return self.succeeded_rate(db.admin, self.SUCCEEDED_SQL)
        finally:
            stop(producer)

    def latency(self) -> tuple[str, str]:
        """p50 and p99 in ms, enqueue (transaction start) to the handler starting the job."""
        db = self.database()
        # The sleep handler's recording tables (as SleepHandler.prepareRecording makes them), for the worker role.
        psql(db.admin, """CREATE SCHEMA onboarder_test;
CREATE TABLE onboarder_test.running (job_id bigint PRIMARY KEY, msp_id text NOT NULL, tenant_id bigint NOT NULL, worker_id text NOT NULL);
CREATE TABLE onboarder_test.runs (job_id bigint NOT NULL, worker_id text NOT NULL, attempt integer NOT NULL,
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(), ended_at timestamptz);
CREATE TABLE onboarder_test.observed (scope text NOT NULL, key text NOT NULL, max_running integer NOT NULL, PRIMARY KEY (scope, key));
GRANT USAGE ON SCHEMA onboarder_test TO onboarder_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA onboarder_test TO onboarder_worker;""")
        # The first 5 jobs warm up (connections, plans, caches) and are not counted, as the pgqueuer driver's 5.
        script = "".join(f"SELECT 1 FROM onboarder.enqueue('bench', 'latency', 'sleep', '{{\"record\": true}}', "
                         f"p_subject => '{i}');\nSELECT pg_sleep(0.01);\n" for i in range(1, self.s.latency_jobs + 6))
        with self.worker(db) as worker:
            time.sleep(1)
            psql(db.admin, script)
            self.wait_drained(db.admin, self.s.latency_jobs + 5, worker)
        p50, p99 = psql(db.admin, """SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::numeric, 2),
              round((percentile_cont(0.99) WITHIN GROUP (ORDER BY ms))::numeric, 2)
            FROM (SELECT extract(epoch FROM r.started_at - j.created_at) * 1000 AS ms
                    FROM onboarder_test.runs r JOIN onboarder.jobs j ON j.id = r.job_id
                   WHERE j.id NOT IN (SELECT id FROM onboarder.jobs ORDER BY id LIMIT 5)) x""").split("|")
        return p50, p99

    # MARK: baselines

    def ceiling(self, batch: int, clients: int = 8) -> int:
        """The plain-SQL ceiling: claim `batch` rows with SKIP LOCKED, then complete them; jobs/s."""
        db = harness.fresh_db(self.admin, "bench_ceiling", settle=True)
        psql(db.admin, f"""CREATE TABLE bench_jobs (id bigint PRIMARY KEY, state text NOT NULL DEFAULT 'queued');
CREATE INDEX bench_jobs_queued ON bench_jobs (id) WHERE state = 'queued';
INSERT INTO bench_jobs (id) SELECT generate_series(1, {self.s.jobs});
VACUUM ANALYZE bench_jobs""")
        # Two transactions per batch, as a real queue has: claim (queued → running), then complete.
        script = f"""WITH c AS (SELECT id FROM bench_jobs WHERE state = 'queued' ORDER BY id LIMIT {batch} FOR UPDATE SKIP LOCKED),
     u AS (UPDATE bench_jobs j SET state = 'running' FROM c WHERE j.id = c.id RETURNING j.id)
SELECT coalesce('ARRAY[' || string_agg(id::text, ',') || ']::bigint[]', 'ARRAY[]::bigint[]') AS claimed FROM u \\gset
UPDATE bench_jobs SET state = 'done' WHERE id = ANY (:claimed);
"""
        output = self.pgbench(db.admin, script, "-c", str(clients), "-j", "2", "-t",
                              str(self.s.jobs // clients // batch))
        return jobs_per_s(output, batch)

    def pgqueuer(self, mode: str, *args: str) -> dict:
        """scripts/bench-pgqueuer.py in its own virtual environment (pgqueuer and asyncpg from PyPI)."""
        if not os.access(f"{VENV}/bin/python", os.X_OK):
            log(f"installing pgqueuer into {VENV}")
            subprocess.run(["python3", "-m", "venv", VENV], check=True)
            subprocess.run([f"{VENV}/bin/pip", "install", "-q", "pgqueuer", "asyncpg"], check=True)
        db = harness.fresh_db(self.admin, "bench_pgq", settle=True)
        with open(PGQUEUER_LOG, "a") as errors:
            result = subprocess.run([f"{VENV}/bin/python", "scripts/bench-pgqueuer.py", "--dsn", db.admin, mode, *args],
                                    stdout=subprocess.PIPE, stderr=errors, text=True, check=True)
        return json.loads(result.stdout)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait()


def jobs_per_s(pgbench_output: str, batch: int) -> int:
    r"""pgbench's transactions per second times the rows each transaction claims.

    >>> jobs_per_s("number of failed transactions: 0 (0.000%)\ntps = 40.5 (without initial connection time)", 250)
    10125
    """
    for line in pgbench_output.splitlines():
        if line.startswith("tps"):
            return int(float(line.split()[2]) * batch)
    harness.die(f"pgbench printed no rate: {pgbench_output[-500:]}")
    return 0


def latency_against(q: Queue, baseline: Queue) -> None:
    """The idle latency again with another build's worker and schema (BENCH_BASELINE: the folder of its release
    binaries, in a checkout of its own), alternating with this build's, BENCH_REPEATS times: each p50 / p99 and
    the medians' ratio."""
    runs: dict[str, list[tuple[str, str]]] = {"this build": [], "baseline": []}
    for r in range(1, q.s.repeats + 1):
        log(f"latency against the baseline, repeat {r}/{q.s.repeats}")
        for name, queue_ in (("baseline", baseline), ("this build", q)):
            runs[name].append(queue_.latency())
    harness.table(["idle enqueue-to-start latency p50 / p99, ms", "this build", "baseline"],
                  [[f"repeat {i + 1}", f"{ours[0]} / {ours[1]}", f"{theirs[0]} / {theirs[1]}"]
                   for i, (ours, theirs) in enumerate(zip(runs["this build"], runs["baseline"]))])
    p50s = {name: statistics.median(float(p50) for p50, _ in results) for name, results in runs.items()}
    print(f"latency p50 vs the baseline: {ratio(p50s['this build'], p50s['baseline'])}")


def enqueue_against(q: Queue, baseline: Queue) -> None:
    """The bulk enqueue again on databases of another build's schema (BENCH_BASELINE), alternating with this
    build's, BENCH_REPEATS times, each on a fresh database: rows/s and the medians' ratio."""
    rates: dict[str, list[int]] = {"this build": [], "baseline": []}
    for r in range(1, q.s.repeats + 1):
        log(f"bulk enqueue against the baseline, repeat {r}/{q.s.repeats}")
        for name, queue_ in (("baseline", baseline), ("this build", q)):
            rates[name].append(queue_.enqueue(queue_.database()))
    harness.table([f"bulk enqueue of {q.s.jobs} jobs over 5,000 new tenants, rows/s", "this build", "baseline"],
                  [["median (each repeat)", cell(rates["this build"]), cell(rates["baseline"])]])
    print(f"bulk enqueue vs the baseline: {ratio(median(rates['this build']), median(rates['baseline']))}")


def queue(q: Queue) -> None:
    s = q.s
    drains, enqueues, limited, steadies = [], [], [], []
    pgq_drains, pgq_enqueues, pgq_steadies = [], [], []
    # Latency first, on a quiet cluster: measured after the throughput runs, a checkpoint their WAL had made due
    # landed in it (p99 107 ms for both queues, 6 ms otherwise). Each database is made after a checkpoint whose
    # pages are on disk (right after a bare CHECKPOINT, the kernel's write-back slowed every commit: p50 275 ms).
    log(f"idle enqueue-to-start latency over {s.latency_jobs} jobs (onboarder, pgqueuer)")
    p50, p99 = q.latency()
    pgq_latency = q.pgqueuer("latency", "--jobs", str(s.latency_jobs))
    baseline = os.environ.get("BENCH_BASELINE")
    if baseline:
        latency_against(q, Queue(q.admin, f"{baseline}/onboarder", s))
        enqueue_against(q, Queue(q.admin, f"{baseline}/onboarder", s))
    pgq: dict = {}
    for r in range(1, s.repeats + 1):
        log(f"repeat {r}/{s.repeats}: drain {s.jobs} pre-queued no-op jobs (onboarder, pgqueuer), "
            "the same with all three limits on")
        enqueue_rate, drain_rate = q.drain(limits=False)
        drains.append(drain_rate)
        enqueues.append(enqueue_rate)
        pgq = q.pgqueuer("drain", "--jobs", str(s.jobs))
        pgq_drains.append(pgq["jobs_per_s"])
        pgq_enqueues.append(pgq["enqueue_rows_per_s"])
        limited.append(q.drain(limits=True)[1])
        log(f"repeat {r}/{s.repeats}: steady throughput for {s.seconds}s with a concurrent producer (onboarder, pgqueuer)")
        steadies.append(q.steady())
        pgq_steadies.append(q.pgqueuer("steady", "--seconds", str(s.seconds))["jobs_per_s"])
    log("the plain-SQL ceiling (pgbench)")
    ceiling, ceiling_batched = q.ceiling(1), q.ceiling(100)
    log(f"results (median of {s.repeats}, then each repeat)")
    drain, steady, limits = median(drains), median(steadies), median(limited)
    harness.table(["measurement", "onboarder", f"pgqueuer {pgq['version']}", "plain SQL (pgbench)"], [
        [f"drain {s.jobs} no-op jobs, jobs/s", cell(drains), cell(pgq_drains),
         f"{ceiling} (1 job per claim), {ceiling_batched} (100 per claim)"],
        ["drain with all limits on, jobs/s", cell(limited), "", ""],
        [f"steady throughput {s.seconds}s with a producer, jobs/s", cell(steadies), cell(pgq_steadies), ""],
        ["idle enqueue-to-start latency p50 / p99, ms", f"{p50} / {p99}",
         f"{pgq_latency['p50_ms']} / {pgq_latency['p99_ms']}", ""],
        ["bulk enqueue, rows/s", cell(enqueues), cell(pgq_enqueues), ""],
    ])
    print(f"drain ratio vs pgqueuer: {ratio(drain, median(pgq_drains))}")
    print(f"throughput ratio vs pgqueuer: {ratio(steady, median(pgq_steadies))}")
    print(f"ceiling ratio: {ratio(drain, ceiling)}")
    print(f"ceiling ratio (batched 100): {ratio(drain, ceiling_batched)}")
    print(f"limits cost: {(1 - limits / drain) * 100:.1f}%")
    print(f"enqueue ratio vs pgqueuer: {ratio(median(enqueues), median(pgq_enqueues))}")
    each = " ".join(f"{ratio(drains[r], pgq_drains[r])}/{ratio(steadies[r], pgq_steadies[r])}" for r in range(s.repeats))
    print(f"each repeat, drain/throughput vs pgqueuer: {each}")


# MARK: the floor: onboarder's own writes as bare SQL

FLOOR_EVENTS = "INSERT INTO onboarder.events (job_id, kind, worker_id) SELECT id, 'succeeded', 'floor' FROM d;"
FLOOR_NO_EVENTS = "SELECT count(*) FROM d;"
FLOOR_VARIANTS = ("schema", "no_events", "no_fk_indexes", "minimal")


def floor_consumer_sql(batch: int, tail: str) -> str:
    """What claim() and finish() write, as bare SQL: the same candidate order, FOR UPDATE SKIP LOCKED, the same
    columns, the ownership check and an event per finished job (`tail`: the event insert, or a count for the
    variant without events); no functions, no limits, no worker process."""
    return f"""WITH c AS (SELECT id FROM onboarder.jobs WHERE state IN ('queued', 'waiting') AND run_at <= now()
            ORDER BY priority DESC, run_at, id LIMIT {batch} FOR UPDATE SKIP LOCKED),
     u AS (UPDATE onboarder.jobs j SET state = 'running', wait_reason = NULL, worker_id = 'floor', attempts = j.attempts + 1,
                  started_at = coalesce(j.started_at, now()), updated_at = now()
             FROM c WHERE j.id = c.id RETURNING j.id, j.kind, j.msp_id, j.tenant_id, j.payload, j.attempts, j.rescues)
SELECT coalesce('ARRAY[' || string_agg(id::text, ',') || ']', 'ARRAY[]') || '::bigint[]' AS claimed FROM u \\gset
WITH d AS (UPDATE onboarder.jobs j SET state = 'succeeded', worker_id = NULL, finished_at = now(), updated_at = now()
            WHERE j.id = ANY (:claimed) AND j.worker_id = 'floor' RETURNING j.id)
{tail}
"""


def floor_producer_sql(tail: str = "INSERT INTO onboarder.events (job_id, kind) SELECT id, 'enqueued' FROM i;") -> str:
    """What enqueue_many() must write per row: the tenant found by key, the job under the one-active-job index,
    an event."""
    return f"""WITH i AS (INSERT INTO onboarder.jobs (kind, msp_id, tenant_id, subject)
    SELECT 'sleep', 'bench', (SELECT t.id FROM onboarder.tenants t WHERE t.msp_id = 'bench' AND t.tenant_key = 't' || (g % 100000)),
           md5(random()::text) FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING RETURNING id)
  {tail}"""


def floor_drain(q: Queue) -> int:
    s = q.s
    db = q.database("bench_floor")
    psql(db.admin, q.enqueue_sql(s.jobs, 5000))
    psql(db.admin, "UPDATE onboarder.tenants SET max_running = NULL; VACUUM ANALYZE")
    output = q.pgbench(db.admin, floor_consumer_sql(s.claim_batch, FLOOR_EVENTS), "-c", str(s.floor_clients),
                       "-j", "2", "-t", str(s.jobs // s.floor_clients // s.claim_batch))
    return jobs_per_s(output, s.claim_batch)


def floor_steady(q: Queue, variant: str) -> int:
    """Jobs/s of the bare-SQL consumer under a producer; `variant` takes a guarantee away (FLOOR_VARIANTS)."""
    s = q.s
    db = q.database("bench_floor")
    count = Queue.SUCCEEDED_SQL
    if variant != "minimal":  # the minimal table has no tenants and queues its own 20,000
        q.steady_setup(db)
    if variant == "no_fk_indexes":
        psql(db.admin, "DROP INDEX onboarder.jobs_by_tenant, onboarder.jobs_finished; "
                       "ALTER TABLE onboarder.jobs DROP CONSTRAINT jobs_tenant_msp_fkey")
    if variant == "no_events":
        consumer = floor_consumer_sql(s.claim_batch, FLOOR_NO_EVENTS)
        producer = q.producer(db.admin, floor_producer_sql("SELECT count(*) FROM i;"), Queue.BACKLOG_SQL)
    elif variant == "minimal":  # none of onboarder's guarantees: the ceiling's table (an id, a state, one index)
        psql(db.admin, """CREATE TABLE bench_jobs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, state text NOT NULL DEFAULT 'queued');
CREATE INDEX bench_jobs_queued ON bench_jobs (id) WHERE state = 'queued';
INSERT INTO bench_jobs (state) SELECT 'queued' FROM generate_series(1, 20000);
VACUUM ANALYZE bench_jobs""")
        consumer = f"""WITH c AS (SELECT id FROM bench_jobs WHERE state = 'queued' ORDER BY id LIMIT {s.claim_batch} FOR UPDATE SKIP LOCKED),
     u AS (UPDATE bench_jobs j SET state = 'running' FROM c WHERE j.id = c.id RETURNING j.id)
SELECT coalesce('ARRAY[' || string_agg(id::text, ',') || ']', 'ARRAY[]') || '::bigint[]' AS claimed FROM u \\gset
UPDATE bench_jobs SET state = 'done' WHERE id = ANY (:claimed);
"""
        producer = q.producer(db.admin, "INSERT INTO bench_jobs (state) SELECT 'queued' FROM generate_series(1, 1000)",
                              "(SELECT max(id) FROM bench_jobs) - (SELECT min(id) FROM bench_jobs WHERE state = 'queued')")
        count = "SELECT count(*) FROM bench_jobs WHERE state = 'done'"
    else:
        consumer = floor_consumer_sql(s.claim_batch, FLOOR_EVENTS)
        producer = q.producer(db.admin, floor_producer_sql(), Queue.BACKLOG_SQL)
    consumers = q.pgbench(db.admin, consumer, "-c", str(s.floor_clients), "-j", "2", "-T", str(s.seconds + 60),
                          background=True)
    try:
        return q.succeeded_rate(db.admin, count)
    finally:
        stop(producer)
        stop(consumers)


def floor(q: Queue) -> None:
    """Onboarder beside the bare-SQL floor of its own schema, and pgqueuer: how far from its floor onboarder runs,
    and how far above that floor twice pgqueuer's rate lies."""
    s = q.s
    drains, floor_drains, pgq_drains, steadies, pgq_steadies = [], [], [], [], []
    floor_steadies: dict[str, list[int]] = {v: [] for v in FLOOR_VARIANTS}
    for r in range(1, s.repeats + 1):
        log(f"repeat {r}/{s.repeats}: drain {s.jobs} jobs (onboarder, bare SQL on its schema, pgqueuer)")
        drains.append(q.drain(limits=False)[1])
        floor_drains.append(floor_drain(q))
        pgq_drains.append(q.pgqueuer("drain", "--jobs", str(s.jobs))["jobs_per_s"])
        log(f"repeat {r}/{s.repeats}: steady {s.seconds}s with a producer (onboarder, pgqueuer, bare SQL: "
            f"{' '.join(FLOOR_VARIANTS)})")
        steadies.append(q.steady())
        pgq_steadies.append(q.pgqueuer("steady", "--seconds", str(s.seconds))["jobs_per_s"])
        for v in FLOOR_VARIANTS:
            floor_steadies[v].append(floor_steady(q, v))
    log(f"results (median of {s.repeats}, then each repeat)")
    drain, floor_drain_m, pgq_drain = median(drains), median(floor_drains), median(pgq_drains)
    steady, pgq_steady, floor_steady_m = median(steadies), median(pgq_steadies), median(floor_steadies["schema"])
    harness.table(["jobs/s", "onboarder", "bare SQL, onboarder's schema", "pgqueuer"], [
        [f"drain {s.jobs} no-op jobs", cell(drains), cell(floor_drains), cell(pgq_drains)],
        [f"steady {s.seconds}s with a producer", cell(steadies), cell(floor_steadies["schema"]), cell(pgq_steadies)],
        ["steady, bare SQL without the per-job events", "", cell(floor_steadies["no_events"]), ""],
        ["steady, bare SQL without the tenant foreign key and the two history indexes", "",
         cell(floor_steadies["no_fk_indexes"]), ""],
        ["steady, bare SQL on a two-column queue table (none of onboarder's guarantees)", "",
         cell(floor_steadies["minimal"]), ""],
    ])
    print(f"drain ratio vs schema floor: {ratio(drain, floor_drain_m)}")
    print(f"throughput ratio vs schema floor: {ratio(steady, floor_steady_m)}")
    print(f"drain ratio vs pgqueuer: {ratio(drain, pgq_drain)}")
    print(f"throughput ratio vs pgqueuer: {ratio(steady, pgq_steady)}")
    print(f"2x pgqueuer vs schema floor, drain: {ratio(2 * pgq_drain, floor_drain_m)}")
    print(f"2x pgqueuer vs schema floor, throughput: {ratio(2 * pgq_steady, floor_steady_m)}")


# MARK: profile

PERF_DATA = ".local/bench-profile.perf"


def busy_jiffies() -> tuple[int, int]:
    """The whole machine's (busy, total) CPU time from /proc/stat: user, nice, system, irq, softirq are busy."""
    fields = [int(f) for f in open("/proc/stat").readline().split()[1:8]]
    user, nice, system, idle, iowait, irq, softirq = fields
    return user + nice + system + irq + softirq, sum(fields)


def profile(q: Queue) -> None:
    """Where a drain's time goes: database time per job by statement (nested ones too), worker CPU, busy cores."""
    n = q.s.jobs
    harness.load_pg_stat_statements(q.admin)
    db = q.database("bench_profile")
    psql(db.admin, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    psql(db.admin, q.enqueue_sql(n, 5000))
    # Nested statements (the functions' own) are tracked for the worker's login in this database only: the
    # setting is a superuser's, so the harness sets it for the role rather than the worker asking for it.
    psql(db.admin, f"ALTER ROLE {harness.SERVICE_ROLE} IN DATABASE {db.name} SET pg_stat_statements.track = 'all'")
    psql(db.admin, "UPDATE onboarder.tenants SET max_running = NULL; VACUUM ANALYZE; SELECT pg_stat_statements_reset()")
    busy0, total0 = busy_jiffies()
    started = time.time()
    with q.worker(db) as worker:
        perf = start_perf() if q.s.perf else None
        q.wait_drained(db.admin, n, worker)
        ended = time.time()
        worker_cpu = worker.cpu()
    if perf:
        perf.wait()
    busy, total = busy_jiffies()
    print(f"drain of {n} no-op jobs: {rate(n, started, ended)} jobs/s; worker CPU {round(worker_cpu / n * 1e6, 1)} µs "
          f"per job; both cores {round((busy - busy0) / (total - total0) * 100)} % busy")
    print()
    harness.table(["statement (a function's own statements are listed too, and counted in its time)", "calls",
                   "µs per job", "ms per call"],
                  (line.split("|") for line in psql(db.admin, f"""SELECT '`' || left(regexp_replace(query, '\\s+', ' ', 'g'), 90) || '`',
              calls, round((total_exec_time * 1000 / {n})::numeric, 1), round(mean_exec_time::numeric, 2)
         FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND total_exec_time * 1000 / {n} >= 1 ORDER BY total_exec_time DESC LIMIT 12""").splitlines()))
    if perf and os.path.getsize(PERF_DATA):
        print(perf_summary())


def start_perf() -> subprocess.Popen:
    """BENCH_PERF=1: the whole machine's CPU samples for 3 s mid-drain (perf slows that drain, and so the rates
    above): who takes the cores, and how much of PostgreSQL's share is index insertion."""
    if subprocess.run(["which", "perf"], capture_output=True).returncode:
        harness.die("BENCH_PERF=1 needs perf (apt-get install linux-perf)")
    if os.path.exists(PERF_DATA):
        os.unlink(PERF_DATA)
    return subprocess.Popen(["sh", "-c", f"sleep 1 && exec perf record -q -a -g -o {PERF_DATA} -- sleep 3"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def perf_report(*args: str) -> list[tuple[float, list[str]]]:
    """perf report's rows as (share in %, the other fields)."""
    out = subprocess.run(["perf", "report", "-i", PERF_DATA, *args, "-q", "-g", "none"], capture_output=True,
                         text=True).stdout
    rows = []
    for line in out.splitlines():
        fields = line.split()
        if fields and fields[0].endswith("%"):
            rows.append((float(fields[0].rstrip("%")), fields[1:]))
    return rows


def perf_summary() -> str:
    # The worker's threads are named after it or its executors' queues (…default-qos); the rest is "other".
    pg = worker = other = 0.0
    for share, (comm, *_) in perf_report("--no-children", "--sort", "comm"):
        if comm == "postgres":
            pg += share
        elif comm == "onboarder" or "qos" in comm:
            worker += share
        elif comm != "swapper":
            other += share
    text = (f"\nperf, whole machine, 3 s mid-drain: PostgreSQL {pg:.0f} %, worker {worker:.0f} %, other {other:.0f} %, "
            f"idle {max(0.0, 100 - pg - worker - other):.0f} % of the samples")
    for share, fields in perf_report("--children", "--comm", "postgres", "--percentage", "relative", "--sort", "sym"):
        if fields[-1] == "ExecInsertIndexTuples":
            return text + f"; index insertion (ExecInsertIndexTuples) {share:.0f} % of PostgreSQL's"
    return text
