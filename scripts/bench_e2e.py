"""scripts/bench e2e: customers through the whole pipeline (both paths) against onboarder-sim with a fixed
latency per call, at several total concurrencies on one and on three worker processes; then the same with
Graph's write throttling on (scaled down so it bites). Run through `scripts/bench e2e`, which builds the
release binaries and starts the benchmark's PostgreSQL. The workers run as the service login, enqueue as an
MSP staff login.

Per run: wall time beside the lower bound (tenants × calls per tenant × latency ÷ concurrency), calls per
tenant, peak RSS per worker process and per in-flight onboarding, CPU seconds per tenant of the workers,
the simulator and PostgreSQL, PostgreSQL statements per tenant, 429s provoked per tenant.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import time

import harness
from harness import log, psql


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
    return parser.parse_args(argv)


args: argparse.Namespace  # set by main()

# Graph's identity write limits (the simulator's defaults: 3,000 per 150 s per app and tenant, 18,000 per
# 5 minutes per tenant) scaled by 1/300 in count and 1/30 in time — a tenth of the rate — so that one
# onboarding's ~25 writes meet them.
THROTTLE = {"throttle_writes": 10, "throttle_window_s": 5, "throttle_tenant_writes": 60,
            "throttle_tenant_window_s": 10}


def idle_memory_kib():
    """A worker's (resident, anonymous) memory with nothing to do: the base the per-onboarding figure is above."""
    work = harness.workdir("onboarder-e2e-idle-")
    sim = harness.world_simulator(args.sim, work, 1, {})
    db = harness.fresh_db(args.admin_url, "bench_e2e", args.onboarder)
    worker = harness.Worker(args.onboarder, harness.onboarder_env(args.onboarder, sim, db), 100, args.log)
    time.sleep(3)
    rss = worker.rss_kib(), harness.status_kib(worker.pid, "RssAnon")
    worker.terminate()
    sim.stop()
    return rss


def profile(pid, seconds=20):
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


def run(concurrency, workers, throttled):
    work = harness.workdir("onboarder-e2e-")
    faults = {"seed": 7, "latency_ms": args.latency_ms, **(THROTTLE if throttled else {})}
    sim = harness.world_simulator(args.sim, work, args.tenants, faults)
    db = harness.fresh_db(args.admin_url, "bench_e2e", args.onboarder)
    env = harness.onboarder_env(args.onboarder, sim, db)
    msps = harness.customers_csv(f"{work}/customers.csv", args.tenants, sim, msps=3)
    harness.enqueue(args.onboarder, env, db, f"{work}/customers.csv", msps)
    harness.supply_pbx_certificates(db, work)
    psql(db.admin, "VACUUM ANALYZE")
    statements = harness.statements_loaded(args.admin_url)
    if statements:
        psql(db.admin, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()")
    before = sim.stats()
    sim_cpu0, pg_cpu0 = sim.cpu(), harness.postgres_cpu(args.admin_url)
    started = time.time()
    shares = [concurrency // workers + (1 if i < concurrency % workers else 0) for i in range(workers)]
    procs = [harness.Worker(args.onboarder, env, share, args.log) for share in shares]
    profiled = None
    in_flight = []
    anon = [0] * len(procs)  # peak anonymous resident memory: the heap and stacks, not shared libraries
    while True:
        running, left = (int(x) for x in psql(
            db.admin, "SELECT count(*) FILTER (WHERE state = 'running'), "
                "count(*) FILTER (WHERE state IN ('queued', 'running', 'waiting')) FROM onboarder.jobs").split("|"))
        if not left:
            break
        in_flight.append(running)
        for i, p in enumerate(procs):
            anon[i] = max(anon[i], harness.status_kib(p.pid, "RssAnon"))
        if not profiled and f"{concurrency}:{workers}" == args.profile and not throttled \
                and time.time() - started > 20:
            profiled = profile(procs[0].pid)
        time.sleep(0.5)
    wall = time.time() - started
    worker_cpu = sum(p.cpu() for p in procs)
    peaks = [p.peak_rss_kib() for p in procs]
    sim_cpu, pg_cpu = sim.cpu() - sim_cpu0, harness.postgres_cpu(args.admin_url) - pg_cpu0
    for p in procs:
        p.terminate()
    after = sim.stats()
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    not_calls = {k for k in delta if k in ("throttled", "throttled again", "lost response") or k.startswith("injected")}
    calls = sum(v for k, v in delta.items() if k not in not_calls)
    # Only Graph and token calls carry the simulated latency; the PBX and DNS calls answer at once.
    slow = sum(v for k, v in delta.items() if k not in not_calls and " pbx " not in k and " dns " not in k)
    graph_writes = sum(v for k, v in delta.items()
                       if k.split(" ")[0] in ("POST", "PATCH", "DELETE") and len(k.split(" ")) == 2 and k != "POST token")
    n = args.tenants
    outcome = dict(line.split("|") for line in psql(db.admin, "SELECT state, count(*) FROM onboarder.jobs GROUP BY 1").splitlines())
    stmts = None
    if statements:
        stmts = int(psql(db.admin, """SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
                                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                                   AND query NOT LIKE '%pg_stat_statements%'"""))
    sim.stop()
    per = calls / n
    bound = slow * args.latency_ms / 1000 / concurrency
    return {
        "concurrency": concurrency, "workers": workers, "throttled": throttled, "wall": wall, "bound": bound,
        "calls_per_tenant": per, "slow_per_tenant": slow / n, "graph_writes_per_tenant": graph_writes / n, "peak_rss_mib": max(peaks) / 1024, "peaks_kib": peaks,
        "worker_cpu": worker_cpu, "sim_cpu": sim_cpu, "pg_cpu": pg_cpu, "statements": stmts,
        "throttled_429": delta.get("throttled", 0), "throttled_again": delta.get("throttled again", 0),
        "outcome": outcome, "profile": profiled,
        "in_flight": sum(in_flight) / max(1, len(in_flight)), "anon_kib": anon,
    }


def main(argv: list[str]) -> None:
    global args
    args = parse(argv)
    log(f"e2e: {args.tenants} customers (half Microsoft 365, half Teams), {args.latency_ms} ms per call")
    idle_total, idle = idle_memory_kib()
    log(f"an idle worker: {idle_total / 1024:.1f} MiB resident, of it {idle / 1024:.1f} MiB anonymous")
    plan = [(int(c), int(w), False) for c, w in (r.split(":") for r in args.runs.split())]
    if args.throttled:
        c, w = args.throttled.split(":")
        plan.append((int(c), int(w), True))
    results = []
    for concurrency, workers, throttled in plan:
        log(f"run: concurrency {concurrency} on {workers} worker(s){' with throttling' if throttled else ''}")
        r = run(concurrency, workers, throttled)
        results.append(r)
        n = args.tenants
        busy = r["worker_cpu"] + r["sim_cpu"] + r["pg_cpu"]
        label = f"concurrency {concurrency}, {workers} worker{'s' if workers > 1 else ''}"
        if throttled:
            label += ", throttled"
        print(f"wall/bound ratio: {r['wall'] / r['bound']:.2f}x ({label})", flush=True)
        print(f"  {r['wall']:.0f} s wall, bound {r['bound']:.0f} s; {r['calls_per_tenant']:.1f} calls per tenant "
              f"({r['slow_per_tenant']:.1f} Graph and token, of them {r['graph_writes_per_tenant']:.1f} Graph writes; "
              f"the rest PBX and DNS); "
              f"outcome {r['outcome']}; {r['in_flight']:.0f} onboardings running on average", flush=True)
        per_flight = (sum(r["anon_kib"]) - workers * idle) / concurrency
        print(f"  memory: peak {r['peak_rss_mib']:.0f} MiB resident per worker (shared libraries' pages included), "
              f"{max(r['anon_kib']) / 1024:.0f} MiB anonymous; {per_flight:.0f} KiB per in-flight onboarding above an "
              f"idle worker's {idle / 1024:.0f} MiB anonymous", flush=True)
        print(f"  CPU per tenant: worker {r['worker_cpu'] / n * 1000:.1f} ms, simulator {r['sim_cpu'] / n * 1000:.1f} ms, "
              f"PostgreSQL {r['pg_cpu'] / n * 1000:.1f} ms = {busy / (r['wall'] * os.cpu_count()) * 100:.0f}% of "
              f"{os.cpu_count()} cores", flush=True)
        if r["statements"] is not None:
            print(f"  PostgreSQL statements per tenant: {r['statements'] / n:.0f}", flush=True)
        if throttled:
            print(f"  429s provoked per tenant: {r['throttled_429'] / n:.2f} "
                  f"(of them after a Retry-After in the same window: {r['throttled_again']})", flush=True)
        if r["profile"]:
            print(r["profile"], flush=True)
        r["per_flight_kib"] = per_flight
    print()
    print("| concurrency | workers | throttling | wall, s | bound, s | wall / bound | calls per tenant | 429s per tenant "
          "| peak RSS per worker, MiB | peak anonymous, MiB | KiB per in-flight onboarding | CPU ms per tenant: worker / sim / PostgreSQL "
          "| statements per tenant |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    n = args.tenants
    for r in results:
        st = f"{r['statements'] / n:.0f}" if r["statements"] is not None else "n/a"
        print(f"| {r['concurrency']} | {r['workers']} | {'scaled Graph limits' if r['throttled'] else 'off'} "
              f"| {r['wall']:.0f} | {r['bound']:.0f} | {r['wall'] / r['bound']:.2f}x | {r['calls_per_tenant']:.1f} "
              f"| {r['throttled_429'] / n:.2f} | {r['peak_rss_mib']:.0f} | {max(r['anon_kib']) / 1024:.0f} "
              f"| {r['per_flight_kib']:.0f} "
              f"| {r['worker_cpu'] / n * 1000:.1f} / {r['sim_cpu'] / n * 1000:.1f} / {r['pg_cpu'] / n * 1000:.1f} "
              f"| {st} |")
    ones = sorted((r for r in results if r["workers"] == 1 and not r["throttled"]), key=lambda r: r["concurrency"])
    if len(ones) >= 2 and ones[-1]["concurrency"] > ones[0]["concurrency"]:
        lo, hi = ones[0], ones[-1]
        slope = (max(hi["anon_kib"]) - max(lo["anon_kib"])) / (hi["concurrency"] - lo["concurrency"])
        print(f"\nmemory per in-flight onboarding, 1 worker, peak anonymous memory from concurrency "
              f"{lo['concurrency']} to {hi['concurrency']}: {slope:.0f} KiB")
