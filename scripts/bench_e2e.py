"""scripts/bench e2e: customers through the whole pipeline (both paths) against onboarder-sim with a fixed
latency per call, at several total concurrencies on one and on three worker processes; then the same with
Graph's write throttling on (scaled down so it bites). Run through `scripts/bench e2e`, which builds the
release binaries and starts the benchmark's PostgreSQL. The workers run as the service login, enqueue as an
MSP staff login.

Each onboarding waits for its technician (the PBX's certificate, secret and sign-in, then `handover done`):
scripts/technician.py plays that part during the run, as promptly as it can (a round every second), sharing the
machine with what is measured.

Per run: wall time beside the lower bound (tenants × calls per tenant × latency ÷ concurrency), calls per
tenant, peak RSS per worker process and per in-flight onboarding, CPU seconds per tenant of the workers,
the simulator and PostgreSQL, PostgreSQL statements per tenant, 429s provoked per tenant; and apart from the
bound, the hand-over wait: how long jobs waited for the technician (sampled every half second). A waiting job
holds no slot, so the wait lengthens the wall only where no other job could use the slot (the last customers).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field

import harness
import technician
from harness import log, psql


def unpaced(env: dict) -> dict:
    """The workers without the per-partner-app write pace (`partner.writes_per_second`, default 100): the
    benchmark measures what orchestration costs against the latency bound, and Graph's per-app quota, which
    that pace keeps under, would hold one partner app to about 7 customers a second whatever the machine
    (BENCHMARKS.md, "Scale beyond one machine"). The simulator does not enforce the quota unless told to."""
    return {**env, "ONBOARDER_PARTNER_WRITES_PER_SECOND": "0"}

def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench e2e")
    parser.add_argument("--onboarder", required=True)
    parser.add_argument("--sim", required=True)
    parser.add_argument("--admin-url", required=True)
    parser.add_argument("--tenants", type=int, default=10000)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--runs", default="50:1 50:3 200:1 200:3 500:1 500:3",
                        help="concurrency:workers pairs; concurrency is the total over the workers")
    parser.add_argument("--throttled", default="500:3", help="the run repeated with throttling on ('' skips it)")
    parser.add_argument("--profile", default="200:1", help="the run whose worker perf profiles ('' skips it)")
    parser.add_argument("--log", default=".local/bench-e2e-worker.log")
    parser.add_argument("--baseline", default="",
                        help="the release folder of another build: each run also with its worker, simulator and CLI, "
                             "alternating with this build's, --repeats times")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--top-statements", type=int, default=0,
                        help="print the N statements that took most of PostgreSQL's time in each run, and its "
                             "statement time by login (workers, technician, the benchmark's sampler)")
    parser.add_argument("--technicians", type=int, default=8,
                        help="customers the technician plays at once (its threads): how many people stand at PBXs")
    return parser.parse_args(argv)


args: argparse.Namespace  # set by main()

# Graph's identity write limits (the simulator's defaults: 3,000 per 150 s per app and tenant, 18,000 per
# 5 minutes per tenant) scaled by 1/300 in count and 1/30 in time — a tenth of the rate — so that one
# onboarding's ~25 writes meet them.
THROTTLE = {"throttle_writes": 10, "throttle_window_s": 5, "throttle_tenant_writes": 60,
            "throttle_tenant_window_s": 10}


def idle_memory_kib() -> tuple[int, int]:
    """A worker's (resident, anonymous) memory with nothing to do: the base the per-onboarding figure is above."""
    work = harness.workdir("onboarder-e2e-idle-")
    sim = harness.world_simulator(args.sim, work, 1, {})
    db = harness.fresh_db(args.admin_url, "bench_e2e", args.onboarder)
    worker = harness.Worker(args.onboarder, unpaced(harness.onboarder_env(args.onboarder, sim, db)), 100, args.log)
    time.sleep(3)
    rss = worker.rss_kib(), harness.status_kib(worker.pid, "RssAnon")
    worker.terminate()
    sim.stop()
    shutil.rmtree(work, ignore_errors=True)  # it holds a key file
    return rss


def profile(pid: int, seconds: int = 20) -> str:
    """Where one worker's CPU goes: perf samples by shared object and by symbol."""
    out = f"/tmp/onboarder-e2e-{pid}.perf"
    subprocess.run(["perf", "record", "-F", "499", "-g", "-p", str(pid), "-o", out, "--", "sleep", str(seconds)],
                   capture_output=True)
    lines = []
    for sort in ("dso", "sym"):
        result = subprocess.run(["perf", "report", "-i", out, "--no-children", "--sort", sort, "--stdio", "-g", "none"],
                                capture_output=True, text=True)
        rows = [line for line in result.stdout.splitlines() if line.strip() and not line.startswith("#")
                and "%" in line.split()[0]][:12]
        if not rows:  # say why instead of printing an empty profile (seen once; the file is kept)
            rows = [f"(no samples read: {result.stderr.strip()[-200:]}; perf report -i {out})"]
        lines.append(f"  worker CPU by {sort}:")
        lines += ["    " + row.strip() for row in rows]
    text = "\n".join(lines)
    try:
        text = subprocess.run(["swift", "demangle", "--simplified"], input=text, capture_output=True,
                              text=True).stdout or text
    except OSError:
        pass
    return text


@dataclass
class Run:
    """One run's plan and, once it ran, what it measured."""

    concurrency: int
    workers: int
    throttled: bool
    wall: float = 0.0
    bound: float = 0.0
    calls: int = 0  # every request the simulator served
    slow: int = 0  # of them Graph and token requests, the ones with the simulated latency
    graph_writes: int = 0
    throttled_429: int = 0
    throttled_again: int = 0
    worker_cpu: float = 0.0
    sim_cpu: float = 0.0
    pg_cpu: float = 0.0
    statements: int | None = None
    top_statements: str = ""
    time_by_login: str = ""
    outcome: dict[str, str] = field(default_factory=dict)
    profile: str | None = None
    in_flight: float = 0.0  # onboardings running, on average
    peaks_kib: list[int] = field(default_factory=list)  # peak resident memory per worker
    anon_kib: list[int] = field(default_factory=list)  # peak anonymous memory per worker: heap and stacks
    handover: harness.HandoverWait = field(default_factory=harness.HandoverWait)  # waits for the technician
    technician_rounds: int = 0
    left: int | None = None  # jobs queued, running or waiting at the last sample (None: not sampled yet)
    technician_spent: str = ""  # technician.Spent.summary()
    harness_cpu: float = 0.0  # this Python process's CPU: the technician's threads and the samplers
    build: str = ""  # "" this build, else "baseline" (--baseline)

    @property
    def label(self) -> str:
        text = f"concurrency {self.concurrency}, {self.workers} worker{'s' if self.workers > 1 else ''}"
        return text + (", throttled" if self.throttled else "") + (f", {self.build}" if self.build else "")


def worker_shares(concurrency: int, workers: int) -> list[int]:
    """The total concurrency split over the workers, the first ones taking the remainder."""
    return [concurrency // workers + (1 if i < concurrency % workers else 0) for i in range(workers)]


def watch(run: Run, db: harness.Database, procs: list[harness.Worker], started: float) -> None:
    """Until no job is left: samples the jobs running, those waiting for the technician and each worker's
    anonymous memory every half second, and profiles the first worker once, 20 s in, when this is the run to
    profile."""
    in_flight = []
    run.anon_kib = [0] * len(procs)
    while True:
        # Each by its partial index (jobs_running, jobs_claimable): the benchmark's samples share PostgreSQL, and
        # its CPU, with what they measure, and a scan of the whole jobs table reads its dead rows too.
        running, other = (int(x) for x in psql(
            db.admin, "SELECT (SELECT count(*) FROM onboarder.jobs WHERE state = 'running'), "
                      "(SELECT count(*) FROM onboarder.jobs WHERE state IN ('queued', 'waiting'))").split("|"))
        run.left = running + other
        if not run.left:
            break
        in_flight.append(running)
        run.handover.sample(db.admin)
        for i, p in enumerate(procs):
            run.anon_kib[i] = max(run.anon_kib[i], harness.status_kib(p.pid, "RssAnon"))
        if not run.profile and f"{run.concurrency}:{run.workers}" == args.profile and not run.throttled \
                and time.time() - started > 20:
            run.profile = profile(procs[0].pid)
        time.sleep(0.5)
    run.in_flight = sum(in_flight) / max(1, len(in_flight))


def measure(run: Run) -> Run:
    work = harness.workdir("onboarder-e2e-")
    faults = {"seed": 7, "latency_ms": args.latency_ms, **(THROTTLE if run.throttled else {})}
    sim = harness.world_simulator(args.sim, work, args.tenants, faults)
    db = harness.fresh_db(args.admin_url, "bench_e2e", args.onboarder)
    env = unpaced(harness.onboarder_env(args.onboarder, sim, db))
    msps = harness.enqueue_customers(args.onboarder, env, db, sim, args.tenants, msps=3)
    player = harness.technician(args.onboarder, env, db, sim, msps, cooldown=20, threads=args.technicians)
    harness.analyze_filled(db.admin)
    statements = harness.statements_loaded(args.admin_url)
    if statements:
        psql(db.admin, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()")
    before = sim.stats()
    sim_cpu0, pg_cpu0 = sim.cpu(), harness.postgres_cpu(args.admin_url)
    started = time.time()
    procs = [harness.Worker(args.onboarder, env, share, args.log) for share in worker_shares(run.concurrency, run.workers)]
    # The technician stops when the samples below see no job left.
    hands = technician.TechnicianThread(player, lambda: run.left == 0, pause=1.0)
    harness_cpu0 = time.process_time()
    hands.start()
    watch(run, db, procs, started)
    run.wall = time.time() - started
    hands.halt()
    run.harness_cpu = time.process_time() - harness_cpu0
    run.technician_rounds = player.rounds
    run.technician_spent = player.spent.summary()
    run.worker_cpu = sum(p.cpu() for p in procs)
    run.peaks_kib = [p.peak_rss_kib() for p in procs]
    run.sim_cpu, run.pg_cpu = sim.cpu() - sim_cpu0, harness.postgres_cpu(args.admin_url) - pg_cpu0
    for p in procs:
        p.terminate()
    after = sim.stats()
    run.calls, run.slow, run.graph_writes = harness.call_counts(before, after)
    run.throttled_429 = after.get("throttled", 0) - before.get("throttled", 0)
    run.throttled_again = after.get("throttled again", 0) - before.get("throttled again", 0)
    run.outcome = dict(line.split("|") for line in psql(
        db.admin, "SELECT state, count(*) FROM onboarder.jobs GROUP BY 1").splitlines())
    if statements:
        run.statements = int(psql(db.admin, """SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
                                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                                   AND query NOT LIKE '%pg_stat_statements%'"""))
        if args.top_statements:
            # Where PostgreSQL's time went, per customer: the statements that took most of it.
            run.top_statements = psql(db.admin, f"""
                SELECT round((total_exec_time / {args.tenants})::numeric, 2) || ' ms, ' ||
                       round((calls::numeric / {args.tenants}), 1) || ' calls | ' ||
                       left(regexp_replace(query, '\\s+', ' ', 'g'), 110)
                  FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                 ORDER BY total_exec_time DESC LIMIT {args.top_statements}""")
            # And by login: the workers (the service login, which the technician's sheet also uses), the
            # technician's operator logins, the benchmark's own sampler (the superuser).
            run.time_by_login = psql(db.admin, f"""
                SELECT r.rolname || ' ' || round((sum(s.total_exec_time) / {args.tenants})::numeric, 2) || ' ms, ' ||
                       round((sum(s.calls)::numeric / {args.tenants}), 1) || ' statements'
                  FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
                 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND s.query NOT LIKE '%pg_stat_statements%'
                 GROUP BY r.rolname ORDER BY sum(s.total_exec_time) DESC""")
    sim.stop()
    shutil.rmtree(work, ignore_errors=True)  # it holds the run's key file
    run.bound = run.slow * args.latency_ms / 1000 / run.concurrency
    return run


def per_flight_kib(run: Run, idle_anon_kib: int) -> float:
    """Anonymous memory per in-flight onboarding above what the idle workers hold."""
    return (sum(run.anon_kib) - run.workers * idle_anon_kib) / run.concurrency


def report(r: Run, idle: int) -> None:
    """One run's lines, as soon as it ended (a long benchmark shows its progress)."""
    n, cores = args.tenants, os.cpu_count() or 1
    busy = r.worker_cpu + r.sim_cpu + r.pg_cpu
    print(f"wall/bound ratio: {r.wall / r.bound:.2f}x ({r.label})", flush=True)
    print(f"  {r.wall:.0f} s wall, bound {r.bound:.0f} s; {r.calls / n:.1f} calls per tenant "
          f"({r.slow / n:.1f} Graph and token, of them {r.graph_writes / n:.1f} Graph writes; the rest PBX and DNS); "
          f"outcome {r.outcome}; {r.in_flight:.0f} onboardings running on average", flush=True)
    print(f"  hand-over wait (not in the bound): {r.handover.summary(n)} ({r.technician_rounds} technician rounds)",
          flush=True)
    print(f"  the technician: {r.technician_spent}; this harness's own CPU (the technician's threads, the samplers) "
          f"{r.harness_cpu:.1f} s", flush=True)
    print(f"  memory: peak {max(r.peaks_kib) / 1024:.0f} MiB resident per worker (shared libraries' pages included), "
          f"{max(r.anon_kib) / 1024:.0f} MiB anonymous; {per_flight_kib(r, idle):.0f} KiB per in-flight onboarding "
          f"above an idle worker's {idle / 1024:.0f} MiB anonymous", flush=True)
    print(f"  CPU per tenant: worker {r.worker_cpu / n * 1000:.1f} ms, simulator {r.sim_cpu / n * 1000:.1f} ms, "
          f"PostgreSQL {r.pg_cpu / n * 1000:.1f} ms = {busy / (r.wall * cores) * 100:.0f}% of {cores} cores", flush=True)
    if r.statements is not None:
        print(f"  PostgreSQL statements per tenant: {r.statements / n:.0f}", flush=True)
    if r.time_by_login:
        print("  PostgreSQL's statement time per tenant, by login: " + "; ".join(r.time_by_login.splitlines()),
              flush=True)
    if r.top_statements:
        print("  PostgreSQL's time per tenant, by statement:\n" + "\n".join(f"    {line}" for line in r.top_statements.splitlines()),
              flush=True)
    if r.throttled:
        print(f"  429s provoked per tenant: {r.throttled_429 / n:.2f} "
              f"(of them after a Retry-After in the same window: {r.throttled_again})", flush=True)
    if r.profile:
        print(r.profile, flush=True)


def summary(results: list[Run], idle: int) -> None:
    n = args.tenants
    print()
    harness.table(["concurrency", "workers", "throttling", "wall, s", "bound, s", "wall / bound", "calls per tenant",
                   "429s per tenant", "peak RSS per worker, MiB", "peak anonymous, MiB", "KiB per in-flight onboarding",
                   "CPU ms per tenant: worker / sim / PostgreSQL", "statements per tenant",
                   "hand-over wait per waiting job, s: median / p90 / max"],
                  ([f"{r.concurrency}{' (baseline)' if r.build else ''}", r.workers,
                    "scaled Graph limits" if r.throttled else "off", f"{r.wall:.0f}",
                    f"{r.bound:.0f}", f"{r.wall / r.bound:.2f}x", f"{r.calls / n:.1f}", f"{r.throttled_429 / n:.2f}",
                    f"{max(r.peaks_kib) / 1024:.0f}", f"{max(r.anon_kib) / 1024:.0f}", f"{per_flight_kib(r, idle):.0f}",
                    f"{r.worker_cpu / n * 1000:.1f} / {r.sim_cpu / n * 1000:.1f} / {r.pg_cpu / n * 1000:.1f}",
                    f"{r.statements / n:.0f}" if r.statements is not None else "n/a",
                    handover_cell(r)] for r in results))
    ones = sorted((r for r in results if r.workers == 1 and not r.throttled and not r.build), key=lambda r: r.concurrency)
    if len(ones) >= 2 and ones[-1].concurrency > ones[0].concurrency:
        lo, hi = ones[0], ones[-1]
        slope = (max(hi.anon_kib) - max(lo.anon_kib)) / (hi.concurrency - lo.concurrency)
        print(f"\nmemory per in-flight onboarding, 1 worker, peak anonymous memory from concurrency "
              f"{lo.concurrency} to {hi.concurrency}: {slope:.0f} KiB")


def handover_cell(r: Run) -> str:
    """The hand-over wait of one run for the summary table: median / p90 / max over the jobs that waited."""
    waits = sorted(r.handover.seconds.values())
    if not waits:
        return "none"
    p90 = waits[min(len(waits) - 1, int(0.9 * len(waits)))]
    return f"{waits[len(waits) // 2]:.0f} / {p90:.0f} / {waits[-1]:.0f}"


def plan() -> list[Run]:
    runs = [Run(int(c), int(w), False) for c, w in (r.split(":") for r in args.runs.split())]
    if args.throttled:
        c, w = args.throttled.split(":")
        runs.append(Run(int(c), int(w), True))
    return runs


def main(argv: list[str]) -> None:
    global args
    args = parse(argv)
    log(f"e2e: {args.tenants} customers (half Microsoft 365, half Teams), {args.latency_ms} ms per call")
    idle_total, idle = idle_memory_kib()
    log(f"an idle worker: {idle_total / 1024:.1f} MiB resident, of it {idle / 1024:.1f} MiB anonymous")
    results = []
    for planned in plan():
        for _ in range(args.repeats if args.baseline else 1):
            builds = [("baseline", args.baseline), ("", "")] if args.baseline else [("", "")]
            for build, folder in builds:
                run = Run(planned.concurrency, planned.workers, planned.throttled, build=build)
                log(f"run: {run.label}")
                results.append(with_build(folder, lambda: measure(run)))
                report(run, idle)
    summary(results, idle)
    if args.baseline:
        against_baseline(results)


def with_build(folder: str, body):
    """Runs `body` with another build's onboarder and onboarder-sim (folder), or this build's ("")."""
    if not folder:
        return body()
    ours = (args.onboarder, args.sim)
    args.onboarder, args.sim = f"{folder}/onboarder", f"{folder}/onboarder-sim"
    try:
        return body()
    finally:
        args.onboarder, args.sim = ours


def against_baseline(results: list[Run]) -> None:
    """This build's CPU per customer and wall time against the baseline's, medians over the repeats of each run."""
    n = args.tenants
    print()
    for key in sorted({(r.concurrency, r.workers, r.throttled) for r in results}):
        same = [r for r in results if (r.concurrency, r.workers, r.throttled) == key]
        ours = [r for r in same if not r.build]
        theirs = [r for r in same if r.build]
        for name, value in (("worker CPU per customer", lambda r: r.worker_cpu), ("simulator CPU per customer", lambda r: r.sim_cpu),
                            ("PostgreSQL CPU per customer", lambda r: r.pg_cpu),
                            ("CPU per customer, all three", lambda r: r.worker_cpu + r.sim_cpu + r.pg_cpu),
                            ("wall", lambda r: r.wall)):
            a, b = (statistics.median(value(r) for r in group) for group in (ours, theirs))
            unit = "s" if name == "wall" else "ms"
            scale = 1 if name == "wall" else 1000 / n
            print(f"{name} vs the baseline ({ours[0].label}): {harness.ratio(a, b)} "
                  f"({a * scale:.1f} against {b * scale:.1f} {unit})")
