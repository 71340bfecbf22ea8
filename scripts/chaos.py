"""scripts/chaos: customers onboarded by three worker processes against a faulty simulator while workers are
killed, PostgreSQL restarts and a worker is stopped mid-run, and a technician (scripts/technician.py) works
through the hand-over sheet in a random order at a random pace; then every invariant is checked against the
simulator's state (the tenants and their PBXs) and the database. Seeded: the same seed gives the same schedule and the same faults.
Run through `scripts/chaos`: without --onboarder, --sim and --admin-url this builds the release binaries and
starts the chaos PostgreSQL (.local/pg-chaos; ONBOARDER_PG_DIR, ONBOARDER_PG_PORT, default 54369). The workers
run as the service login (onboarder_svc), enqueue as an MSP staff login, the technician's `cert add --dir` and
`handover done` as an operator login and its sheet as the service login; the checks read as the superuser.

Exit status: 0 when every invariant held, 1 when one failed.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import tomllib

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import technician  # noqa: E402
from harness import log, psql  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--onboarder", help="the onboarder binary (default: a release build made now)")
parser.add_argument("--sim", help="the onboarder-sim binary (default: a release build made now)")
parser.add_argument("--admin-url", help="a superuser's URL (default: the chaos cluster, started now)")
parser.add_argument("--tenants", type=int, default=500)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--kills", type=int, default=20)
parser.add_argument("--kill-every", type=float, default=2.5, help="seconds between kill -9s (on average)")
parser.add_argument("--pg-restarts", type=int, default=2)
parser.add_argument("--latency-ms", type=int, default=100)
parser.add_argument("--timeout", type=int, default=600, help="seconds before the run is declared stuck")
parser.add_argument("--technician-pause", type=float, default=1.0,
                    help="most seconds the technician pauses before each customer (a random share of it)")
parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, journal)")
args = parser.parse_args()

LIMITS = {"global": 40, "msp": 15, "tenant": 1}
WORKERS, PER_WORKER = 3, 20
SHUTDOWN_DEADLINE = 10
rng = random.Random(args.seed)
config = tomllib.load(open(os.path.join(os.path.dirname(__file__), "..", "config", "onboarder.example.toml"), "rb"))
APP_NAME = config["onboarding"]["app_name"]
ROLES = [r.strip() for r in config["onboarding"]["roles"].split(",") if r.strip()]


class Observer(threading.Thread):
    """Samples the running jobs every 50 ms: the most ever running globally, per MSP and per tenant."""

    def __init__(self, db):
        super().__init__(daemon=True)
        self.db, self.stop, self.samples, self.failed_samples = db, False, 0, 0
        self.max = {"global": 0, "msp": 0, "tenant": 0}

    def run(self):
        # A psql per sample: it reconnects by itself after a PostgreSQL restart.
        query = ("SELECT coalesce((SELECT count(*) FROM onboarder.jobs WHERE state = 'running'), 0), "
                 "coalesce((SELECT max(c) FROM (SELECT count(*) c FROM onboarder.jobs WHERE state = 'running' "
                 "GROUP BY msp_id) m), 0), coalesce((SELECT max(c) FROM (SELECT count(*) c FROM onboarder.jobs "
                 "WHERE state = 'running' GROUP BY tenant_id) t), 0);\n")
        while not self.stop:
            try:
                out = psql(self.db, query)
                g, m, t = (int(x) for x in out.split("|"))
                self.samples += 1
                self.max["global"] = max(self.max["global"], g)
                self.max["msp"] = max(self.max["msp"], m)
                self.max["tenant"] = max(self.max["tenant"], t)
            except (subprocess.CalledProcessError, ValueError):
                self.failed_samples += 1
                time.sleep(0.2)
            time.sleep(0.05)


def prepare():
    """The release binaries and the cluster, unless given: the cluster is the run's own, since the run restarts it."""
    os.chdir(harness.REPO)
    if not (args.onboarder and args.sim and args.admin_url):
        harness.install_packages()
    if not (args.onboarder and args.sim):
        bin_dir = harness.release_binaries(["onboarder", "onboarder-sim"])
        args.onboarder, args.sim = f"{bin_dir}/onboarder", f"{bin_dir}/onboarder-sim"
    if not args.admin_url:
        args.admin_url = harness.start_cluster("pg-chaos", 54369)
    harness.ensure_cryptography()


def main():
    prepare()
    work = harness.workdir("onboarder-chaos-")
    faults = {"seed": args.seed, "latency_ms": args.latency_ms, "jitter_ms": args.latency_ms // 2,
              "error_rate": 0.10, "lost_response_rate": 0.02, "replication_lag_ms": 1500, "propagation_ms": 2000,
              "dns_propagation_ms": 1000}
    log(f"chaos: {args.tenants} customers, seed {args.seed}, faults {faults}")
    sim = harness.world_simulator(args.sim, work, args.tenants, faults, journal=True)
    database = harness.fresh_db(args.admin_url, "chaos", args.onboarder)
    db = database.admin  # the observer's and the checks' view: every row
    env = {**harness.onboarder_env(args.onboarder, sim, database),
           "ONBOARDER_LOG_LEVEL": "info",
           "ONBOARDER_WORKER_LEASE_SECONDS": "6", "ONBOARDER_WORKER_HEARTBEAT_INTERVAL_MS": "1000",
           "ONBOARDER_WORKER_REAP_INTERVAL_SECONDS": "2",
           "ONBOARDER_WORKER_SHUTDOWN_DEADLINE_SECONDS": str(SHUTDOWN_DEADLINE),
           "ONBOARDER_RETRY_BASE_DELAY_MS": "500", "ONBOARDER_RETRY_MAX_DELAY_SECONDS": "10",
           "ONBOARDER_WORKER_CLAIM_BATCH": "20"}
    msps = harness.enqueue_customers(args.onboarder, env, database, sim, args.tenants, msps=3)
    # Its own random stream, so that the technician's order and pace do not shift the kill schedule.
    player = harness.technician(args.onboarder, env, database, sim, msps, rng=random.Random(args.seed * 7919 + 1),
                                max_pause=args.technician_pause, cooldown=10, threads=4)
    psql(db, f"UPDATE onboarder.queue_limits SET max_running = {LIMITS['global']}; "
             f"UPDATE onboarder.msps SET max_running = {LIMITS['msp']}")

    logs = [f"{work}/worker-{i}.log" for i in range(WORKERS)]
    workers = [harness.Worker(args.onboarder, env, PER_WORKER, logs[i]) for i in range(WORKERS)]
    observer = Observer(db)
    observer.start()
    injected = {"kill -9": 0, "restart PostgreSQL": 0, "SIGTERM": 0, "supervisor restarts": 0, "technician rounds": 0}
    sigterm = None
    started = time.time()
    pending = schedule()
    hands = technician.TechnicianThread(player, lambda: unfinished_or_none(db) == 0, pause=1.0,
                                        timeout=args.timeout, verbose=True)
    hands.start()
    while True:
        now = time.time() - started
        while pending and pending[0][0] <= now:
            _, what = pending.pop(0)
            if what == "kill -9":
                i = rng.randrange(WORKERS)
                workers[i].kill()
                workers[i].start()
            elif what == "restart PostgreSQL":
                harness.restart_cluster()
            else:
                sigterm = sigterm_busiest(db, workers)
            injected[what] += 1
            log(f"{now:5.1f}s {what} (unfinished jobs: {unfinished_or_none(db)})")
        # A worker that exits on its own is restarted, as systemd's Restart=on-failure would.
        for w in workers:
            if not w.alive():
                injected["supervisor restarts"] += 1
                log(f"{now:5.1f}s a worker exited with {w.process.returncode}: restarted")
                w.start()
        if not pending and unfinished_or_none(db) == 0:
            break
        if now > args.timeout:
            log("timed out")
            break
        time.sleep(0.2)
    elapsed = time.time() - started
    hands.halt()
    injected["technician rounds"] = player.rounds
    observer.stop = True
    observer.join()
    for w in workers:
        w.terminate()
    stats = sim.stats()
    results = check(db, sim, work, logs, observer, sigterm)
    sim.stop()

    failed = report(elapsed, work, faults, injected, stats, results)
    if failed:
        return 1
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def schedule() -> list[tuple[float, str]]:
    """The run's events, drawn up front from the seed: kill -9s, PostgreSQL restarts, one SIGTERM, by time."""
    events, t = [], 2.0
    for _ in range(args.kills):
        t += rng.uniform(0.5, 1.5) * args.kill_every
        events.append((t, "kill -9"))
    span = t
    for i in range(args.pg_restarts):
        events.append((span * (i + 1) / (args.pg_restarts + 1) + rng.uniform(-1, 1), "restart PostgreSQL"))
    events.append((span / 2 + rng.uniform(2, 4), "SIGTERM"))
    return sorted(events)


def sigterm_busiest(db: str, workers: list[harness.Worker]) -> tuple[object, float, int, int]:
    """SIGTERM to the worker with the most jobs in flight, so that its drain has something to drain; then it
    is started again. Returns (exit status, seconds to exit, jobs in flight, jobs it still held after)."""
    busy = {}
    for line in psql(db, "SELECT w.pid, count(j.id) FROM onboarder.workers w JOIN onboarder.jobs j "
                         "ON j.worker_id = w.id AND j.state = 'running' GROUP BY w.pid").splitlines():
        pid, n = line.split("|")
        busy[int(pid)] = int(n)
    worker = max(workers, key=lambda w: busy.get(w.pid, 0))
    in_flight = busy.get(worker.pid, 0)
    t0 = time.time()
    try:
        code: object = worker.terminate(timeout=SHUTDOWN_DEADLINE + 30)
    except subprocess.TimeoutExpired:
        code = "still running"
        worker.kill()
    held = psql(db, "SELECT count(*) FROM onboarder.jobs j JOIN onboarder.workers w ON w.id = j.worker_id "
                    f"WHERE j.state = 'running' AND w.pid = {worker.pid}")
    result = (code, time.time() - t0, in_flight, int(held))
    worker.start()
    return result


def report(elapsed: float, work: str, faults: dict, injected: dict[str, int], stats: dict[str, int],
           results: list[tuple[str, bool, str]]) -> list[str]:
    """The run's tables, as RELIABILITY.md quotes them; returns the invariants that failed."""
    print()
    print(f"chaos run: seed {args.seed}, {args.tenants} customers, {elapsed:.0f} s, work folder {work}")
    print()
    harness.table(["injected", "count"], [
        *injected.items(),
        *((f"simulator: {key}", stats[key]) for key in sorted(stats)
          if key.startswith("injected") or key in ("lost response", "throttled")),
        ("simulator: replication lag / credential propagation / DNS propagation",
         f"{faults['replication_lag_ms']} / {faults['propagation_ms']} / {faults['dns_propagation_ms']} ms"),
    ])
    print()
    harness.table(["invariant", "held", "detail"],
                  ((name, "yes" if ok else "**NO**", detail) for name, ok, detail in results))
    failed = [name for name, ok, _ in results if not ok]
    print()
    if failed:
        print(f"chaos: {len(failed)} invariant(s) failed: {', '.join(failed)}")
        print(f"(logs and the journal kept in {work})")
    else:
        print("chaos: every invariant held")
    return failed


def unfinished_or_none(db):
    try:
        return harness.unfinished(db)
    except subprocess.CalledProcessError:
        return None


def check(db, sim, work, logs, observer, sigterm):
    results = []

    def expect(name, ok, detail):
        results.append((name, bool(ok), detail))

    states = dict(line.split("|") for line in psql(
        db, "SELECT state, count(*) FROM onboarder.jobs GROUP BY 1").splitlines())
    terminal = {"succeeded", "succeeded_with_warnings", "failed", "cancelled", "needs_attention"}
    expect("every customer's onboarding is terminal", set(states) <= terminal, str(states))
    expect("no job stuck running", "running" not in states,
           f"{states.get('running', 0)} running")
    expect("every onboarding succeeded", set(states) <= {"succeeded", "succeeded_with_warnings"}, str(states))
    one_job = psql(db, "SELECT count(*) FROM onboarder.tenants t WHERE (SELECT count(*) FROM onboarder.jobs j "
                       "WHERE j.tenant_id = t.id AND j.kind = 'onboard') <> 1")
    expect("one onboarding job per customer", one_job == "0", f"{one_job} customers with another number")

    def live_credentials(kind, column):
        """customer → the key ids (passwords) or thumbprints (certificates) Onboarder has not removed."""
        found = {}
        for line in psql(db, f"""SELECT t.tenant_key, c.{column} FROM onboarder.credentials c
                                  JOIN onboarder.tenants t ON t.id = c.tenant_id
                                 WHERE c.kind = '{kind}' AND c.state <> 'removed'""").splitlines():
            key, value = line.split("|")
            found.setdefault(key, set()).add(value)
        return found

    recorded = live_credentials("password", "key_id")
    certs = live_credentials("certificate", "thumbprint")
    paths = dict(line.split("|") for line in psql(
        db, "SELECT tenant_key, payload->>'path' FROM onboarder.tenants t JOIN onboarder.jobs j ON j.tenant_id = t.id "
            "WHERE j.kind = 'onboard'").splitlines())

    apps_wrong, roles_wrong, passwords_wrong, certs_wrong, pbx_wrong, path_wrong = [], [], [], [], [], []
    for i in range(args.tenants):
        key = f"bench{i}.onmicrosoft.com"
        state = sim.tenant(key)
        ours = [a for a in state["applications"] if a["displayName"] == APP_NAME]
        if len(ours) != 1:
            apps_wrong.append(f"{key}: {len(ours)}")
            continue
        app = ours[0]
        sps = [p for p in state["servicePrincipals"] if p["appId"] == app["appId"]]
        assigned = [a["appRoleId"] for a in state["appRoleAssignments"] if sps and a["principalId"] == sps[0]["id"]]
        if len(sps) != 1 or len(assigned) != len(ROLES) or len(set(assigned)) != len(assigned):
            roles_wrong.append(f"{key}: {len(sps)} SPs, {len(assigned)} assignments")
        if set(app["passwordKeyIds"]) != recorded.get(key, set()) or len(app["passwordKeyIds"]) != 1:
            passwords_wrong.append(f"{key}: app {sorted(app['passwordKeyIds'])} recorded {sorted(recorded.get(key, []))}")
        if set(app["certificateThumbprints"]) != certs.get(key, set()):
            certs_wrong.append(key)
        pbx = state.get("pbx") or {}
        if (pbx.get("microsoft365Integration") or {}).get("ApplicationId") != app["appId"]:
            pbx_wrong.append(key)
        if paths.get(key) == "teams":
            if not any(d["id"].endswith("sbc.bench.example") and d["isVerified"] for d in state["domains"]):
                path_wrong.append(f"{key}: no verified SBC domain")
        elif not ((pbx.get("microsoft365Integration") or {}).get("AdUsers") or {}).get("SelectedUsers"):
            path_wrong.append(f"{key}: no users selected")
    expect("exactly one app per customer", not apps_wrong, f"{len(apps_wrong)} wrong {apps_wrong[:3]}")
    expect(f"exactly one service principal and the {len(ROLES)} role assignments", not roles_wrong,
           f"{len(roles_wrong)} wrong {roles_wrong[:3]}")
    expect("every password on every app recorded by Onboarder (and one each)", not passwords_wrong,
           f"{len(passwords_wrong)} wrong {passwords_wrong[:2]}")
    expect("the app's certificates are the recorded ones", not certs_wrong, f"{len(certs_wrong)} wrong {certs_wrong[:3]}")
    expect("the PBX points at the app", not pbx_wrong, f"{len(pbx_wrong)} wrong {pbx_wrong[:3]}")
    expect("the path's end state (Teams: SBC domain verified; M365: users selected)", not path_wrong,
           f"{len(path_wrong)} wrong {path_wrong[:3]}")
    succeeded, pbx_wrong = pbx_signs_in_with_active(db, sim)
    expect("every succeeded customer's PBX signs in with a credential Onboarder recorded as active",
           not pbx_wrong and succeeded > 0,
           f"{succeeded} succeeded customers' PBXs read; {len(pbx_wrong)} wrong {pbx_wrong[:3]}")

    # Secrets: the client secrets (opened from the database), the PBX and partner secrets.
    secrets = []
    for line in psql(db, "SELECT tenant_id, sealed FROM onboarder.credentials WHERE kind = 'password'").splitlines():
        tenant_id, sealed = line.split("|")
        secrets.append(harness.open_sealed(sealed, f"{work}/keys", f"onboarder.credentials/password/{tenant_id}"))
    secrets += [p["client_secret"] for p in sim.credentials.get("pbx", {}).values()]
    secrets.append(sim.credentials["partner_client_secret"])
    dump = subprocess.run(["pg_dump", "--data-only", db], capture_output=True, text=True, check=True).stdout
    data_directory = psql(args.admin_url, "SHOW data_directory")
    haystacks = {"worker logs": "".join(open(p, errors="replace").read() for p in logs),
                 "simulator journal": open(sim.journal, errors="replace").read(),
                 "simulator output": open(f"{work}/sim.out", errors="replace").read(),
                 "database dump (every column)": dump}
    certificates = os.path.join(work, "pbx-certificates")  # the technician's folders: certificates, no secret
    haystacks["technician's certificate folders"] = "".join(
        open(os.path.join(folder, name), errors="replace").read()
        for folder, _, names in os.walk(certificates) for name in names)
    pg_log = os.path.join(os.path.dirname(data_directory), "server.log")  # scripts/dev-db's log
    if os.path.exists(pg_log):
        haystacks["PostgreSQL server log"] = open(pg_log, errors="replace").read()
    leaks = [f"{where}" for where, text in haystacks.items() for s in secrets if s and s in text]
    expect("no secret value in any log, journal or column", not leaks and len(secrets) > args.tenants,
           f"{len(secrets)} secrets searched in {', '.join(haystacks)}; found in: {sorted(set(leaks)) or 'none'}")

    expect(f"limits never exceeded (global {LIMITS['global']}, MSP {LIMITS['msp']}, tenant {LIMITS['tenant']})",
           all(observer.max[k] <= LIMITS[k] for k in LIMITS) and observer.samples > 100,
           f"most running seen: global {observer.max['global']}, MSP {observer.max['msp']}, tenant "
           f"{observer.max['tenant']} ({observer.samples} samples)")
    if sigterm:
        code, seconds, in_flight, held = sigterm
        expect(f"SIGTERM: the worker drained within its {SHUTDOWN_DEADLINE} s deadline, exited 0, held no job",
               code == 0 and seconds <= SHUTDOWN_DEADLINE + 5 and held == 0 and in_flight > 0,
               f"{in_flight} jobs in flight; exit {code} after {seconds:.1f} s; {held} still marked running")
    rescued = psql(db, "SELECT count(*) FROM onboarder.events WHERE kind = 'rescued'")
    expect("killed workers' jobs were rescued", int(rescued) > 0 or args.kills == 0, f"{rescued} rescues")
    return results


def pbx_signs_in_with_active(db: str, sim: harness.Simulator) -> tuple[int, list[str]]:
    """Every succeeded customer's PBX, as the simulator holds it (`GET /_sim/pbx/{pbx}`): signed in to Microsoft
    365, holding the secret of a password Onboarder recorded as active for that customer (`secret_key_id`, the
    key id of the app password whose value the PBX holds) and its own key pair's certificate recorded as active.
    Returns (customers read, one line per customer where that is not so)."""
    active: dict[tuple[str, str], set[str]] = {}
    for line in psql(db, """SELECT t.tenant_key, c.kind, coalesce(c.key_id::text, c.thumbprint)
                              FROM onboarder.credentials c JOIN onboarder.tenants t ON t.id = c.tenant_id
                             WHERE c.state = 'active'""").splitlines():
        key, kind, value = line.split("|")
        active.setdefault((key, kind), set()).add(value.upper())
    wrong, succeeded = [], 0
    for line in psql(db, """SELECT t.tenant_key, j.payload->>'pbx_url' FROM onboarder.jobs j
                              JOIN onboarder.tenants t ON t.id = j.tenant_id
                             WHERE j.kind = 'onboard' AND j.state IN ('succeeded', 'succeeded_with_warnings')""").splitlines():
        key, pbx_url = line.split("|")
        succeeded += 1
        pbx = sim.pbx(technician.pbx_name(pbx_url))
        problems = []
        if not pbx.get("signed_in"):
            problems.append("not signed in")
        if (pbx.get("secret_key_id") or "").upper() not in active.get((key, "password"), set()):
            problems.append(f"secret {pbx.get('secret_key_id')} not an active password "
                            f"{sorted(active.get((key, 'password'), []))}")
        if (pbx.get("certificate_thumbprint") or "").upper() not in active.get((key, "certificate"), set()):
            problems.append(f"certificate {pbx.get('certificate_thumbprint')} not an active certificate "
                            f"{sorted(active.get((key, 'certificate'), []))}")
        if problems:
            wrong.append(f"{key}: {'; '.join(problems)}")
    return succeeded, wrong


sys.exit(main())
