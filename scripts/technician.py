"""The MSP's technician, played against onboarder-sim: what scripts/demo, scripts/chaos and scripts/bench do where a
person stands at each customer's PBX.

A round takes one hand-over sheet (`onboarder handover sheet --format json`, as the service login, which holds the
key file) and, for every customer on it, does what the README's "The technician's part" asks of a person: at the
PBX's Microsoft 365 page the secret pasted, "Generate New Key Pair" when the certificate is still needed (its
certificate saved into a folder, named after the customer) and "Log into Microsoft 365"; then the batch's folder
handed over with `onboarder cert add --dir`, and `onboarder handover done CUSTOMER...` (both as an operator login, one
call per MSP for the round's customers). The PBX's buttons are the simulator's technician endpoints (`/_sim/pbx/{pbx}/m365/...`).

A secret the sheet showed before (`secret_shown_before`) is taken from this player's memory, or from one
`--again` sheet when it was shown to someone else (the demo prints the sheet first). Secrets stay in memory: never
written to a file, a log or an argument list.

Imported by harness.py (chaos, benchmarks); run by scripts/demo:

  python3 scripts/technician.py --onboarder BIN --sim URL --service-url URL --operator-url URL --keys FILE \\
      --folder DIR --until-done [--timeout S]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Callable


def log(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", file=sys.stderr, flush=True)


class _Reaped(subprocess.Popen):
    """A child whose resource usage is kept when it is reaped (CPython's POSIX `_try_wait`, with wait4 for
    waitpid): the benchmark counts the CPU of the technician's `onboarder` commands, which share the machine."""

    rusage = None

    def _try_wait(self, wait_flags):
        try:
            pid, status, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid == self.pid:
            self.rusage = usage
        return pid, status


def run(command: list[str], env: dict, spent: "Spent") -> subprocess.CompletedProcess:
    """`subprocess.run(command, env=env, capture_output=True, text=True)`, its CPU added to `spent`."""
    with _Reaped(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        out, err = child.communicate()
    usage = child.rusage
    spent.add_cpu((usage.ru_utime + usage.ru_stime) if usage else 0.0)
    return subprocess.CompletedProcess(command, child.returncode, out, err)


@dataclass
class Spent:
    """Where a technician's time went over its rounds: wall seconds by phase (the sheet, the PBXs, `cert add`,
    `handover done`), and the CPU seconds of its `onboarder` commands. Thread-safe."""

    wall: dict[str, float] = field(default_factory=dict)
    command_cpu: float = 0.0
    sign_in_refusals: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_wall(self, phase: str, since: float) -> float:
        """Adds the wall time from `since` (time.monotonic()) to now to `phase`; returns now."""
        now = time.monotonic()
        with self.lock:
            self.wall[phase] = self.wall.get(phase, 0.0) + now - since
        return now

    def add_cpu(self, seconds: float) -> None:
        with self.lock:
            self.command_cpu += seconds

    def refused(self) -> None:
        with self.lock:
            self.sign_in_refusals += 1

    def summary(self) -> str:
        phases = ", ".join(f"{phase} {seconds:.0f} s" for phase, seconds in self.wall.items())
        return (f"wall by phase: {phases}; the onboarder commands' CPU {self.command_cpu:.1f} s; "
                f"{self.sign_in_refusals} sign-ins refused and tried again")


def pbx_name(pbx_url: str) -> str:
    """The simulator's name of a PBX: the last path segment of its URL `{sim}/pbx/{name}`.

    >>> pbx_name("http://127.0.0.1:47080/pbx/customer3")
    'customer3'
    >>> pbx_name("http://127.0.0.1:47080/pbx/customer3/")
    'customer3'
    """
    return urllib.parse.urlsplit(pbx_url).path.rstrip("/").rsplit("/", 1)[-1]


def row_signature(row: dict) -> tuple:
    """What a sheet row asks of the technician: the same signature again means the same work again.

    >>> row_signature({"job_id": 7, "step": "verify", "secret_key_id": "k", "certificate_needed": False})
    (7, 'verify', 'k', False)
    """
    return row["job_id"], row["step"], row.get("secret_key_id"), bool(row.get("certificate_needed"))


@dataclass
class RoundResult:
    """What one round did, in counts; `problems` holds one line per customer the technician could not finish."""

    rows: int = 0
    played: int = 0
    certificates: int = 0
    secrets: int = 0
    signed_in: int = 0
    handed_over: int = 0  # customers named to `handover done`
    resumed: int = 0  # of them, those that resumed a waiting job (the others had gone on after `cert add`)
    problems: list[str] = field(default_factory=list)


class SimPBX:
    """The buttons on one PBX's Microsoft 365 page, as the simulator's technician endpoints offer them."""

    def __init__(self, sim_url: str, name: str, timeout: float = 30):
        self.base = f"{sim_url}/_sim/pbx/{urllib.parse.quote(name, safe='')}"
        self.timeout = timeout

    def _call(self, method: str, path: str, body: bytes | None = None,
              content_type: str | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base + path, data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def state(self) -> dict:
        status, body = self._call("GET", "")
        if status != 200:
            raise RuntimeError(f"GET {self.base}: {status} {body[:300]!r}")
        return json.loads(body)

    def generate_key_pair(self) -> str:
        """"Generate New Key Pair": the PBX's new certificate, PEM (the previous key pair is gone)."""
        status, body = self._call("POST", "/m365/keypair")
        if status != 200:
            raise RuntimeError(f"Generate New Key Pair: {status} {body[:300]!r}")
        return json.loads(body)["certificate_pem"]

    def download_certificate(self) -> str | None:
        """The certificate of the key pair the PBX holds, or None when it has none yet."""
        status, body = self._call("GET", "/m365/certificate")
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError(f"download the certificate: {status} {body[:300]!r}")
        return body.decode()

    def paste_secret(self, secret: str) -> None:
        status, body = self._call("PUT", "/m365/secret", secret.encode(), "text/plain; charset=utf-8")
        if status not in (200, 204):
            raise RuntimeError(f"paste the secret: {status} {body[:300]!r}")  # the answer never holds the secret

    def sign_in(self) -> str | None:
        """"Log into Microsoft 365": None when it worked, else Entra's words (AADSTS...)."""
        status, body = self._call("POST", "/m365/signin")
        if status in (200, 204):
            return None
        try:
            answer = json.loads(body)
            return f"{answer.get('error')}: {answer.get('error_description')}"
        except ValueError:
            return f"{status} {body[:300]!r}"


class Technician:
    """Plays the technician for every customer on the hand-over sheet.

    service_env: the environment of `onboarder handover sheet` (the service login and the key file);
    operator_env: that of `cert add --dir` and `handover done` (an operator login mapped to the customers' MSPs).
    rng: when given, each round takes the customers in a random order and pauses up to `max_pause` seconds
    before each (chaos); `cooldown`: a row the sheet still shows unchanged is played again only after this long
    (the job re-checks by itself meanwhile); `threads`: customers played at once."""

    def __init__(self, onboarder: str, sim_url: str, service_env: dict, operator_env: dict, folder: str,
                 rng: random.Random | None = None, max_pause: float = 0.0, cooldown: float = 20.0,
                 threads: int = 8, sign_in_attempts: int = 5, say: Callable[[str], None] = log):
        self.onboarder, self.sim_url = onboarder, sim_url.rstrip("/")
        self.service_env, self.operator_env = service_env, operator_env
        self.folder, self.rng, self.max_pause, self.cooldown = folder, rng, max_pause, cooldown
        self.threads, self.sign_in_attempts, self.say = threads, sign_in_attempts, say
        self.secrets: dict[str, str] = {}  # secret key id -> the secret, as the sheet showed it (memory only)
        self.played: dict[tuple, float] = {}  # row signature -> when it was played
        self.rounds = 0
        self.stop = threading.Event()
        self.spent = Spent()
        self._done_takes_many: bool | None = None

    # MARK: the sheet

    def sheet(self, again: bool = False) -> list[dict]:
        """The hand-over sheet, as the service login gets it. Its output holds secrets: kept in memory only."""
        command = [self.onboarder, "handover", "sheet", "--format", "json"] + (["--again"] if again else [])
        result = run(command, self.service_env, self.spent)
        if result.returncode != 0:
            raise RuntimeError(f"onboarder handover sheet exited {result.returncode}: {result.stderr.strip()[-600:]}")
        rows = json.loads(result.stdout or "[]")
        for row in rows:
            if row.get("secret") and row.get("secret_key_id"):
                self.secrets[row["secret_key_id"]] = row["secret"]
        return rows

    def current_sheet(self) -> list[dict]:
        """This round's rows, with every secret either on the sheet or remembered; secrets shown to someone
        else before (the demo's printed sheet) are shown again once with --again."""
        rows = self.sheet()
        if any(row.get("secret_key_id") and row.get("secret_key_id") not in self.secrets
               and row.get("secret_shown_before") for row in rows):
            self.sheet(again=True)
        return rows

    # MARK: a round

    def due(self, rows: list[dict], now: float) -> list[dict]:
        """The rows to play now: new ones, and unchanged ones whose last play is `cooldown` old."""
        return [row for row in rows if now - self.played.get(row_signature(row), -1e9) >= self.cooldown]

    def play_round(self) -> RoundResult:
        """One sheet, played in a technician's order: at each PBX the secret, the key pair and the sign-in; then
        the batch's certificates handed over (`cert add --dir`, which wakes the jobs: everything they check is
        in place by then); then one `handover done` per MSP for its customers."""
        result = RoundResult()
        self.rounds += 1
        since = time.monotonic()
        rows = self.current_sheet()
        since = self.spent.add_wall("the sheet", since)
        result.rows = len(rows)
        todo = self.due(rows, time.monotonic())
        if self.rng:
            self.rng.shuffle(todo)
        if not todo:
            return result
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.threads) as pool:
            at_pbx = list(pool.map(self.at_pbx, todo))
        since = self.spent.add_wall("at the PBXs", since)
        ready = []
        for row, (pem, problem) in zip(todo, at_pbx):
            result.played += 1
            if problem:
                result.problems.append(problem)
                continue
            result.secrets += 1 if row.get("secret_key_id") else 0
            result.signed_in += 1
            ready.append((row, pem))
        taken = self.hand_over_certificates([(row, pem) for row, pem in ready if pem is not None], result)
        result.certificates = len(taken)
        since = self.spent.add_wall("cert add", since)
        done = [row for row, pem in ready if pem is None or row["job_id"] in taken]
        by_msp: dict[str, dict[str, None]] = {}  # msp -> its customers, in order, each once (a row is a job)
        for row in done:
            by_msp.setdefault(row["msp"], {})[row["customer"]] = None
        result.handed_over = sum(len(customers) for customers in by_msp.values())
        calls = [(msp, list(customers)) for msp, customers in by_msp.items()] if self.done_takes_many() else \
            [(msp, [customer]) for msp, customers in by_msp.items() for customer in customers]
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.threads) as pool:
            for resumed, problem in pool.map(lambda call: self.handover_done(*call), calls):
                result.resumed += resumed
                if problem:
                    result.problems.append(problem)
        self.spent.add_wall("handover done", since)
        return result

    def at_pbx(self, row: dict) -> tuple[str | None, str | None]:
        """At one PBX: the secret pasted, the certificate (when still needed) and "Log into Microsoft 365".
        Returns (the certificate's PEM or None, a problem or None); never raises."""
        customer = row["customer"]
        if self.max_pause and self.rng:
            time.sleep(self.rng.uniform(0, self.max_pause))
        self.played[row_signature(row)] = time.monotonic()
        pbx = SimPBX(self.sim_url, pbx_name(row["pbx_url"]))
        try:
            key_id = row.get("secret_key_id")
            if key_id:
                secret = self.secrets.get(key_id)
                if secret is None:
                    return None, f"{customer}: the sheet did not show secret {key_id}, even with --again"
                pbx.paste_secret(secret)
            pem = self.pbx_certificate(row, pbx) if row.get("certificate_needed") else None
            refusal = None
            for attempt in range(self.sign_in_attempts):
                refusal = pbx.sign_in()
                if refusal is None:
                    return pem, None
                self.spent.refused()
                time.sleep(min(0.5 * 2**attempt, 4))  # the app or its redirect URI may not be visible yet
            return None, f"{customer}: Log into Microsoft 365 refused: {refusal}"  # the next round tries again
        except (OSError, RuntimeError, ValueError) as error:
            return None, f"{customer}: {error}"

    def pbx_certificate(self, row: dict, pbx: SimPBX) -> str:
        """The PBX's certificate for this row. An onboarding takes the key pair the PBX already has, if any
        (pressing "Generate New Key Pair" again would orphan a certificate already handed over); a rotation asks
        for a new one."""
        if row.get("kind") == "onboard":
            pem = pbx.download_certificate()
            if pem:
                return pem
        return pbx.generate_key_pair()

    def hand_over_certificates(self, rows: list[tuple[dict, str]], result: RoundResult) -> set[int]:
        """The certificates into a folder per MSP, `<customer>.pem`, then one `cert add --dir` per folder.
        Returns the jobs whose certificate `cert add` took."""
        if not rows:
            return set()
        batch = os.path.join(self.folder, f"round-{self.rounds}")
        shutil.rmtree(batch, ignore_errors=True)
        files: dict[str, dict[str, int]] = {}  # msp -> file name -> job id
        for row, pem in rows:
            msp_folder = os.path.join(batch, row["msp"])
            os.makedirs(msp_folder, exist_ok=True)
            name = f"{row['customer']}.pem"
            with open(os.path.join(msp_folder, name), "w") as out:
                out.write(pem)
            files.setdefault(row["msp"], {})[name] = row["job_id"]
        taken: set[int] = set()
        for msp, names in files.items():
            command = [self.onboarder, "cert", "add", "--dir", os.path.join(batch, msp), "--msp", msp]
            outcome = run(command, self.operator_env, self.spent)
            report = outcome.stdout + outcome.stderr
            if outcome.returncode == 0:
                taken.update(names.values())
                continue
            if outcome.returncode == 2:  # some files refused, one line each naming the file; the others recorded
                refused = {name for name in names if name in report}
                taken.update(job for name, job in names.items() if name not in refused)
            result.problems.append(f"onboarder cert add --dir ({msp}) exited {outcome.returncode}: "
                                   f"{report.strip()[-600:]}")
        return taken

    def done_takes_many(self) -> bool:
        """Whether this `onboarder` takes several customers in one `handover done` (since commit e32faac). An
        older build (a benchmark's baseline) is called once per customer, as its technician did then."""
        if self._done_takes_many is None:
            usage = subprocess.run([self.onboarder, "handover", "done", "--help"], capture_output=True, text=True)
            self._done_takes_many = "<customers> ..." in usage.stdout
        return self._done_takes_many

    def handover_done(self, msp: str, customers: list[str]) -> tuple[int, str | None]:
        """`onboarder handover done CUSTOMER...` for one MSP's customers of the round, in one call: (how many
        resumed a waiting job; a problem or None). Exit 4 alone is no problem: the certificate's wake-up already
        let those go on."""
        done = run([self.onboarder, "handover", "done", *customers, "--msp", msp], self.operator_env, self.spent)
        resumed = sum(1 for line in done.stdout.splitlines() if line.startswith("handover done for "))
        if done.returncode in (0, 4):
            return resumed, None
        return resumed, (f"onboarder handover done ({msp}, {len(customers)} customers) exited {done.returncode}: "
                         f"{(done.stdout + done.stderr).strip()[-300:]}")

    # MARK: until done

    def play_until(self, finished: Callable[[], bool], pause: float = 2.0, timeout: float = 600,
                   verbose: bool = True) -> bool:
        """Rounds until `finished()` (or `stop` is set, or `timeout`); True when finished. A failed sheet or
        round is said and tried again next round, as a person would."""
        started = time.monotonic()
        while not self.stop.is_set():
            if finished():
                return True
            if time.monotonic() - started > timeout:
                return False
            try:
                result = self.play_round()
                if verbose and result.played:
                    self.say(f"technician, round {self.rounds}: {result.rows} customers on the sheet, "
                             f"{result.played} played: {result.certificates} certificates handed over, "
                             f"{result.secrets} secrets pasted, {result.signed_in} signed in, "
                             f"{result.handed_over} `handover done` ({result.resumed} resumed a waiting job, "
                             f"the others had gone on after `cert add`)")
                for problem in result.problems[:10]:
                    self.say(f"  technician: {problem}")
                if len(result.problems) > 10:
                    self.say(f"  technician: … and {len(result.problems) - 10} more")
            except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as error:
                self.say(f"technician, round {self.rounds}: {error}")
            self.stop.wait(pause)
        return finished()


class TechnicianThread(threading.Thread):
    """A Technician playing in the background while workers run (chaos, benchmarks)."""

    def __init__(self, technician: Technician, finished: Callable[[], bool], pause: float = 1.0,
                 timeout: float = 3600, verbose: bool = False):
        super().__init__(daemon=True)
        self.technician, self.finished, self.pause, self.timeout, self.verbose = \
            technician, finished, pause, timeout, verbose

    def run(self) -> None:
        self.technician.play_until(self.finished, self.pause, self.timeout, self.verbose)

    def halt(self) -> None:
        self.technician.stop.set()
        self.join()


def unfinished_onboardings(url: str) -> int:
    """Onboardings still queued, running or waiting (waiting includes those waiting for the technician), but
    not those waiting for their customer's consent to the partner app (dashboard.consent_waiting): no
    technician can end those; `onboarder consent links` lists them for the MSP to send out."""
    out = subprocess.run(["psql", url, "-XqtA", "-c", "SELECT count(*) FROM onboarder.jobs j "
                          "WHERE kind = 'onboard' AND state IN ('queued', 'running', 'waiting') AND NOT EXISTS "
                          "(SELECT 1 FROM dashboard.consent_waiting c WHERE c.job_id = j.id)"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/technician.py",
                                     description="Play the technician until every onboarding has ended.")
    parser.add_argument("--onboarder", required=True, help="the onboarder binary")
    parser.add_argument("--sim", required=True, help="onboarder-sim's base URL")
    parser.add_argument("--service-url", required=True, help="the service login's database URL (handover sheet)")
    parser.add_argument("--operator-url", required=True, help="an operator login's URL (cert add, handover done)")
    parser.add_argument("--keys", required=True, help="the key file (secrets.key_file) the sheet opens secrets with")
    parser.add_argument("--folder", required=True, help="where the PBXs' certificates are put, one folder per round")
    parser.add_argument("--until-done", action="store_true",
                        help="play rounds until no onboarding is queued, running or waiting (else one round)")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between rounds")
    parser.add_argument("--cooldown", type=float, default=15.0)
    args = parser.parse_args(argv)
    base = {k: v for k, v in os.environ.items() if not k.startswith("ONBOARDER_DATABASE_URL")}
    service_env = {**base, "ONBOARDER_DATABASE_URL": args.service_url, "ONBOARDER_SECRETS_KEY_FILE": args.keys}
    operator_env = {**base, "ONBOARDER_DATABASE_URL": args.operator_url}
    os.makedirs(args.folder, mode=0o700, exist_ok=True)
    technician = Technician(args.onboarder, args.sim, service_env, operator_env, args.folder, cooldown=args.cooldown)
    if not args.until_done:
        result = technician.play_round()
        log(f"technician: {result.rows} customers on the sheet, {result.played} played, "
            f"{result.handed_over} `handover done`")
        for problem in result.problems:
            log(f"  technician: {problem}")
        return 0 if not result.problems else 1
    if technician.play_until(lambda: unfinished_onboardings(args.operator_url) == 0, args.pause, args.timeout):
        log(f"technician: every onboarding has ended ({technician.rounds} rounds)")
        return 0
    log(f"technician: onboardings still unfinished after {args.timeout:.0f} s")
    return 1


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    sys.exit(main(sys.argv[1:]))
