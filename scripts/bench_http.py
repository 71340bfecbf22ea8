"""scripts/bench sim and http: onboarder-sim's requests/s and memory, and onboarder's HTTP client against curl,
both over loopback with keep-alive. Run through `scripts/bench`.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import time
from contextlib import contextmanager
from typing import Iterator

import harness
from harness import ratio


def curl_config(path: str, url: str, count: int, write_out: str | None = None) -> None:
    """A curl --config file of `count` GETs of `url` (one process, so curl reuses its connections)."""
    with open(path, "w") as out:
        for _ in range(count):
            out.write(f'url = "{url}"\noutput = /dev/null\n')
            if write_out:
                out.write(f'write-out = "{write_out}"\n')


def children_cpu() -> float:
    """User + system CPU of every child process waited for so far: curl's, measured around its run."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def curl(config: str, token: str, parallel: int) -> tuple[float, float, str]:
    """curl --parallel over `config`: (wall seconds, CPU seconds, its stdout)."""
    cpu0, started = children_cpu(), time.time()
    result = subprocess.run(["curl", "-s", "--no-progress-meter", "--parallel", "--parallel-max", str(parallel),
                             "-H", f"Authorization: Bearer {token}", "-K", config],
                            capture_output=True, text=True, check=True)
    return time.time() - started, children_cpu() - cpu0, result.stdout


@contextmanager
def simulated(bin_dir: str, tenants: int) -> Iterator[tuple[harness.Simulator, str, str]]:
    """A simulator with its own generated world, a partner token in one of its tenants, and a work folder."""
    work = harness.workdir("onboarder-bench-http-")
    simulator = harness.generated_simulator(f"{bin_dir}/onboarder-sim", work, tenants)
    try:
        yield simulator, simulator.token("customer5.onmicrosoft.com"), work
    finally:
        simulator.stop()
        shutil.rmtree(work, ignore_errors=True)


def sim(bin_dir: str) -> None:
    """Requests/s of a simple authenticated Graph GET, driven by curl --parallel with keep-alive; memory. With
    BENCH_BASELINE (another build's release folder), the same with its simulator, alternating, BENCH_REPEATS times
    (default 3), and the medians' ratio of CPU per request."""
    n = int(os.environ.get("BENCH_REQUESTS", 20000))
    baseline = os.environ.get("BENCH_BASELINE")
    if not baseline:
        rate, cpu, rss = sim_run(bin_dir, n)
        harness.table(["measurement", "onboarder-sim"], [
            [f"GET /v1.0/organization, {n} requests, curl --parallel 16 keep-alive, requests/s", rate],
            ["simulator CPU per request, µs", cpu],
            ["resident memory with 10,000 customer tenants, MiB", rss],
        ])
        return
    runs: dict[str, list[tuple[int, int, int]]] = {"this build": [], "baseline": []}
    for _ in range(int(os.environ.get("BENCH_REPEATS", 3))):
        for name, folder in (("baseline", baseline), ("this build", bin_dir)):
            runs[name].append(sim_run(folder, n))
    harness.table(["measurement", "this build", "baseline"], [
        [f"GET /v1.0/organization, {n} requests, curl --parallel 16 keep-alive, requests/s",
         harness.cell([r[0] for r in runs["this build"]]), harness.cell([r[0] for r in runs["baseline"]])],
        ["simulator CPU per request, µs", harness.cell([r[1] for r in runs["this build"]]),
         harness.cell([r[1] for r in runs["baseline"]])],
        ["resident memory with 10,000 customer tenants, MiB", harness.cell([r[2] for r in runs["this build"]]),
         harness.cell([r[2] for r in runs["baseline"]])],
    ])
    cpu = {name: harness.median(r[1] for r in results) for name, results in runs.items()}
    print(f"simulator CPU per request vs the baseline: {harness.ratio(cpu['this build'], cpu['baseline'])}")


def sim_run(bin_dir: str, n: int) -> tuple[int, int, int]:
    """One run of the simulator of `bin_dir`: requests/s, CPU per request in µs, resident MiB."""
    with simulated(bin_dir, 10000) as (simulator, token, work):
        curl_config(f"{work}/urls", f"{simulator.url}/v1.0/organization", n)
        cpu_before = simulator.cpu()  # world generation is not per request
        wall, _, _ = curl(f"{work}/urls", token, 16)
        cpu = simulator.cpu() - cpu_before
        return round(n / wall), round(cpu / n * 1e6), simulator.rss_kib() // 1024


def http(bin_dir: str) -> None:
    """onboarder's HTTP client (onboarder-bench http) against curl itself: GETs at concurrency 1, 16, 64 and 200
    (the end-to-end benchmark's)."""
    n = int(os.environ.get("BENCH_REQUESTS", 10000))
    with simulated(bin_dir, 100) as (simulator, token, work):
        target = f"{simulator.url}/v1.0/organization"
        curl_config(f"{work}/urls", target, n, write_out="%{num_connects}\\n")
        rows, ratios = [], []
        for c in (1, 16, 64, 200):
            ours = json.loads(subprocess.run(
                [f"{bin_dir}/onboarder-bench", "http", target, "--requests", str(n), "--concurrency", str(c),
                 "--header", f"Authorization: Bearer {token}"], capture_output=True, text=True, check=True).stdout)
            wall, cpu, connects = curl(f"{work}/urls", token, c)
            curl_rate = round(n / wall)
            rows.append([c, ours["requests_per_s"], round(float(ours["cpu_s"]) / n * 1e6), ours["connections"],
                         curl_rate, round(cpu / n * 1e6), sum(int(line) for line in connects.split())])
            ratios.append(f"http ratio vs curl at concurrency {c}: {ratio(float(ours['requests_per_s']), curl_rate)}")
            ratios.append(f"http CPU per request vs curl at concurrency {c}: {ratio(float(ours['cpu_s']), cpu)}")
        harness.table(["concurrency", "onboarder requests/s", "onboarder CPU µs/request", "onboarder TCP connections",
                       "curl requests/s", "curl CPU µs/request", "curl TCP connections"], rows)
        print("\n".join(ratios))
        baseline = os.environ.get("BENCH_HTTP_BASELINE")
        if baseline:
            against(bin_dir, baseline, target, token, n)


def against(bin_dir: str, baseline: str, target: str, token: str, n: int) -> None:
    """This build's HTTP client against another build's (BENCH_HTTP_BASELINE: the folder of its release
    onboarder-bench, e.g. a worktree of an earlier commit), alternating, BENCH_REPEATS times (default 3) at
    concurrency 16 and 200, against the same simulator: medians and each repeat."""
    repeats = int(os.environ.get("BENCH_REPEATS", 3))
    runs: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for _ in range(repeats):
        for name, folder in (("baseline", baseline), ("this build", bin_dir)):
            for c in (16, 200):
                out = json.loads(subprocess.run(
                    [f"{folder}/onboarder-bench", "http", target, "--requests", str(n), "--concurrency", str(c),
                     "--header", f"Authorization: Bearer {token}"], capture_output=True, text=True, check=True).stdout)
                runs.setdefault((name, c), []).append((float(out["cpu_s"]) / n * 1e6, float(out["requests_per_s"])))
    rows, ratios = [], []
    for c in (16, 200):
        ours, theirs = runs[("this build", c)], runs[("baseline", c)]
        cpu = [statistics.median(x[0] for x in r) for r in (ours, theirs)]
        rate = [statistics.median(x[1] for x in r) for r in (ours, theirs)]
        rows.append([c, f"{cpu[0]:.0f} ({', '.join(f'{x[0]:.0f}' for x in ours)})",
                     f"{cpu[1]:.0f} ({', '.join(f'{x[0]:.0f}' for x in theirs)})", round(rate[0]), round(rate[1])])
        ratios.append(f"http CPU per request vs the baseline at concurrency {c}: {ratio(cpu[0], cpu[1])}")
    harness.table(["concurrency", "CPU µs/request, this build", "CPU µs/request, baseline", "requests/s, this build",
                   "requests/s, baseline"], rows)
    print("\n".join(ratios))

