"""Shared by the benchmarks (scripts/bench.py and its bench_*.py) and scripts/chaos.py: the release binaries,
the PostgreSQL cluster with the roles a real installation gives, fresh databases, a simulator with a world of
customers, `onboarder enqueue`, worker processes, CPU and memory readings, and the figures' arithmetic and
tables. Imported, not run.

Everything goes through the shipped binaries (onboarder, onboarder-sim) and the server's psql, as an operator
would. Each part runs under the role a real installation gives it: migrations as the database's owner, the
workers as the service login, enqueue as an MSP staff login. Only the harness itself plays the database
administrator (creating databases and logins, loading fixtures, reading statistics) as the superuser.

The pure pieces carry examples that run: python3 -m doctest scripts/harness.py scripts/bench_queue.py
"""
from __future__ import annotations

import base64
import glob
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Iterable, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OWNER_ROLE = "onboarder_owner"  # owns the database, runs migrations (sql/bootstrap.sql)
SERVICE_ROLE = "onboarder_svc"  # the workers' login, a member of onboarder_worker


def log(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", file=sys.stderr, flush=True)


def die(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


# MARK: building and the cluster


def install_packages() -> None:
    """What building and the cluster need (scripts/setup: Debian packages), before either is tried."""
    subprocess.run(["scripts/setup", "--no-build"], cwd=REPO, check=True)


def release_binaries(products: Iterable[str]) -> str:
    """Builds the products in release mode and returns their folder: the figures are a release build's."""
    for product in products:
        log(f"building {product} (release)")
        result = subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=REPO,
                                capture_output=True, text=True)
        if result.returncode != 0:
            print(result.stdout[-4000:] + result.stderr[-4000:], file=sys.stderr)
            die(f"release build of {product} failed")
    return subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout.strip()


def start_cluster(folder: str, default_port: int) -> str:
    """Starts a cluster of its own under .local (scripts/dev-db: the roles of sql/bootstrap.sql are made there)
    and returns the superuser's URL. The folder and port stay in the environment, so that a later
    `scripts/dev-db restart` (chaos, pg_stat_statements) reaches the same cluster."""
    os.environ.setdefault("ONBOARDER_PG_DIR", os.path.join(REPO, ".local", folder))
    os.environ.setdefault("ONBOARDER_PG_PORT", str(default_port))
    subprocess.run(["scripts/dev-db", "start"], cwd=REPO, check=True)
    return subprocess.run(["scripts/dev-db", "url"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()


def restart_cluster() -> None:
    subprocess.run(["scripts/dev-db", "restart"], cwd=REPO, capture_output=True, check=True)


def server_binary(name: str) -> str:
    """The newest installed server's psql or pgbench: Debian's /usr/bin/psql is a Perl wrapper, and polling
    through it took a sizeable share of the CPU being measured."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return found[-1] if found else name


def psql(url: str, sql: str, *variables: tuple[str, str]) -> str:
    """Runs SQL, returns the unaligned, tuples-only output (rows split by newline, fields by |)."""
    args = [server_binary("psql"), url, "-XqtA", "-v", "ON_ERROR_STOP=1"]
    for name, value in variables:
        args += ["-v", f"{name}={value}"]
    return subprocess.run(args, input=sql, capture_output=True, text=True, check=True).stdout.strip()


def role_url(url: str, role: str | None = None, database: str | None = None) -> str:
    """`url` with another login and/or database: dev-db's cluster trusts loopback, so no password is needed.

    >>> role_url("postgresql://onboarder@127.0.0.1:54349/onboarder", "onboarder_svc", "bench_onb")
    'postgresql://onboarder_svc@127.0.0.1:54349/bench_onb'
    >>> role_url("postgresql://onboarder@127.0.0.1:54349/onboarder", database="chaos")
    'postgresql://onboarder@127.0.0.1:54349/chaos'
    """
    parts = urllib.parse.urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{role or user}@{host}" if (role or user) else host
    path = f"/{database}" if database else parts.path
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


@dataclass(frozen=True)
class Database:
    """One fresh database and its URL per role."""

    name: str
    admin: str  # the superuser: fixtures, statistics, what a DBA does
    owner: str  # onboarder_owner: migrations, schema changes
    worker: str  # onboarder_svc: the workers


def fresh_db(admin_url: str, name: str, onboarder: str | None = None, settle: bool = False) -> Database:
    """A new database owned by onboarder_owner, migrated by it when `onboarder` is given.

    settle: a checkpoint, and its writes on disk (sync), so that no measurement shares the machine with the
    last one's (a checkpoint's spread writes and the full-page images after it landed in some runs and not
    others); a fresh database per measurement, so that no run inherits another's bloat."""
    psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(admin_url, f"CREATE DATABASE {name} OWNER {OWNER_ROLE}")
    if settle:
        psql(admin_url, "CHECKPOINT")
        os.sync()
    db = Database(name, role_url(admin_url, database=name), role_url(admin_url, OWNER_ROLE, name),
                  role_url(admin_url, SERVICE_ROLE, name))
    if onboarder:
        env = {**os.environ, "ONBOARDER_DATABASE_URL": db.owner}
        # A build in another checkout (a benchmark's baseline) migrates with its own checkout's SQL, not this
        # one's: each build is measured with its own schema and functions.
        own_sql = checkout_migrations(onboarder)
        if own_sql:
            env["ONBOARDER_DATABASE_MIGRATIONS_DIR"] = own_sql
        subprocess.run([onboarder, "migrate"], env=env, capture_output=True, check=True)
    return db


def analyze_filled(admin_url: str) -> None:
    """VACUUM ANALYZE the tables that were written (the customers, jobs and events an enqueue wrote: their files
    are not empty), not the empty ones. An empty table that was analyzed is known to be empty: PostgreSQL then plans a lookup in it as a
    sequential scan of nothing, and a worker's session keeps that plan (a prepared statement's generic plan) as
    the table fills, until autovacuum analyzes it a minute or more later — every step's facts read by scanning
    the whole of job_steps (BENCHMARKS.md, 2026-12-03). A table never analyzed is assumed to hold some pages, as
    in a new installation; an installation in use has its tables' statistics."""
    tables = psql(admin_url, """
        SELECT string_agg(format('%I.%I', n.nspname, c.relname), ', ' ORDER BY c.relname)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'onboarder' AND c.relkind = 'r' AND pg_relation_size(c.oid) > 0""")
    if tables:
        psql(admin_url, f"VACUUM ANALYZE {tables}")


def checkout_migrations(binary: str) -> str | None:
    """sql/migrations of the checkout a binary was built in (the nearest folder above it with a Package.swift
    and sql/migrations), or None."""
    folder = os.path.dirname(os.path.abspath(binary))
    while folder != os.path.dirname(folder):
        migrations = os.path.join(folder, "sql", "migrations")
        if os.path.isfile(os.path.join(folder, "Package.swift")) and os.path.isdir(migrations):
            return migrations
        folder = os.path.dirname(folder)
    return None


def staff_login(db: Database, name: str, group: str, msps: Sequence[str]) -> str:
    """A staff login in `group` (onboarder_enqueuer or onboarder_operator) mapped to `msps`, as
    `scripts/dev-db login` makes one for the demo's database; returns its URL."""
    psql(db.admin, """SET client_min_messages = warning;
SELECT format('CREATE ROLE %I LOGIN', :'name') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'name') \\gexec
SELECT format('GRANT %I TO %I', :'group', :'name') \\gexec
INSERT INTO onboarder.msps (id, display_name) SELECT m, m FROM unnest(string_to_array(:'msps', ',')) m
    ON CONFLICT (id) DO NOTHING;
INSERT INTO onboarder.operator_msps (role_name, msp_id) SELECT :'name', m FROM unnest(string_to_array(:'msps', ',')) m
    ON CONFLICT DO NOTHING;""", ("name", name), ("group", group), ("msps", ",".join(msps)))
    return role_url(db.admin, name)


def postgres_cpu(admin_url: str) -> float:
    """CPU of the cluster: the postmaster, its live children, and the children it has reaped."""
    data = psql(admin_url, "SHOW data_directory")
    postmaster = int(open(f"{data}/postmaster.pid").readline())
    fields = open(f"/proc/{postmaster}/stat").read().rsplit(")", 1)[1].split()
    total = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == postmaster:
                total += cpu_seconds(int(pid))
    return total


def load_pg_stat_statements(admin_url: str) -> None:
    """pg_stat_statements must be loaded at server start: into the cluster's settings, then a restart."""
    if "pg_stat_statements" not in psql(admin_url, "SHOW shared_preload_libraries"):
        psql(admin_url, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        restart_cluster()


def statements_loaded(admin_url: str) -> bool:
    return "pg_stat_statements" in psql(admin_url, "SHOW shared_preload_libraries")


# MARK: processes


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 when it is gone)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return 0.0


def status_kib(pid: int, field: str) -> int:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def ensure_cryptography() -> None:
    """open_sealed needs the `cryptography` package (AES-GCM); installed for this user when missing."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "cryptography"], check=True)


class Simulator:
    """One onboarder-sim process on a free loopback port; `url` once it listens."""

    def __init__(self, binary: str, workdir: str, args: Sequence[str], journal: bool = False):
        self.workdir = workdir
        args = [binary, "--port", "0", "--credentials", f"{workdir}/credentials.json", *args]
        self.journal = f"{workdir}/journal.jsonl" if journal else None
        if self.journal:
            args += ["--journal", self.journal]
        self.out = open(f"{workdir}/sim.out", "w")
        self.process = subprocess.Popen(args, stdout=self.out, stderr=subprocess.STDOUT)
        for _ in range(600):
            text = open(f"{workdir}/sim.out").read()
            found = re.search(r"http://[0-9.:]+", text)
            if found:
                self.url = found.group(0)
                break
            if self.process.poll() is not None:
                raise RuntimeError(f"onboarder-sim exited: {text}")
            time.sleep(0.1)
        else:
            raise RuntimeError("onboarder-sim did not start")
        # The file lists every PBX too: read from disk, it can be too big for an argument.
        self.credentials = json.load(open(f"{workdir}/credentials.json"))

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path) as response:
            return json.load(response)

    def stats(self) -> dict:
        return self.get("/_sim/stats")

    def tenant(self, key: str) -> dict:
        return self.get(f"/_sim/tenants/{key}")

    def pbx(self, name: str) -> dict:
        """A PBX's Microsoft 365 page as the simulator holds it: ids, which app password its secret is, its
        certificate's thumbprint, whether it signed in (never the secret or the key)."""
        return self.get(f"/_sim/pbx/{urllib.parse.quote(name, safe='')}")

    def token(self, tenant: str) -> str:
        """An app-only Graph token for the partner app in `tenant`, as the worker's first call gets one."""
        form = urllib.parse.urlencode({"grant_type": "client_credentials",
                                       "client_id": self.credentials["partner_client_id"],
                                       "client_secret": self.credentials["partner_client_secret"],
                                       "scope": "https://graph.microsoft.com/.default"}).encode()
        with urllib.request.urlopen(f"{self.url}/{tenant}/oauth2/v2.0/token", data=form) as response:
            return json.load(response)["access_token"]

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def rss_kib(self) -> int:
        return status_kib(self.process.pid, "VmRSS")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def world_simulator(binary: str, workdir: str, tenants: int, faults: dict, journal: bool = False,
                    consent: str = "full", sku: str = "E5") -> Simulator:
    """A world of `tenants` customers (domain bench<i>.onmicrosoft.com, PBX bench<i>) with `faults`."""
    world = {"seed": 3, "tenants": [
        {"domain": f"bench{i}.onmicrosoft.com", "consent": consent, "sku": sku,
         "users": ["alice", "bob", "carol"], "pbx": f"bench{i}"} for i in range(tenants)]}
    json.dump(world, open(f"{workdir}/world.json", "w"))
    json.dump(faults, open(f"{workdir}/faults.json", "w"))
    # The PBXs' secrets in a folder of their own: the only one enqueue rows may name.
    os.makedirs(f"{workdir}/pbx-secrets", exist_ok=True)
    return Simulator(binary, workdir, ["--world", f"{workdir}/world.json", "--faults", f"{workdir}/faults.json",
                                       "--pbx-secrets", f"{workdir}/pbx-secrets/pbx.json"], journal=journal)


def generated_simulator(binary: str, workdir: str, tenants: int, seed: int = 1) -> Simulator:
    """The simulator's own generated world (customer<i>.onmicrosoft.com), no faults."""
    return Simulator(binary, workdir, ["--tenants", str(tenants), "--seed", str(seed)])


def customers_csv(path: str, tenants: int, sim: Simulator, paths: Sequence[str] = ("m365", "teams"),
                  msps: int = 1) -> list[str]:
    """The enqueue file: customer i on paths[i % len(paths)], MSP bench<i % msps>. Returns the MSPs."""
    with open(path, "w") as out:
        out.write("msp,tenant,path,pbx_url,pbx_client_id,pbx_secret\n")
        for i in range(tenants):
            out.write(f"bench{i % msps},bench{i}.onmicrosoft.com,{paths[i % len(paths)]},{sim.url}/pbx/bench{i},"
                      f"onboarder,json:pbx.json#pbx.bench{i}.client_secret\n")
    return [f"bench{m}" for m in range(min(msps, tenants))]


def enqueue(onboarder: str, env: dict, db: Database, csv: str, msps: Sequence[str]) -> None:
    """`onboarder enqueue` as an MSP staff login mapped to the file's MSPs, as an MSP would run it."""
    url = staff_login(db, "bench_enqueuer", "onboarder_enqueuer", msps)
    subprocess.run([onboarder, "enqueue", csv, "--actor", "bench"], env={**env, "ONBOARDER_DATABASE_URL": url},
                   capture_output=True, check=True)


def enqueue_customers(onboarder: str, env: dict, db: Database, sim: Simulator, tenants: int,
                      paths: Sequence[str] = ("m365", "teams"), msps: int = 1) -> list[str]:
    """Every customer of the simulator's world enqueued for onboarding; returns the MSPs. Each onboarding then
    waits for its technician (the PBX's certificate, secret and sign-in): `technician()` plays that part."""
    csv = f"{sim.workdir}/customers.csv"
    names = customers_csv(csv, tenants, sim, paths, msps)
    enqueue(onboarder, env, db, csv, names)
    return names


def onboarder_env(onboarder: str, sim: Simulator, db: Database) -> dict:
    """The environment every worker of a run gets: the service login, the simulator's URLs, a fresh key file."""
    keys = f"{sim.workdir}/keys"
    if not os.path.exists(keys):
        with open(os.open(keys, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            subprocess.run([onboarder, "keys", "generate"], stdout=out, check=True)
    return {
        **os.environ,
        "ONBOARDER_DATABASE_URL": db.worker,
        "ONBOARDER_MICROSOFT_LOGIN_BASE_URL": sim.url,
        "ONBOARDER_MICROSOFT_GRAPH_BASE_URL": sim.url + "/v1.0",
        "ONBOARDER_PARTNER_CLIENT_ID": sim.credentials["partner_client_id"],
        "ONBOARDER_PARTNER_CLIENT_SECRET": sim.credentials["partner_client_secret"],
        "ONBOARDER_SECRETS_KEY_FILE": keys,
        "ONBOARDER_SECRETS_REFERENCE_DIRS": f"{sim.workdir}/pbx-secrets",
        "ONBOARDER_PBX_ALLOW_LOOPBACK_HTTP": "true",
        "ONBOARDER_ONBOARDING_SBC_PARENT_DOMAIN": "sbc.bench.example",
        "ONBOARDER_DNS_PROVIDER": "cloudflare",
        "ONBOARDER_DNS_BASE_URL": sim.url + "/client/v4",
        "ONBOARDER_DNS_API_TOKEN": "bench",
        "ONBOARDER_ONBOARDING_CERTIFICATE_SOURCE": "pbx",  # the PBX's own, handed over by the technician
        # A job waiting for its technician looks again by itself every 30 s (the shortest recheck), instead of
        # doubling up to an hour, should a `handover done` come while it is not waiting.
        "ONBOARDER_ONBOARDING_INPUT_RECHECK_SECONDS": "30",
        "ONBOARDER_LOG_FORMAT": "json",
        "ONBOARDER_LOG_LEVEL": "warning",
        "ONBOARDER_WORKER_CLAIM_BATCH": "200",
    }


def technician(onboarder: str, env: dict, db: Database, sim: Simulator, msps: Sequence[str], **options):
    """The technician of a run: the hand-over sheet as the service login (`env`, which holds the key file),
    `cert add --dir` and `handover done` as an operator login mapped to the run's MSPs; certificates in the
    run's folder. `options` go to technician.Technician (rng, max_pause, cooldown, threads)."""
    import technician as player  # beside this file
    operator = staff_login(db, "bench_operator", "onboarder_operator", msps)
    folder = f"{sim.workdir}/pbx-certificates"
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return player.Technician(onboarder, sim.url, env, {**env, "ONBOARDER_DATABASE_URL": operator}, folder,
                             say=log, **options)


def handover_waiting(db_url: str) -> list[int]:
    """The jobs waiting for their technician now, as `dashboard.handover_waiting` lists them."""
    out = psql(db_url, "SELECT job_id FROM dashboard.handover_waiting")
    return [int(line) for line in out.splitlines() if line]


class HandoverWait:
    """Per job, the time it spent waiting for its technician, from samples of the jobs waiting (each `sample()`
    credits the time since the previous one to the jobs that were waiting then).

    The view computes each waiting job's columns (since when, which certificate): at 10,000 waiting jobs a read
    took 255 ms, twice a second — 19.9 ms of statement time per customer, against 35.5 ms of PostgreSQL CPU in
    the run. A sample is skipped until `BUDGET` times its last read's duration (psql's start included) has
    passed, so the measurement costs PostgreSQL at most about 1/BUDGET of the wall. A wait is credited to within
    that interval (5 s at 10,000 waiting jobs, 0.5 s at 1,000): over by up to one interval, and a wait shorter
    than it may go unseen."""

    BUDGET = 20

    def __init__(self):
        self.seconds: dict[int, float] = {}
        self.waiting: list[int] = []
        self.last: float | None = None
        self.first_seen: float | None = None
        self.last_seen: float | None = None
        self.due = 0.0

    def sample(self, db_url: str) -> None:
        now = time.time()
        if now < self.due:
            return
        waiting = handover_waiting(db_url)
        self.due = now + self.BUDGET * (time.time() - now)
        if self.last is not None:
            for job in self.waiting:
                self.seconds[job] = self.seconds.get(job, 0.0) + now - self.last
        if waiting:
            self.first_seen = self.first_seen or now
            self.last_seen = now
        self.waiting, self.last = waiting, now

    def summary(self, jobs: int) -> str:
        return handover_summary(list(self.seconds.values()), jobs,
                                (self.last_seen - self.first_seen) if self.first_seen and self.last_seen else 0.0)


def handover_summary(waits: Sequence[float], jobs: int, span: float) -> str:
    """The hand-over wait in words: how many of the jobs waited, how long (median, p90, max) and in all.

    >>> handover_summary([10.0, 20.0, 30.0, 40.0], 5, 55.0)
    '4 of 5 jobs waited for the technician: median 25.0 s, p90 40.0 s, max 40.0 s; 100 job-seconds in all, 20.0 s per job; from the first wait to the last 55 s'
    >>> handover_summary([], 5, 0.0)
    'no job waited for the technician'
    """
    if not waits:
        return "no job waited for the technician"
    ordered = sorted(waits)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (f"{len(waits)} of {jobs} jobs waited for the technician: median {statistics.median(ordered):.1f} s, "
            f"p90 {p90:.1f} s, max {ordered[-1]:.1f} s; {sum(waits):.0f} job-seconds in all, "
            f"{sum(waits) / jobs:.1f} s per job; from the first wait to the last {span:.0f} s")


class Worker:
    """One `onboarder worker` process; its log appends to `log_path`."""

    def __init__(self, onboarder: str, env: dict, concurrency: int, log_path: str):
        self.onboarder, self.env, self.concurrency, self.log_path = onboarder, env, concurrency, log_path
        self.log = None
        self.start()

    def start(self) -> None:
        if self.log:
            self.log.close()  # the previous process's (after a kill and restart)
        self.log = open(self.log_path, "a")
        self.process = subprocess.Popen([self.onboarder, "worker", "--concurrency", str(self.concurrency)],
                                        env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.started = time.time()

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss_kib(self) -> int:
        return status_kib(self.pid, "VmHWM")

    def rss_kib(self) -> int:
        return status_kib(self.pid, "VmRSS")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def terminate(self, timeout: float = 120) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def call_counts(before: dict[str, int], after: dict[str, int]) -> tuple[int, int, int]:
    """From two readings of the simulator's /_sim/stats: (calls served, of them Graph and token calls — the
    ones that carry the simulated latency; PBX and DNS calls answer at once —, of them Graph writes). Faults
    the simulator injected, 429s and lost answers are counted apart, not as calls.

    >>> call_counts({"POST token": 1}, {"POST token": 3, "POST applications": 2, "GET applications": 4,
    ...     "PATCH pbx Defs": 1, "POST dns records": 1, "throttled": 5, "injected 503": 2})
    (10, 8, 2)
    """
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    calls = {k: v for k, v in delta.items()
             if k not in ("throttled", "throttled again", "lost response") and not k.startswith("injected")
             and "_sim" not in k}  # the technician's buttons on the simulated PBXs are not Onboarder's calls
    slow = {k: v for k, v in calls.items() if " pbx " not in k and " dns " not in k}
    writes = sum(v for k, v in calls.items()
                 if k.split(" ")[0] in ("POST", "PATCH", "DELETE") and len(k.split(" ")) == 2 and k != "POST token")
    return sum(calls.values()), sum(slow.values()), writes


def unfinished(db_url: str) -> int:
    return int(psql(db_url, "SELECT count(*) FROM onboarder.jobs WHERE state IN ('queued', 'running', 'waiting')"))


def open_sealed(sealed: str, keys_file: str, context: str) -> str:
    """Opens an `og1.<key id>.<base64url>` value (AES-256-GCM, AAD `og1.<key id>.<context>`)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    keys = {}
    for line in open(keys_file):
        parts = line.replace(":", " ").split()
        if len(parts) == 2 and not line.startswith("#"):
            keys[parts[0]] = base64.b64decode(parts[1])
    _, key_id, body = sealed.split(".")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    aad = f"og1.{key_id}.{context}".encode()
    return AESGCM(keys[key_id]).decrypt(raw[:12], raw[12:], aad).decode()


def workdir(prefix: str) -> str:
    return tempfile.mkdtemp(prefix=prefix)


# MARK: figures


def rate(count: float, started: float, ended: float) -> int:
    """Per second, rounded: every rate the benchmarks print."""
    return round(count / (ended - started))


def ratio(a: float, b: float) -> str:
    """a / b as the benchmarks print it (2 decimals and an x); n/a when b is 0.

    >>> ratio(3, 2), ratio(1, 0)
    ('1.50x', 'n/a')
    """
    return f"{a / b:.2f}x" if b else "n/a"


def median(values: Iterable[float]) -> int:
    return round(statistics.median(float(v) for v in values))


def cell(values: Sequence[float]) -> str:
    """A repeated measurement: the median in bold, then every repeat, so the spread stays visible.

    >>> cell([9800, 10400, 10100])
    '**10100** (9800, 10400, 10100)'
    """
    return f"**{median(values)}** ({', '.join(str(v) for v in values)})"


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A Markdown table on stdout, as BENCHMARKS.md quotes them."""
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
