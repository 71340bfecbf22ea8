"""Benchmarks (run through `scripts/bench`). Not tests: numbers depend on the machine; every comparison runs its
baseline on the same machine in the same run and prints ratios.

  scripts/bench queue     the job queue against pgqueuer and the plain-SQL ceiling (pgbench)
  scripts/bench profile   where a drain's time goes: database time per job by statement, worker CPU per job
  scripts/bench floor     the queue beside the bare-SQL floor of its own schema (its writes without functions,
                          limits or worker) and pgqueuer, drain and steady, and what each guarantee costs the floor
  scripts/bench sim       onboarder-sim: Graph GETs per second with keep-alive, memory for 10,000 tenants
  scripts/bench http      onboarder's HTTP client against curl: requests/s, CPU, TCP connections
  scripts/bench onboard   the onboarding pipeline, both paths: calls per tenant, wall time beside the bound, and
                          apart from it the time jobs waited for the technician (scripts/technician.py plays it)
  scripts/bench enqueue   onboarder enqueue of 100,000 CSV rows beside the write floor of the same rows (bare SQL),
                          and each dashboard view over them
  scripts/bench e2e       10,000 customers end to end at concurrency 50/200/500 on 1 and 3 workers, then
                          throttled (about an hour on 2 cores; BENCH_TENANTS, BENCH_E2E_RUNS to shorten), the
                          technician played during each run and its hand-over wait reported apart from the bound

Environment: BENCH_JOBS (50000; profile: 100000), BENCH_SECONDS (30), BENCH_LATENCY_JOBS (1000),
BENCH_CONCURRENCY (1000), BENCH_CLAIM_BATCH (250), BENCH_REPEATS (3), BENCH_FLOOR_CLIENTS (2), BENCH_PERF (0; 1:
profile adds perf), BENCH_REQUESTS (sim 20000, http 10000), BENCH_TENANTS (onboard 1000, e2e 10000),
BENCH_ONBOARD_CONCURRENCY (100), BENCH_LATENCY_MS (100), BENCH_RUNS (onboard), BENCH_ROWS (100000),
BENCH_ENQUEUE_TOP_STATEMENTS (enqueue: the N statements, nested ones included, that took most of PostgreSQL's time
per row), BENCH_AUTOVACUUM (queue and floor: off turns autovacuum off on onboarder's tables),
BENCH_E2E_RUNS, BENCH_E2E_THROTTLED, BENCH_E2E_PROFILE, BENCH_E2E_TOP_STATEMENTS, BENCH_E2E_TECHNICIANS (e2e; see
scripts/bench_e2e.py), BENCH_HTTP_BASELINE (http: the release folder of another build to compare the HTTP client
with), BENCH_BASELINE (enqueue, e2e, sim, and queue's idle latency and bulk enqueue: the release folder of another
build, in a checkout of its own whose sql/ it migrates with, to run the same measurement with, alternating,
BENCH_REPEATS times).

The benchmarks get their own PostgreSQL cluster (.local/pg-bench; ONBOARDER_PG_DIR and ONBOARDER_PG_PORT, default
54349, choose another), made by scripts/dev-db with the roles of sql/bootstrap.sql.
"""
from __future__ import annotations

import os
import sys
from typing import Callable

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_e2e  # noqa: E402
import bench_http  # noqa: E402
import bench_pipeline  # noqa: E402
import bench_queue  # noqa: E402
import harness  # noqa: E402

USAGE = "usage: scripts/bench queue|profile|floor|sim|http|onboard|enqueue|e2e"


def queue_benchmark(run: Callable[[bench_queue.Queue], None], default_jobs: int = 50000) -> Callable[[str, str], None]:
    """A queue benchmark: only the onboarder binary, and the cluster set up for steady measurements."""
    def start(admin_url: str, bin_dir: str) -> None:
        open(bench_queue.WORKER_LOG, "w").close()
        run(bench_queue.Queue(admin_url, f"{bin_dir}/onboarder", bench_queue.Settings.from_environment(default_jobs)))
    return start


def e2e(admin_url: str, bin_dir: str) -> None:
    harness.load_pg_stat_statements(admin_url)  # PostgreSQL statements per tenant
    env = os.environ.get
    bench_e2e.main(["--onboarder", f"{bin_dir}/onboarder", "--sim", f"{bin_dir}/onboarder-sim", "--admin-url", admin_url,
                    "--tenants", env("BENCH_TENANTS", "10000"), "--latency-ms", env("BENCH_LATENCY_MS", "100"),
                    "--runs", env("BENCH_E2E_RUNS", "50:1 50:3 200:1 200:3 500:1 500:3"),
                    "--throttled", env("BENCH_E2E_THROTTLED", "500:3"), "--profile", env("BENCH_E2E_PROFILE", "200:1"),
                    "--top-statements", env("BENCH_E2E_TOP_STATEMENTS", "0"),
                    "--technicians", env("BENCH_E2E_TECHNICIANS", "8"), "--baseline", env("BENCH_BASELINE", ""),
                    "--repeats", env("BENCH_REPEATS", "1")])


# Each subcommand: what it runs and which release binaries it needs.
SIM = ["onboarder", "onboarder-sim"]
COMMANDS: dict[str, tuple[Callable[[str, str], None], list[str]]] = {
    "queue": (queue_benchmark(bench_queue.queue), ["onboarder"]),
    "profile": (queue_benchmark(bench_queue.profile, default_jobs=100000), ["onboarder"]),
    "floor": (queue_benchmark(bench_queue.floor), ["onboarder"]),
    "sim": (lambda admin, bin_dir: bench_http.sim(bin_dir), SIM),
    "http": (lambda admin, bin_dir: bench_http.http(bin_dir), [*SIM, "onboarder-bench"]),
    "onboard": (bench_pipeline.onboard, SIM),
    "enqueue": (bench_pipeline.enqueue, ["onboarder"]),
    "e2e": (e2e, SIM),
}


def main(argv: list[str]) -> int:
    if argv in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 2
    os.chdir(harness.REPO)
    os.makedirs(".local", exist_ok=True)
    run, products = COMMANDS[argv[0]]
    harness.install_packages()
    bin_dir = harness.release_binaries(products)
    admin_url = harness.start_cluster("pg-bench", 54349)
    # Checkpoints only when a measurement's fresh database asks for one (between measurements), never by
    # themselves in the middle of one: a checkpoint's spread writes and the full-page images after it landed in
    # some runs and not others.
    harness.psql(admin_url, "ALTER SYSTEM SET max_wal_size = '8GB'; ALTER SYSTEM SET checkpoint_timeout = '30min'; "
                            "SELECT pg_reload_conf()")
    run(admin_url, bin_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
