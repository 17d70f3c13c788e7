"""A broker, router workers as processes, and the counting every case shares.

Every process started here is registered and killed by ``kill_all()``; every wait is
bounded by the case's ``Deadline``; every server is on 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from router.broker import LocalBroker, free_port

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 4
_PROCS: list[subprocess.Popen[bytes]] = []
_CASE = 0  # bumped by kill_all(): a worker's orchestrator lives within one case


class CaseTimeout(Exception):
    """The case ran past its budget."""


@dataclass
class Deadline:
    end: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def left(self) -> float:
        return self.end - time.monotonic()

    def cap(self, seconds: float) -> float:
        """``seconds``, or less if the case's budget ends sooner (at least 0.1)."""
        return max(0.1, min(seconds, self.left()))


@dataclass
class Result:
    """One case's row of the table."""

    name: str
    produced: int = 0
    decided: int = 0
    dlq: int = 0
    lost: int = 0
    dup_tickets: int = 0
    dup_replies: int = 0
    replies_missing: int = 0
    secrets: int = 0
    http_500: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth saying, not a failure
    na: str | None = None
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        if self.na is not None:
            return "n/a"
        zeros = (self.lost, self.dup_tickets, self.dup_replies, self.replies_missing,
                 self.secrets, self.http_500)
        return "pass" if not any(zeros) and not self.problems else "FAIL"

    def problem(self, text: str) -> None:
        self.problems.append(text)


def register(proc: subprocess.Popen[bytes]) -> None:
    _PROCS.append(proc)


def kill_all() -> None:
    """Kill every process the harness started that still runs (workers, CLI runs); the
    workers' orchestrators end with them."""
    global _CASE
    _CASE += 1
    for proc in _PROCS:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
    _PROCS.clear()


def run(args: list[str], *, env: dict[str, str], cwd: Path, timeout: float,
        input_: bytes | None = None) -> tuple[int, str]:
    """Run a command in its own session, bounded; (returncode, stdout+stderr). A command
    that outlives ``timeout`` is killed and reported with return code -9."""
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    register(proc)
    try:
        out, _ = proc.communicate(input=input_, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        return -9, out.decode(errors="replace") + f"\n[killed after {timeout:.0f}s]"
    return proc.returncode, out.decode(errors="replace")


# --- the broker ---------------------------------------------------------------------------


@dataclass
class Kafka:
    """The harness's own broker (restartable), or a given one (cases that restart it are
    then n/a)."""

    tmp: Path
    given: str | None = None
    broker: LocalBroker | None = None

    def start(self) -> None:
        if self.given:
            return
        self.broker = LocalBroker(self.tmp / "kafka", port=free_port(),
                                  controller_port=free_port(), partitions=PARTITIONS)
        self.broker.start(timeout=120)

    @property
    def bootstrap(self) -> str:
        if self.given:
            return self.given
        assert self.broker is not None
        return self.broker.bootstrap

    @property
    def restartable(self) -> bool:
        return self.broker is not None

    def stop(self) -> None:
        if self.broker is not None:
            self.broker.stop()

    def restart_start(self) -> None:
        if self.broker is not None:
            self.broker.start(timeout=120)


# --- a worker -----------------------------------------------------------------------------

TEXTS = (
    "@acmesupport I was charged twice for my subscription this month, order {n}. "
    "Please refund the duplicate charge.",
    "@acmesupport my order {n} never arrived, tracking says delivered but nothing is at "
    "my door",
    "@acmesupport I can't log in to account {n}, the password reset email never arrives",
    "@acmesupport my invoice {n} shows the wrong VAT number, please correct it",
    "@acmesupport parcel {n} arrived broken, the screen is cracked, I need a replacement",
)


def mention(mid: str, handle: str, n: int, text: str | None = None) -> dict[str, Any]:
    """A support request in the generic JSON form; ``id`` comes first so it can be read
    back from the first bytes of a (possibly truncated) dead letter."""
    return {"id": mid, "network": "generic",
            "text": text if text is not None else TEXTS[n % len(TEXTS)].format(n=4000 + n),
            "author": {"id": f"u-{handle}", "handle": handle, "name": handle.title(),
                       "profile_url": f"https://social.example/@{handle}", "followers": 10},
            "created_at": "2026-11-23T10:00:00Z",
            "url": f"https://social.example/@{handle}/{mid}"}


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode()


def key_of(obj: dict[str, Any]) -> bytes:
    return f"generic:u-{obj['author']['handle']}".encode()


ID_RE = re.compile(rb'^\s*\{\s*"id"\s*:\s*"([^"]{1,80})"')


@dataclass
class Worker:
    """One router worker in its own session, isolated by prefix, app id and files."""

    kafka: Kafka
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"h{uuid.uuid4().hex[:8]}.")
    web_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    #: Start the worker again when it exits non-zero on its own, as an orchestrator does
    #: (compose's ``restart: unless-stopped``); each restart's reason is kept.
    orchestrated: bool = False
    restarts: list[str] = field(default_factory=list)
    _stopping: bool = False
    _supervisor: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)

    def _supervise(self, case: int) -> None:
        while _CASE == case:
            time.sleep(0.5)
            proc = self.proc
            if _CASE != case or self._stopping or proc is None or proc.poll() in (None, 0):
                continue
            last = (self.log_text().strip().splitlines() or ["(no log)"])[-1]
            self.restarts.append(last[:200])
            self.start()

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ROUTER_") and k != "KAFKA_BOOTSTRAP"}
        env.update({
            "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
                os.pathsep),
            "ROUTER_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
            "ROUTER_TOPIC_PREFIX": self.prefix,
            "ROUTER_APP_ID": f"router-{self.prefix.rstrip('.')}",
            "ROUTER_DATA_DIR": str(self.workdir / "data"),
            "ROUTER_EMBEDDED_DESK_PATH": str(self.workdir / "desk.sqlite"),
            "ROUTER_EMBEDDED_DESK_URL": f"http://127.0.0.1:{self.web_port}/desk/tickets/{{id}}",
            "ROUTER_REPLY_LOG_PATH": str(self.workdir / "replies.jsonl"),
            "ROUTER_WEB_PORT": str(self.web_port),
            "ROUTER_WEB_HOST": "127.0.0.1",
            "ROUTER_BATCH_TIMEOUT": "0.05",
            "ROUTER_INCIDENT_MIN_REPORTS": "100000",  # no incidents: one ticket per customer
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def topic(self, base: str) -> str:
        return f"{self.prefix}{base}"

    # --- the process ---
    def start(self, env: dict[str, str] | None = None) -> None:
        self._stopping = False
        if self.orchestrated and self._supervisor is None:
            self._supervisor = threading.Thread(target=self._supervise, args=(_CASE,),
                                                daemon=True)
            self._supervisor.start()
        log = open(self.workdir / "worker.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "router", "worker", "-l", "info"],
            env=env or self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        register(self.proc)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, *, kill: bool = False, timeout: float = 20) -> int | None:
        self._stopping = True
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        rc, self.proc = self.proc.returncode, None
        return rc

    def health(self, timeout: float = 5.0) -> float | None:
        """Seconds /health took to answer 200, or None."""
        t0 = time.monotonic()
        try:
            r = httpx.get(f"http://127.0.0.1:{self.web_port}/health", timeout=timeout)
        except httpx.HTTPError:
            return None
        return time.monotonic() - t0 if r.status_code == 200 else None

    def wait_healthy(self, dl: Deadline, timeout: float = 60) -> bool:
        end = time.monotonic() + dl.cap(timeout)
        while time.monotonic() < end:
            if not self.alive():
                return False
            if self.health(2.0) is not None:
                return True
            time.sleep(0.5)
        return False

    def log_text(self) -> str:
        p = self.workdir / "worker.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def cli(self, *args: str, timeout: float = 60, env: dict[str, str] | None = None,
            input_: bytes | None = None) -> tuple[int, str]:
        return run([sys.executable, "-m", "router", *args], env=env or self.env,
                   cwd=self.workdir, timeout=timeout, input_=input_)

    def create_topics(self) -> None:
        rc, out = self.cli("topics", timeout=60)
        if rc != 0:
            raise RuntimeError(f"router topics failed: {out[-500:]}")

    # --- Kafka ---
    def produce(self, values: Iterable[bytes | None], keys: Iterable[bytes | None] | None = None,
                base: str = "mentions") -> None:
        p = KafkaProducer(bootstrap_servers=self.kafka.bootstrap, acks="all",
                          max_request_size=4 * 1024 * 1024)
        try:
            ks = list(keys) if keys is not None else None
            for i, v in enumerate(values):
                p.send(self.topic(base), key=ks[i] if ks else None, value=v)
            p.flush(timeout=30)
        finally:
            p.close()

    def send(self, mentions: list[dict[str, Any]]) -> None:
        self.produce([encode(m) for m in mentions], [key_of(m) for m in mentions])

    def read(self, base: str, timeout: float = 15.0) -> list[bytes | None]:
        """Every value a topic holds now, from its start to its current end."""
        return read_topic(self.kafka.bootstrap, self.topic(base), timeout=timeout)

    def decisions(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for raw in self.read("decisions"):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                d = json.loads(raw or b"")
                out[d["mention"]["id"]] = d["verdict"]
        return out

    def dead_letters(self, base: str = "mentions-dlq") -> list[tuple[str | None, str]]:
        """(mention id if its first bytes name one, reason) of each dead letter."""
        out: list[tuple[str | None, str]] = []
        for raw in self.read(base):
            try:
                letter = json.loads(raw or b"")
                original = base64.b64decode(letter.get("original") or "")[:400]
            except (ValueError, TypeError, AttributeError):
                out.append((None, "unreadable dead letter"))
                continue
            m = ID_RE.match(original)
            out.append((m.group(1).decode() if m else None, str(letter.get("reason", ""))))
        return out

    # --- the embedded desk and the reply log ---
    def tickets(self) -> list[dict[str, Any]]:
        path = self.workdir / "desk.sqlite"
        if not path.exists():
            return []
        try:
            with contextlib.closing(sqlite3.connect(path, timeout=2)) as db:
                db.row_factory = sqlite3.Row
                return [dict(r) for r in db.execute("SELECT * FROM tickets ORDER BY id")]
        except sqlite3.Error:
            return []

    def replies(self) -> list[dict[str, Any]]:
        path = self.workdir / "replies.jsonl"
        if not path.is_file():
            return []
        out = []
        for line in path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out


def read_topic(bootstrap: str, topic: str, timeout: float = 15.0) -> list[bytes | None]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=300,
                             max_partition_fetch_bytes=16 * 1024 * 1024,
                             fetch_max_bytes=64 * 1024 * 1024)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        values: list[bytes | None] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(consumer.position(tp) < end[tp]
                                                  for tp in tps):
            values.extend(msg.value for msg in consumer)
        return values
    finally:
        consumer.close()


def wait_until(pred: Callable[[], Any], dl: Deadline, timeout: float,
               every: float = 1.0) -> Any:
    """``pred()``'s first truthy value within ``timeout`` (and the case's budget), else
    its last value."""
    end = time.monotonic() + dl.cap(timeout)
    value = pred()
    while not value and time.monotonic() < end:
        time.sleep(every)
        value = pred()
    return value


# --- counting -----------------------------------------------------------------------------


def account(res: Result, w: Worker, valid: list[str], poison: list[str], dl: Deadline,
            timeout: float = 30) -> tuple[dict[str, str], dict[str, str]]:
    """Wait until every produced mention is decided or dead-lettered (bounded), then fill
    produced/decided/dlq/lost; a valid mention in the DLQ is a problem."""
    wanted = set(valid) | set(poison)

    def state() -> tuple[dict[str, str], dict[str, str]]:
        ds = {k: v for k, v in w.decisions().items() if k in wanted}
        letters = {mid: reason for mid, reason in w.dead_letters() if mid in wanted}
        return ds, letters

    def done() -> tuple[dict[str, str], dict[str, str]] | None:
        ds, letters = state()
        return (ds, letters) if wanted <= set(ds) | set(letters) else None

    got = wait_until(done, dl, timeout, every=1.5) or state()
    ds, letters = got
    res.produced += len(wanted)
    res.decided += len(set(ds))
    res.dlq += len(set(letters) - set(ds))
    res.lost += len(wanted - set(ds) - set(letters))
    bad = [m for m in valid if m in letters and m not in ds]
    if bad:
        reasons = Counter(letters[m][:60] for m in bad)
        res.problem(f"{len(bad)} valid mentions dead-lettered ({reasons.most_common(1)[0][0]})")
    return ds, letters


def count_tickets(res: Result, w: Worker, handles: Iterable[str] | None = None) -> dict[str, int]:
    """Tickets per requester handle; more than one for a handle is a duplicate."""
    per: Counter[str] = Counter()
    for t in w.tickets():
        per[str(t.get("requester") or "").split("@")[-1]] += 1
    wanted = set(handles) if handles is not None else set(per)
    res.dup_tickets += sum(n - 1 for h, n in per.items() if h in wanted and n > 1)
    return dict(per)


def count_replies(res: Result, w: Worker, expected: Iterable[str]) -> Counter[str]:
    """Replies posted per customer handle: duplicates and missing ones for ``expected``."""
    per: Counter[str] = Counter(str(r.get("to")) for r in w.replies())
    exp = set(expected)
    res.dup_replies += sum(n - 1 for h, n in per.items() if n > 1)
    res.replies_missing += len([h for h in exp if per[h] == 0])
    return per


def opened_ids(w: Worker, handles: Iterable[str]) -> dict[str, str]:
    """handle -> ticket id of the tickets opened for these handles."""
    hs = set(handles)
    out: dict[str, str] = {}
    for t in w.tickets():
        h = str(t.get("requester") or "").split("@")[-1]
        if h in hs:
            out.setdefault(h, str(t["id"]))
    return out


def first_error_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:120] if lines else ""
