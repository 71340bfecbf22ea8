"""Shared by scripts/bench-e2e.py and scripts/chaos.py: a simulator with a world of customers, a fresh
database, `onboarder enqueue`, worker processes, and reads of both sides' state. Imported, not run.

Everything goes through the shipped binaries (onboarder, onboarder-sim) and psql, as an operator would.
"""
import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time


def log(message):
    print(f"\033[1m==> {message}\033[0m", file=sys.stderr, flush=True)


def psql(url, sql, *variables):
    """Runs SQL, returns the unaligned, tuples-only output (rows split by newline, fields by |)."""
    args = ["psql", url, "-XqtA", "-v", "ON_ERROR_STOP=1"]
    for name, value in variables:
        args += ["-v", f"{name}={value}"]
    return subprocess.run(args, input=sql, capture_output=True, text=True, check=True).stdout.strip()


def fresh_db(admin_url, name, onboarder):
    psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(admin_url, f"CREATE DATABASE {name}")
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    subprocess.run([onboarder, "migrate"], env={**os.environ, "ONBOARDER_DATABASE_URL": url},
                   capture_output=True, check=True)
    return url


def cpu_seconds(pid):
    """User + system CPU of one process so far (0 when it is gone)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return 0.0


def status_kib(pid, field):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Simulator:
    """onboarder-sim serving a world of `tenants` customers (domain bench<i>.onmicrosoft.com, PBX bench<i>)."""

    def __init__(self, binary, workdir, tenants, faults, journal=False, consent="full", sku="E5"):
        self.workdir = workdir
        world = {"seed": 3, "tenants": [
            {"domain": f"bench{i}.onmicrosoft.com", "consent": consent, "sku": sku,
             "users": ["alice", "bob", "carol"], "pbx": f"bench{i}"} for i in range(tenants)]}
        json.dump(world, open(f"{workdir}/world.json", "w"))
        json.dump(faults, open(f"{workdir}/faults.json", "w"))
        args = [binary, "--port", "0", "--world", f"{workdir}/world.json", "--faults", f"{workdir}/faults.json",
                "--credentials", f"{workdir}/credentials.json", "--pbx-secrets", f"{workdir}/pbx-secrets/pbx.json"]
        # The PBXs' secrets in a folder of their own: the only one enqueue rows may name.
        os.makedirs(f"{workdir}/pbx-secrets", exist_ok=True)
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
        self.credentials = json.load(open(f"{workdir}/credentials.json"))

    def get(self, path):
        return json.loads(subprocess.run(["curl", "-sf", self.url + path], capture_output=True, check=True).stdout)

    def stats(self):
        return self.get("/_sim/stats")

    def tenant(self, key):
        return self.get(f"/_sim/tenants/{key}")

    def cpu(self):
        return cpu_seconds(self.process.pid)

    def stop(self):
        self.process.terminate()
        self.process.wait()


def customers_csv(path, tenants, sim, paths=("m365", "teams"), msps=1):
    """The enqueue file: customer i on paths[i % len(paths)], MSP bench<i % msps>."""
    with open(path, "w") as out:
        out.write("msp,tenant,path,pbx_url,pbx_client_id,pbx_secret\n")
        for i in range(tenants):
            out.write(f"bench{i % msps},bench{i}.onmicrosoft.com,{paths[i % len(paths)]},{sim.url}/pbx/bench{i},"
                      f"onboarder,json:pbx.json#pbx.bench{i}.client_secret\n")


def onboarder_env(onboarder, sim, db):
    """The environment every onboarder process of a run gets: the simulator's URLs, a fresh key file."""
    keys = f"{sim.workdir}/keys"
    if not os.path.exists(keys):
        with open(os.open(keys, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            subprocess.run([onboarder, "keys", "generate"], stdout=out, check=True)
    return {
        **os.environ,
        "ONBOARDER_DATABASE_URL": db,
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
        "ONBOARDER_ONBOARDING_CERTIFICATE_SOURCE": "file",
        "ONBOARDER_LOG_FORMAT": "json",
        "ONBOARDER_LOG_LEVEL": "warning",
        "ONBOARDER_WORKER_CLAIM_BATCH": "200",
    }


def supply_pbx_certificates(db, workdir):
    """Records one PBX certificate per customer, as `onboarder cert add` does (no key generation in a run)."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{workdir}/pbx.key",
                    "-out", f"{workdir}/pbx.pem", "-days", "365", "-subj", "/CN=bench-pbx"],
                   capture_output=True, check=True)
    fingerprint = subprocess.run(["openssl", "x509", "-in", f"{workdir}/pbx.pem", "-noout", "-fingerprint", "-sha1"],
                                 capture_output=True, text=True, check=True).stdout
    thumb = fingerprint.split("=", 1)[1].strip().replace(":", "")
    psql(db, """INSERT INTO onboarder.credentials (tenant_id, kind, source, state, thumbprint, certificate_pem,
                  display_name, expires_at)
                SELECT id, 'certificate', 'pbx', 'supplied', :'thumb', :'pem', 'bench PBX', now() + interval '1 year'
                  FROM onboarder.tenants""", ("thumb", thumb), ("pem", open(f"{workdir}/pbx.pem").read()))


class Worker:
    """One `onboarder worker` process; its log appends to `log_path`."""

    def __init__(self, onboarder, env, concurrency, log_path):
        self.onboarder, self.env, self.concurrency, self.log_path = onboarder, env, concurrency, log_path
        self.start()

    def start(self):
        if getattr(self, "log", None):
            self.log.close()  # the previous process's (after a kill and restart)
        self.log = open(self.log_path, "a")
        self.process = subprocess.Popen([self.onboarder, "worker", "--concurrency", str(self.concurrency)],
                                        env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.started = time.time()

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process.poll() is None

    def cpu(self):
        return cpu_seconds(self.pid)

    def peak_rss_kib(self):
        return status_kib(self.pid, "VmHWM")

    def rss_kib(self):
        return status_kib(self.pid, "VmRSS")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def terminate(self, timeout=120):
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def unfinished(db):
    return int(psql(db, "SELECT count(*) FROM onboarder.jobs WHERE state IN ('queued', 'running', 'waiting')"))


def open_sealed(sealed, keys_file, context):
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


def workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)
