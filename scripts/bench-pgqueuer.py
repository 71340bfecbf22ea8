#!/usr/bin/env python3
"""Benchmark driver for the PyPI job queue `pgqueuer` (a reference point).

Venv (developed against pgqueuer 1.6.0 + asyncpg 0.32.0; no other extra needed):
    python3 -m venv .local/bench-venv && .local/bench-venv/bin/pip install -q pgqueuer asyncpg
Usage (URL = an empty scratch database; pgqueuer's schema is installed if missing):
    bench-pgqueuer.py --dsn URL drain   --jobs N [--workers C] [--batch-size B]
    bench-pgqueuer.py --dsn URL steady  --seconds S [--workers C] [--batch-size B]
    bench-pgqueuer.py --dsn URL latency --jobs N
One JSON object on stdout, progress on stderr. Exit 2 = connection/consumer error,
3 = timeout guard (default 3x the expected run time).
Consumers: C PgQueuer instances (default 5, as in pgqueuer's tools/benchmark.py),
one asyncpg connection each, in this process. Dequeue batch size defaults to 100,
not their 10: with 10, 1.6.0 did ~2-6k jobs/s on 2 cores (each dequeue/completion
statement NOTIFYs every worker, so per-batch cost dominates); 50-200 gave ~10-12k.
pgqueuer's periodic log->statistics aggregation (default every ~30s) is off unless
--log-aggregation S: over a run's 100k+ log rows it holds one worker's connection
for 10+ s, stalling that worker and its shutdown. Each run starts from an empty
queue, log and statistics table, as pgqueuer's own benchmark does.
"""
from __future__ import annotations

import argparse, asyncio, json, logging, os, signal, sys, time
from datetime import timedelta

import asyncpg
import pgqueuer
import uvloop  # a pgqueuer dependency on Linux; its own benchmark runs on it too
from pgqueuer import AsyncpgDriver, PgQueuer, Queries
from pgqueuer.models import Job

# Anything a library prints to stdout must not corrupt the JSON result.
REAL_STDOUT, sys.stdout = sys.stdout, sys.stderr
ENTRYPOINT = "bench_noop"
log = logging.getLogger("bench-pgqueuer")


class Fail(Exception):  # a user-facing error: one line on stderr, exit status 2
    pass


async def connect(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, timeout=10)
    except Exception as e:  # refused, timeout, bad DSN, auth, missing database...
        raise Fail(f"cannot connect to {dsn!r}: {type(e).__name__}: {e}") from e


class Consumers:
    """`workers` PgQueuer instances; the no-op entrypoint counts jobs in .done."""
    def __init__(self, args, workers: int, on_job=None) -> None:
        self.args, self.workers, self.on_job = args, workers, on_job
        self.conns, self.pgqs, self.tasks, self.done = [], [], [], 0

    async def connect(self) -> None:
        for _ in range(self.workers):
            self.conns.append(await connect(self.args.dsn))
            pgq = PgQueuer(AsyncpgDriver(self.conns[-1]))
            @pgq.entrypoint(ENTRYPOINT)
            async def noop(job: Job) -> None:
                self.done += 1
                if self.on_job:
                    self.on_job()
            self.pgqs.append(pgq)

    def start(self) -> None:
        # New jobs wake idle workers through LISTEN/NOTIFY (pgqueuer's table
        # trigger); dequeue_timeout is only the fallback poll interval.
        opts = dict(batch_size=self.args.batch_size, dequeue_timeout=timedelta(seconds=5),
                    log_aggregation_interval=timedelta(seconds=self.args.log_aggregation))
        self.tasks = [asyncio.create_task(p.run(**opts)) for p in self.pgqs]

    def check(self) -> None:  # fail fast if a consumer died instead of waiting forever
        for t in self.tasks:
            if t.done() and not t.cancelled() and t.exception():
                raise Fail(f"consumer failed: {t.exception()!r}")

    async def stop(self) -> None:
        for p in self.pgqs:
            p.shutdown.set()  # graceful: finishes in-flight jobs, flushes the status log
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=10)
            for t in pending:
                log.warning("a consumer did not stop within 10s; cancelling it")
                t.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        for c in self.conns:
            try:
                await c.close(timeout=5)
            except Exception:
                c.terminate()


async def queued(q: Queries) -> int:
    return sum(s.count for s in await q.queue_size())


async def run_drain(args, q: Queries) -> dict:
    n = args.jobs
    t0 = time.perf_counter()
    await q.enqueue([ENTRYPOINT] * n, [None] * n, [0] * n)  # lists = one batch INSERT
    enq_s = time.perf_counter() - t0
    log.warning("enqueued %d jobs in %.2fs (%.0f rows/s)", n, enq_s, n / enq_s)
    cons = Consumers(args, args.workers)
    try:
        await cons.connect()  # connections are opened before the clock starts
        t1 = time.perf_counter()
        cons.start()
        while cons.done < n:
            cons.check()
            await asyncio.sleep(0.005)
        t_exec = time.perf_counter() - t1
        # Processed = completion committed (row deleted from the queue table),
        # not just the entrypoint having run; pgqueuer batches those writes.
        while await queued(q):
            cons.check()
            await asyncio.sleep(0.005)
        secs = time.perf_counter() - t1
    finally:
        await cons.stop()
    log.warning("drained %d jobs in %.2fs (entrypoints all ran by %.2fs)", n, secs, t_exec)
    return {"jobs": n, "workers": args.workers, "batch_size": args.batch_size,
            "seconds": round(secs, 3), "jobs_per_s": round(n / secs),
            "enqueue_rows_per_s": round(n / enq_s)}


async def run_steady(args, q: Queries) -> dict:
    b, enq, stop, ptask, pconn = args.enqueue_batch_size, [0], asyncio.Event(), None, None
    cons = Consumers(args, args.workers)

    # Batches of 500, paused while the backlog exceeds --max-backlog (keeps the
    # table bounded), so the consumers, not the producer, are the bottleneck.
    async def producer(pq: Queries) -> None:
        while not stop.is_set():
            if enq[0] - cons.done > args.max_backlog:
                await asyncio.sleep(0.002)
                continue
            await pq.enqueue([ENTRYPOINT] * b, [None] * b, [0] * b)
            enq[0] += b

    try:
        await cons.connect()
        pconn = await connect(args.dsn)  # the producer has its own connection
        cons.start()
        ptask = asyncio.create_task(producer(Queries(AsyncpgDriver(pconn))))
        await asyncio.sleep(args.warmup)  # reach steady state before measuring
        c0, t0 = cons.done, time.perf_counter()
        while (left := t0 + args.seconds - time.perf_counter()) > 0:
            cons.check()
            if ptask.done():
                ptask.result()  # re-raise a producer failure
            await asyncio.sleep(min(0.1, left))
        c1, t1 = cons.done, time.perf_counter()
    finally:
        stop.set()
        if ptask:
            await asyncio.gather(ptask, return_exceptions=True)
        await cons.stop()
        if pconn:
            await pconn.close(timeout=5)
    rate, backlog = (c1 - c0) / (t1 - t0), enq[0] - cons.done
    log.warning("steady: %d jobs in %.2fs (%.0f/s); enqueued %d, backlog at end %d",
                c1 - c0, t1 - t0, rate, enq[0], backlog)
    await q.clear_queue()  # leave the scratch database empty
    return {"seconds": round(t1 - t0, 3), "workers": args.workers,
            "batch_size": args.batch_size, "enqueue_batch_size": b, "jobs": c1 - c0,
            "jobs_per_s": round(rate), "backlog_at_end": backlog}


async def run_latency(args, q: Queries) -> dict:
    started, stamp, lat = asyncio.Event(), [0.0], []

    def on_job() -> None:  # runs inside the entrypoint: the job has started
        stamp[0] = time.perf_counter()
        started.set()

    cons = Consumers(args, 1, on_job)  # one idle consumer
    try:
        await cons.connect()
        cons.start()
        for i in range(args.warmup_jobs + args.jobs):
            await asyncio.sleep(0.01)  # let the consumer go back to waiting on NOTIFY
            started.clear()
            t = time.perf_counter()
            await q.enqueue(ENTRYPOINT, None)
            try:
                await asyncio.wait_for(started.wait(), 10)
            except asyncio.TimeoutError:
                cons.check()
                raise Fail(f"job {i} did not start within 10s") from None
            if i >= args.warmup_jobs:
                lat.append((stamp[0] - t) * 1000)
    finally:
        await cons.stop()
    lat.sort()
    pct = lambda p: lat[round(p / 100 * (len(lat) - 1))]  # nearest rank
    log.warning("latency over %d jobs: p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                len(lat), pct(50), pct(99), lat[-1])
    return {"jobs": len(lat), "p50_ms": round(pct(50), 3), "p99_ms": round(pct(99), 3),
            "max_ms": round(lat[-1], 3)}


def expected_seconds(args) -> float:
    """Generous expected run time: setup + work at a pessimistic rate."""
    return 10 + {"drain": lambda: args.jobs / 2000,
                 "steady": lambda: args.warmup + args.seconds,
                 "latency": lambda: (args.jobs + args.warmup_jobs) * 0.05}[args.mode]()


async def main(args) -> dict:
    conn = await connect(args.dsn)
    try:
        q = Queries(AsyncpgDriver(conn))
        if not await q.schema_is_installed():
            log.warning("installing the pgqueuer schema")
            await q.install()  # the same as `pgq install`
        if left := await queued(q):
            log.warning("queue not empty (%d jobs left over); clearing it", left)
        await q.clear_queue()  # TRUNCATEs
        await q.clear_queue_log()
        await q.clear_statistics_log()
        run = {"drain": run_drain, "steady": run_steady, "latency": run_latency}[args.mode]
        result = await run(args, q)
    finally:
        await conn.close(timeout=5)
    return {"tool": "pgqueuer", "version": pgqueuer.__version__, "mode": args.mode, **result}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="pgqueuer benchmark driver; see the file header.")
    p.add_argument("--dsn", required=True, help="postgresql:// URL of a scratch database")
    p.add_argument("--timeout", type=float, help="hard limit in seconds (default: 3x expected)")
    sub = p.add_subparsers(dest="mode", required=True)
    modes = {m: sub.add_parser(m) for m in ("drain", "steady", "latency")}
    for m, s in modes.items():
        s.add_argument("--batch-size", type=int, default=100, help="dequeue batch size")
        s.add_argument("--log-aggregation", type=float, default=0, metavar="S",
                       help="pgqueuer's periodic log aggregation interval (0 = off)")
        if m != "steady":
            s.add_argument("--jobs", type=int, required=True)
        if m != "latency":
            s.add_argument("--workers", type=int, default=5, help="PgQueuer consumers")
    modes["steady"].add_argument("--seconds", type=float, required=True)
    modes["steady"].add_argument("--warmup", type=float, default=1.0)
    modes["steady"].add_argument("--enqueue-batch-size", type=int, default=500)
    modes["steady"].add_argument("--max-backlog", type=int, default=20000)
    modes["latency"].add_argument("--warmup-jobs", type=int, default=5)
    args = p.parse_args()
    if min(getattr(args, "jobs", 1), getattr(args, "workers", 1), args.batch_size) < 1:
        p.error("--jobs, --workers and --batch-size must be >= 1")
    return args


def entry() -> int:
    args = parse()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s")
    limit = args.timeout or 3 * expected_seconds(args)

    def on_alarm(*_):  # backstop in case the event loop itself wedges
        os.write(2, b"bench-pgqueuer: hard timeout, killing the process\n")
        os._exit(3)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(limit) + 20)

    async def guarded() -> dict:
        # On timeout wait_for cancels main(), whose finally blocks stop the consumers.
        return await asyncio.wait_for(main(args), limit)

    try:
        result = uvloop.run(guarded())
    except asyncio.TimeoutError:
        print(f"bench-pgqueuer: timed out after {limit:.0f}s", file=sys.stderr)
        return 3
    except Fail as e:
        print(f"bench-pgqueuer: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the runner cancelled main() first: consumers stopped
        return 130
    signal.alarm(0)
    print(json.dumps(result), file=REAL_STDOUT, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(entry())
