"""scripts/bench onboard and enqueue: the onboarding pipeline through one worker against a simulator with a
fixed latency per call, and `onboarder enqueue` of a large file with every dashboard view over the result.
Run through `scripts/bench`. The worker runs as the service login, enqueue as an MSP staff login.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import harness
import technician
from harness import psql, rate

WORKER_LOG = ".local/bench-worker.log"


def onboard(admin_url: str, bin_dir: str) -> None:
    """N tenants per path through one worker at concurrency C, L ms per Graph call: wall time beside the bound.
    The technician (scripts/technician.py) hands over each PBX's certificate, secret and sign-in meanwhile; the
    time jobs waited for it is printed apart from the bound."""
    n = int(os.environ.get("BENCH_TENANTS", 1000))
    c = int(os.environ.get("BENCH_ONBOARD_CONCURRENCY", 100))
    latency = int(os.environ.get("BENCH_LATENCY_MS", 100))
    # `generate` (an Onboarder-made certificate, for an app nothing but Onboarder signs in with) is still
    # accepted: BENCH_RUNS="m365:generate …".
    runs = os.environ.get("BENCH_RUNS", "m365:pbx teams:pbx").split()
    harness.table(["path", "certificate", "tenants", "concurrency", "latency per call", "calls per tenant",
                   "lower bound, s", "wall, s", "wall / bound", "worker CPU per tenant, ms", "worker peak RSS, MiB"], [])
    for run in runs:
        path, source = run.split(":")
        onboard_run(admin_url, bin_dir, path, source, n, c, latency)


def onboard_run(admin_url: str, bin_dir: str, path: str, source: str, n: int, c: int, latency: int) -> None:
    """One row of the table; the stderr lines say the ratio and where the CPU went."""
    onboarder = f"{bin_dir}/onboarder"
    work = harness.workdir("onboarder-bench-onboard-")
    sim = harness.world_simulator(f"{bin_dir}/onboarder-sim", work, n, {"latency_ms": latency})
    try:
        db = harness.fresh_db(admin_url, "bench_onboard", onboarder)
        env = {**harness.onboarder_env(onboarder, sim, db), "ONBOARDER_ONBOARDING_CERTIFICATE_SOURCE": source}
        msps = harness.enqueue_customers(onboarder, env, db, sim, n, paths=(path,))
        player = harness.technician(onboarder, env, db, sim, msps, cooldown=20, threads=8)
        before = sim.stats()
        sim_cpu0, pg_cpu0 = sim.cpu(), harness.postgres_cpu(admin_url)
        started = time.time()
        worker = harness.Worker(onboarder, env, c, WORKER_LOG)
        hands = technician.TechnicianThread(player, lambda: harness.unfinished(db.admin) == 0, pause=1.0)
        hands.start()
        handover = harness.HandoverWait()
        while harness.unfinished(db.admin):
            handover.sample(db.admin)
            time.sleep(0.2)
        ended = time.time()
        hands.halt()
        cpu, rss = worker.cpu(), worker.peak_rss_kib() // 1024
        sim_cpu, pg_cpu = sim.cpu() - sim_cpu0, harness.postgres_cpu(admin_url) - pg_cpu0
        worker.terminate()
        succeeded = int(psql(db.admin, "SELECT count(*) FROM onboarder.jobs WHERE state LIKE 'succeeded%'"))
        if succeeded != n:
            print(f"warning: only {succeeded} of {n} onboardings succeeded", file=sys.stderr)
        calls = harness.call_counts(before, sim.stats())[0]
    finally:
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)
    per = calls / n
    bound = n * per * latency / 1000 / c
    wall = ended - started
    print(f"| {path} | {source} | {n} | {c} | {latency} ms | {per:.1f} | {bound:.1f} | {wall:.1f} | {wall / bound:.2f}x "
          f"| {cpu / n * 1000:.1f} | {rss} |", flush=True)
    print(f"wall/bound ratio: {wall / bound:.2f}x (concurrency {c}, 1 worker, {path}, certificate {source})",
          file=sys.stderr)
    busy, cores = cpu + sim_cpu + pg_cpu, os.cpu_count() or 1
    print(f"  where the CPU went: worker {cpu:.1f} s, simulator {sim_cpu:.1f} s, PostgreSQL {pg_cpu:.1f} s"
          f" = {busy / (wall * cores) * 100:.0f}% of {cores} cores for {wall:.0f} s", file=sys.stderr)
    print(f"  hand-over wait (not in the bound): {handover.summary(n)}", file=sys.stderr)


def rows_csv(path: str, n: int) -> list[str]:
    """An enqueue file of n customers over 20 MSPs, a third on Teams, some with users; returns the MSPs."""
    with open(path, "w") as out:
        out.write("msp,tenant,display_name,path,pbx_url,pbx_client_id,pbx_secret,redirect_uri,sbc_domain,users,priority\n")
        for i in range(n):
            path_ = "teams" if i % 3 == 0 else "m365"
            users = f"alice@c{i}.example.com;bob@c{i}.example.com" if path_ == "m365" and i % 5 == 0 else ""
            out.write(f'msp{i % 20},c{i}.example.com,"Customer {i}, Inc.",{path_},https://pbx{i}.example.com,onboarder,'
                      f"env:PBX_SECRET_{i % 20},,,{users},{i % 3}\n")
    return [f"msp{m}" for m in range(min(n, 20))]


# A mixed-state fixture: most finished, some waiting, running, stopped; steps, events and credentials.
VIEWS_FIXTURE = """
INSERT INTO onboarder.workers (id, host, pid, concurrency, version) VALUES ('bench-w', 'h', 1, 100, 'bench');
UPDATE onboarder.jobs SET state = 'succeeded', started_at = now() - interval '1 hour', finished_at = now() - (id % 120) * interval '1 minute'
 WHERE id % 10 < 7;
UPDATE onboarder.jobs SET state = 'waiting', wait_reason = CASE WHEN id % 2 = 0 THEN 'throttled' ELSE 'retry' END,
       run_at = now() + interval '1 minute', current_step = 'consent' WHERE id % 10 = 7;
UPDATE onboarder.jobs SET state = 'needs_attention', attention = 'The partner app has not been consented in this tenant.',
       attention_at = now() - (id % 120) * interval '1 minute',
       current_step = 'resolve-tenant' WHERE id % 10 = 8 AND id % 20 = 8;
UPDATE onboarder.jobs SET state = 'running', worker_id = 'bench-w' WHERE id % 1000 = 9;
INSERT INTO onboarder.job_steps (job_id, step, state, started_at, finished_at)
SELECT j.id, s, 'done', now() - interval '30 minutes', now() - interval '30 minutes' + random() * interval '20 seconds'
  FROM onboarder.jobs j, unnest(ARRAY['resolve-tenant','app-registration','service-principal','consent','client-secret']) s
 WHERE j.state = 'succeeded';
INSERT INTO onboarder.events (job_id, kind, at, detail)
SELECT id, 'rescheduled', now() - interval '10 minutes', jsonb_build_object('wait_reason', wait_reason)
  FROM onboarder.jobs WHERE state = 'waiting';
INSERT INTO onboarder.credentials (tenant_id, kind, source, state, key_id, display_name, sealed, expires_at)
SELECT tenant_id, 'password', 'addPassword', 'active', gen_random_uuid(), 'PBX Secret · onboarder',
       'og1.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', now() + (id % 730) * interval '1 day'
  FROM onboarder.jobs WHERE state = 'succeeded';
-- 5,000 onboardings at the technician's hand-over (the sheet, dashboard.handover_waiting), each with the events
-- an onboarding has there (about 30, written a step at a time for every job at once, as concurrent workers
-- interleave them), its wait for input and the PBX check that began it.
UPDATE onboarder.jobs SET state = 'waiting', wait_reason = 'input', run_at = 'infinity', current_step = 'verify'
 WHERE id % 20 = 18;
INSERT INTO onboarder.job_steps (job_id, step, state, started_at)
SELECT id, 'verify', 'running', now() - interval '20 minutes' FROM onboarder.jobs WHERE current_step = 'verify';
INSERT INTO onboarder.events (job_id, kind, step, at, detail)
SELECT j.id, CASE e.k WHEN 27 THEN 'handover_check' WHEN 28 THEN 'rescheduled' ELSE 'step_done' END,
       CASE WHEN e.k >= 27 THEN 'verify' ELSE 'step' || e.k END, now() - interval '30 minutes' + e.k * interval '20 seconds',
       CASE e.k WHEN 27 THEN '{"certificate_needed": false}'::jsonb WHEN 28 THEN '{"wait_reason": "input"}'::jsonb END
  FROM generate_series(1, 28) AS e(k), onboarder.jobs j
 WHERE j.current_step = 'verify'
 ORDER BY e.k, j.id;
VACUUM ANALYZE;
"""
VIEWS = ["queue_overview", "tenant_status", "needs_attention", "step_latency", "throttling", "credentials_expiry",
         "workers", "recent_failures", "tenant_status WHERE msp = 'msp3'",
         "tenant_status WHERE tenant = 'c4242.example.com'", "credentials_expiry WHERE days_left < 30",
         "handover_waiting"]


def view_times(db: harness.Database, onboarder: str, rows: str, msps: list[str]) -> dict[str, float]:
    """Each dashboard view's execution time, ms (EXPLAIN ANALYZE, best of 3), over `rows` enqueued by
    `onboarder` as an MSP staff login (unless the database holds them already) and VIEWS_FIXTURE."""
    if psql(db.admin, "SELECT count(*) FROM onboarder.jobs") == "0":
        env = {**os.environ, "ONBOARDER_DATABASE_URL": harness.staff_login(db, "bench_enqueuer", "onboarder_enqueuer", msps)}
        timed([onboarder, "enqueue", "--no-resolve", rows], env)
    psql(db.admin, VIEWS_FIXTURE)
    return {view: min(json.loads(psql(db.admin, f"EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM dashboard.{view}"))[0]
                      ["Execution Time"] for _ in range(3)) for view in VIEWS}


def enqueue_against(admin_url: str, onboarder: str, baseline: str, rows: str, n: int, msps: list[str]) -> None:
    """The write against another build's (BENCH_BASELINE: the folder of its release binaries), alternating,
    BENCH_REPEATS times (default 3), each on a fresh database its own build migrated: medians and each repeat."""
    repeats = int(os.environ.get("BENCH_REPEATS", 3))
    rates: dict[str, list[int]] = {"this build": [], "baseline": []}
    for _ in range(repeats):
        for name, binary in (("baseline", baseline), ("this build", onboarder)):
            db = harness.fresh_db(admin_url, "bench_enqueue", binary)
            env = {**os.environ,
                   "ONBOARDER_DATABASE_URL": harness.staff_login(db, "bench_enqueuer", "onboarder_enqueuer", msps)}
            rates[name].append(rate(n, 0, timed([binary, "enqueue", "--no-resolve", rows], env)))
    print()
    harness.table(["onboarder enqueue of the same file, rows/s", "this build", "baseline"],
                  [["median (each repeat)", harness.cell(rates["this build"]), harness.cell(rates["baseline"])]])
    print(f"enqueue ratio vs the baseline: {harness.ratio(harness.median(rates['this build']), harness.median(rates['baseline']))}")


# The rows of rows_csv, staged in a table of their own: what any enqueue must write, and nothing else.
FLOOR_STAGE = """
INSERT INTO onboarder.msps (id, display_name) SELECT 'msp' || m, 'msp' || m FROM generate_series(0, 19) m;
CREATE UNLOGGED TABLE public.staged AS
SELECT i, 'msp' || (i % 20) AS msp, format('c%s.example.com', i) AS tenant_key, (i % 3) AS priority,
       jsonb_strip_nulls(jsonb_build_object(
           'path', CASE WHEN i % 3 = 0 THEN 'teams' ELSE 'm365' END, 'display_name', format('Customer %s, Inc.', i),
           'pbx_url', format('https://pbx%s.example.com', i), 'pbx_client_id', 'onboarder',
           'pbx_secret', format('env:PBX_SECRET_%s', i % 20),
           'users', CASE WHEN i % 3 <> 0 AND i % 5 = 0
                         THEN jsonb_build_array(format('alice@c%s.example.com', i), format('bob@c%s.example.com', i)) END))
           AS payload
  FROM generate_series(0, :n - 1) i;
VACUUM ANALYZE public.staged;
CHECKPOINT;
"""
# One transaction, as the enqueue's: the customers, their jobs, an event per job. ON CONFLICT as the enqueue's
# dedupe needs it (every unique index checked before each row goes in), or plain.
FLOOR_WRITE = """
BEGIN;
INSERT INTO onboarder.tenants (msp_id, tenant_key) SELECT msp, tenant_key FROM public.staged ORDER BY i {conflict};
WITH jobs AS (
    INSERT INTO onboarder.jobs (kind, msp_id, tenant_id, payload, priority, run_at, state)
    SELECT 'onboard', s.msp, t.id, s.payload, s.priority, now(), 'queued'
      FROM public.staged s JOIN onboarder.tenants t ON t.msp_id = s.msp AND t.tenant_key = s.tenant_key
     ORDER BY s.i {conflict}
    RETURNING id)
INSERT INTO onboarder.events (job_id, kind, actor) SELECT id, 'enqueued', 'bench' FROM jobs;
COMMIT;
"""


def write_floor(admin_url: str, onboarder: str, n: int) -> dict[str, float]:
    """Seconds to write n rows' customers, jobs and events by bare SQL from a staged table (no checks, no
    parsing, no transfer), on a fresh database of this build's schema each: the least any enqueue can take."""
    seconds = {}
    for name, conflict in (("plain", ""), ("on conflict", "ON CONFLICT DO NOTHING")):
        db = harness.fresh_db(admin_url, "bench_enqueue_floor", onboarder)
        psql(db.admin, FLOOR_STAGE, ("n", str(n)))
        started = time.time()
        psql(db.admin, FLOOR_WRITE.replace("{conflict}", conflict))
        seconds[name] = time.time() - started
    return seconds


def timed(command: list[str], env: dict) -> float:
    started = time.time()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.time() - started


def enqueue(admin_url: str, bin_dir: str) -> None:
    """`onboarder enqueue` of BENCH_ROWS CSV rows (as an MSP staff login), then each dashboard view's time."""
    n = int(os.environ.get("BENCH_ROWS", 100000))
    top = int(os.environ.get("BENCH_ENQUEUE_TOP_STATEMENTS", 0))
    onboarder = f"{bin_dir}/onboarder"
    work = harness.workdir("onboarder-bench-enqueue-")
    try:
        msps = rows_csv(f"{work}/rows.csv", n)
        if top:
            harness.load_pg_stat_statements(admin_url)
        db = harness.fresh_db(admin_url, "bench_views", onboarder)
        if top:
            # The statements inside enqueue_many too (nested), for this database's sessions; tracking them
            # slows the write a little, which the rate below then includes.
            psql(db.admin, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            psql(db.admin, f"ALTER DATABASE {db.name} SET pg_stat_statements.track = 'all'")
        env = {**os.environ, "ONBOARDER_DATABASE_URL": harness.staff_login(db, "bench_enqueuer", "onboarder_enqueuer", msps)}
        # --no-resolve: the rows name made-up domains, and this measures parsing, checks and the write.
        dry_run = [onboarder, "enqueue", "--dry-run", "--no-resolve", f"{work}/rows.csv"]
        timed(dry_run, env)  # the first run warms the page cache and the binary
        parse = timed(dry_run, env)
        if top:
            psql(db.admin, "SELECT pg_stat_statements_reset()")
        write = timed([onboarder, "enqueue", "--no-resolve", f"{work}/rows.csv"], env)
        harness.table(["measurement", "value"], [
            ["onboarder enqueue --dry-run (parse + validate), rows/s", rate(n, 0, parse)],
            ["onboarder enqueue (parse + validate + write, one transaction), rows/s", rate(n, 0, write)],
        ])
        if top:
            # Where PostgreSQL's time went, per row: the statements (the functions' own included) that took most.
            print("PostgreSQL's time per row, by statement:")
            print("\n".join("  " + line for line in psql(db.admin, f"""
                SELECT round((total_exec_time * 1000 / {n})::numeric, 1) || ' µs, ' || calls || ' calls | ' ||
                       left(regexp_replace(query, '\s+', ' ', 'g'), 110)
                  FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND query NOT LIKE '%pg_stat_statements%'
                 ORDER BY total_exec_time DESC LIMIT {top}""").splitlines()))
        floor = write_floor(admin_url, onboarder, n)
        print()
        harness.table(["the same rows written by bare SQL, rows/s (the write floor of the schema)", "value"], [
            ["tenants, jobs and events: plain INSERT ... SELECT", rate(n, 0, floor["plain"])],
            ["the same with ON CONFLICT DO NOTHING, as an enqueue must", rate(n, 0, floor["on conflict"])],
        ])
        print(f"enqueue vs its write floor (ON CONFLICT): {harness.ratio(floor['on conflict'], write)}")
        baseline = os.environ.get("BENCH_BASELINE")
        if baseline:
            enqueue_against(admin_url, onboarder, f"{baseline}/onboarder", f"{work}/rows.csv", n, msps)
        times = view_times(db, onboarder, f"{work}/rows.csv", msps)
        # With a baseline, the same fixture over its own schema and views (its own enqueue, its own database).
        before = view_times(harness.fresh_db(admin_url, "bench_views_baseline", f"{baseline}/onboarder"),
                            f"{baseline}/onboarder", f"{work}/rows.csv", msps) if baseline else {}
        print()
        harness.table(["view (100,000 jobs, 70,000 credentials, 350,000 steps, 5,000 at the hand-over)",
                       "execution time, ms (EXPLAIN ANALYZE, best of 3)"] + (["the baseline's, ms"] if before else []),
                      [[f"`{view}`", round(times[view], 1)] + ([round(before[view], 1)] if before else [])
                       for view in VIEWS])
    finally:
        shutil.rmtree(work, ignore_errors=True)
