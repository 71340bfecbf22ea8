#!/usr/bin/env python3
"""Benchmark driver for the PyPI queue `pgqueuer`, used as a reference point.

Runs inside a virtualenv made with:
    python3 -m venv .local/bench-venv
    .local/bench-venv/bin/pip install -q pgqueuer asyncpg
Developed against pgqueuer 1.6.0 / asyncpg 0.32.0 (no other extra needed; uvloop
comes with pgqueuer on Linux and is used when present, as pgqueuer's own benchmark does).

Usage (DSN = an empty scratch database; pgqueuer's schema is installed if missing):
    bench-pgqueuer.py --dsn URL drain   --jobs N [--workers C] [--batch-size B]
    bench-pgqueuer.py --dsn URL steady  --seconds S [--workers C] [--batch-size B]
    bench-pgqueuer.py --dsn URL latency --jobs N
Prints exactly one JSON object on stdout; all progress goes to stderr.

Defaults follow pgqueuer's tools/benchmark.py: 5 consumers (one PgQueuer, one
asyncpg connection each, all in this process), dequeue batch size 10, producer
batch size 10; drain enqueues everything in a single batch enqueue call.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time

import asyncpg
import pgqueuer
from pgqueuer import AsyncpgDriver, PgQueuer, Queries
from pgqueuer.models import Job

# Anything printed to stdout by accident (libraries) must not corrupt the JSON.
REAL_STDOUT, sys.stdout = sys.stdout, sys.stderr
ENTRYPOINT = "bench_noop"
log = logging.getLogger("bench-pgqueuer")


class Fail(Exception):
    """A user-facing error: printed as one line, exit status 2."""


async def connect(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as e:
        raise Fail(f"cannot connect to {dsn!r}: {type(e).__name__}: {e}") from e


class Consumers:
    """C PgQueuer instances with a no-op entrypoint that calls on_job()."""

    def __init__(self, dsn: str, workers: int, batch_size: int, on_job) -> None:
        self.dsn, self.workers, self.batch_size, self.on_job = dsn, workers, batch_size, on_job
        self.conns: list[asyncpg.Connection] = []
        self.pgqs: list[PgQueuer] = []
        self.tasks: list[asyncio.Task] = []

    async def connect(self) -> None:
        for _ in range(self.workers):
            conn = await connect(self.dsn)
            self.conns.append(conn)
            pgq = PgQueuer(AsyncpgDriver(conn))

            @pgq.entrypoint(ENTRYPOINT)
            async def noop(job: Job) -> None:
                self.on_job()

            self.pgqs.append(pgq)

    def start(self) -> None:
        # dequeue_timeout only matters when idle: new jobs wake the worker via
        # LISTEN/NOTIFY (pgqueuer's insert trigger), so it is a fallback poll.
        self.tasks = [asyncio.create_task(p.run(batch_size=self.batch_size,
                                                dequeue_timeout=_td(5))) for p in self.pgqs]

    def check(self) -> None:
        # A consumer that died (e.g. schema error) should fail the run, not hang it.
        for t in self.tasks:
            if t.done() and not t.cancelled() and t.exception():
                raise Fail(f"consumer failed: {t.exception()!r}")

    async def stop(self) -> None:
        for p in self.pgqs:
            p.shutdown.set()  # graceful: finishes in-flight jobs, flushes status log
        if self.tasks:
            done, pending = await asyncio.wait(self.tasks, timeout=15)
            for t in pending:
                log.warning("consumer did not stop within 15s; cancelling")
                t.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        for c in self.conns:
            try:
                await c.close(timeout=5)
            except Exception:
                c.terminate()


def _td(seconds: float):
    from datetime import timedelta
    return timedelta(seconds=seconds)


async def wait_until(pred, consumers: Consumers, interval: float = 0.005) -> None:
    while not pred():
        consumers.check()
        await asyncio.sleep(interval)


async def queued(q: Queries) -> int:
    return sum(s.count for s in await q.queue_size())


async def run_drain(args, q: Queries) -> dict:
    n = args.jobs
    t0 = time.perf_counter()
    # One batch-enqueue call (list arguments) = one INSERT ... SELECT unnest(...).
    await q.enqueue([ENTRYPOINT] * n, [None] * n, [0] * n)
    enq_s = time.perf_counter() - t0
    log.warning("enqueued %d jobs in %.2fs (%.0f rows/s)", n, enq_s, n / enq_s)

    done = [0]
    cons = Consumers(args.dsn, args.workers, args.batch_size,
                     lambda: done.__setitem__(0, done[0] + 1))
    await cons.connect()
    try:
        t1 = time.perf_counter()
        cons.start()
        await wait_until(lambda: done[0] >= n, cons)
        t_exec = time.perf_counter() - t1
        # "Processed" = every job's completion committed (rows deleted from the
        # queue table), not just the entrypoint having run.
        while await queued(q):
            cons.check()
            await asyncio.sleep(0.005)
        secs = time.perf_counter() - t1
    finally:
        await cons.stop()
    log.warning("drained %d jobs in %.2fs (entrypoints done at %.2fs)", n, secs, t_exec)
    return {"jobs": n, "workers": args.workers, "batch_size": args.batch_size,
            "seconds": round(secs, 3), "jobs_per_s": round(n / secs),
            "enqueue_rows_per_s": round(n / enq_s)}


async def run_steady(args, q: Queries) -> dict:
    done, enq = [0], [0]
    cons = Consumers(args.dsn, args.workers, args.batch_size,
                     lambda: done.__setitem__(0, done[0] + 1))
    await cons.connect()
    pconn = await connect(args.dsn)
    pq = Queries(AsyncpgDriver(pconn))
    stop = asyncio.Event()
    b = args.enqueue_batch_size

    async def producer() -> None:
        while not stop.is_set():
            if enq[0] - done[0] > args.max_backlog:  # keep the table size bounded
                await asyncio.sleep(0.002)
                continue
            await pq.enqueue([ENTRYPOINT] * b, [None] * b, [0] * b)
            enq[0] += b

    ptask = None
    try:
        cons.start()
        ptask = asyncio.create_task(producer())
        await asyncio.sleep(args.warmup)
        c0, t0 = done[0], time.perf_counter()
        end = t0 + args.seconds
        while time.perf_counter() < end:
            cons.check()
            if ptask.done():
                ptask.result()
            await asyncio.sleep(min(0.1, max(0.0, end - time.perf_counter())))
        c1, t1 = done[0], time.perf_counter()
    finally:
        stop.set()
        if ptask:
            await asyncio.gather(ptask, return_exceptions=True)
        await cons.stop()
        await pconn.close(timeout=5)
    rate = (c1 - c0) / (t1 - t0)
    log.warning("steady: %d jobs in %.2fs window (%.0f/s), enqueued %d total, backlog %d",
                c1 - c0, t1 - t0, rate, enq[0], enq[0] - done[0])
    await q.clear_queue()  # leave the scratch DB empty for the next run
    return {"seconds": round(t1 - t0, 3), "workers": args.workers,
            "batch_size": args.batch_size, "enqueue_batch_size": b,
            "jobs": c1 - c0, "jobs_per_s": round(rate), "backlog_at_end": enq[0] - done[0]}


async def run_latency(args, q: Queries) -> dict:
    started = asyncio.Event()
    stamp = [0.0]

    def on_job() -> None:
        stamp[0] = time.perf_counter()
        started.set()

    # One idle consumer; it is woken by pgqueuer's LISTEN/NOTIFY, not by polling.
    cons = Consumers(args.dsn, 1, args.batch_size, on_job)
    await cons.connect()
    lat: list[float] = []
    try:
        cons.start()
        for i in range(args.warmup_jobs + args.jobs):
            await asyncio.sleep(0.01)  # let the consumer go idle again
            started.clear()
            t = time.perf_counter()
            await q.enqueue(ENTRYPOINT, None)
            try:
                await asyncio.wait_for(started.wait(), 10)
            except asyncio.TimeoutError:
                cons.check()
                raise Fail(f"job {i} did not start within 10s")
            if i >= args.warmup_jobs:
                lat.append((stamp[0] - t) * 1000)
    finally:
        await cons.stop()
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))]
    log.warning("latency over %d jobs: p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                len(lat), pct(50), pct(99), lat[-1])
    return {"jobs": len(lat), "p50_ms": round(pct(50), 3), "p99_ms": round(pct(99), 3),
            "max_ms": round(lat[-1], 3)}


def expected_seconds(args) -> float:
    """Rough expected run time; the guard allows 3x this."""
    if args.mode == "drain":
        return 10 + args.jobs / 2000  # enqueue + drain at a pessimistic 2k jobs/s
    if args.mode == "steady":
        return 10 + args.warmup + args.seconds
    return 10 + (args.jobs + args.warmup_jobs) * 0.05


async def main(args) -> dict:
    conn = await connect(args.dsn)
    try:
        q = Queries(AsyncpgDriver(conn))
        if not await q.schema_is_installed():
            log.warning("installing pgqueuer schema")
            await q.install()
        if left := await queued(q):
            log.warning("queue not empty (%d jobs left over); clearing it", left)
            await q.clear_queue()
        result = await {"drain": run_drain, "steady": run_steady,
                        "latency": run_latency}[args.mode](args, q)
    finally:
        await conn.close(timeout=5)
    return {"tool": "pgqueuer", "version": pgqueuer.__version__, "mode": args.mode, **result}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dsn", required=True)
    p.add_argument("--timeout", type=float, help="hard limit in seconds (default: 3x expected)")
    sub = p.add_subparsers(dest="mode", required=True)
    for name in ("drain", "steady", "latency"):
        s = sub.add_parser(name)
        s.add_argument("--batch-size", type=int, default=10, help="dequeue batch size")
        if name != "latency":
            s.add_argument("--workers", type=int, default=5, help="PgQueuer consumers")
    sub.choices["drain"].add_argument("--jobs", type=int, required=True)
    st = sub.choices["steady"]
    st.add_argument("--seconds", type=float, required=True)
    st.add_argument("--warmup", type=float, default=1.0)
    st.add_argument("--enqueue-batch-size", type=int, default=10)
    st.add_argument("--max-backlog", type=int, default=20000)
    la = sub.choices["latency"]
    la.add_argument("--jobs", type=int, required=True)
    la.add_argument("--warmup-jobs", type=int, default=5)
    args = p.parse_args()
    if getattr(args, "jobs", 1) < 1:
        p.error("--jobs must be >= 1")
    return args


def entry() -> int:
    args = parse()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s")
    limit = args.timeout or 3 * expected_seconds(args)

    # Backstop if the event loop itself wedges: SIGALRM kills the process.
    def on_alarm(*_):
        os.write(2, b"bench-pgqueuer: hard timeout, exiting\n")
        os._exit(3)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(limit) + 20)

    async def guarded() -> dict:
        return await asyncio.wait_for(main(args), limit)  # cancels -> finally blocks clean up

    try:
        import uvloop
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        result = runner(guarded())
    except asyncio.TimeoutError:
        print(f"bench-pgqueuer: timed out after {limit:.0f}s", file=sys.stderr)
        return 3
    except Fail as e:
        print(f"bench-pgqueuer: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    signal.alarm(0)
    print(json.dumps(result), file=REAL_STDOUT, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(entry())
