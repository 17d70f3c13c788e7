"""Helpers for tests that run the router on the real broker: a worker process, producing
mentions, reading a topic until a condition holds (bounded in time)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from router.broker import free_port
from router.settings import load_settings
from router.topics import ensure_topics

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RouterProcess:
    """One router worker in a subprocess, isolated by its own prefix, app id and files."""

    bootstrap: str
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}.")
    proc: subprocess.Popen[bytes] | None = None
    web_port: int = field(default_factory=free_port)
    #: What runs in the subprocess (after ``python``): the worker, or a script around it.
    command: list[str] = field(default_factory=lambda: ["-m", "router", "worker", "-l", "info"])

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
        env.update({
            "ROUTER_KAFKA_BOOTSTRAP": self.bootstrap,
            "ROUTER_TOPIC_PREFIX": self.prefix,
            "ROUTER_APP_ID": f"router-{self.prefix.rstrip('.')}",
            "ROUTER_DATA_DIR": str(self.workdir / "data"),
            "ROUTER_EMBEDDED_DESK_PATH": str(self.workdir / "desk.sqlite"),
            "ROUTER_EMBEDDED_DESK_URL": f"http://127.0.0.1:{self.web_port}/desk/tickets/{{id}}",
            "ROUTER_REPLY_LOG_PATH": str(self.workdir / "replies.jsonl"),
            "ROUTER_WEB_PORT": str(self.web_port),
            "ROUTER_BATCH_TIMEOUT": "0.05",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    @property
    def settings(self) -> Any:
        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(self.env)
            return load_settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def topic(self, base: str) -> str:
        return f"{self.prefix}{base}"

    def create_topics(self) -> None:
        ensure_topics(self.settings)

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "worker.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, *self.command], env=self.env, cwd=self.workdir, stdout=log,
            stderr=subprocess.STDOUT)
        log.close()

    def stop(self, *, kill: bool = False, timeout: float = 30) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def log_text(self) -> str:
        p = self.workdir / "worker.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def cli(self, *args: str, input_: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "router", *args], env=self.env, cwd=self.workdir,
            input=input_.decode() if input_ else None, capture_output=True, text=True,
            timeout=120)

    # --- producing and reading --------------------------------------------------------
    def produce(self, base_topic: str, values: Iterable[bytes],
                keys: Iterable[bytes | None] | None = None) -> None:
        p = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        try:
            ks = list(keys) if keys is not None else None
            for i, v in enumerate(values):
                p.send(self.topic(base_topic), key=ks[i] if ks else None, value=v)
            p.flush(timeout=30)
        finally:
            p.close()

    def read(self, base_topic: str, until: Callable[[list[dict[str, Any]]], bool], *,
             timeout: float = 90.0) -> list[dict[str, Any]]:
        """Read a whole topic from the start until ``until(records)`` holds (or time out)."""
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                 enable_auto_commit=False, auto_offset_reset="earliest",
                                 consumer_timeout_ms=500)
        topic = self.topic(base_topic)
        try:
            tps = [TopicPartition(topic, p) for p in range(self.settings.partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            records: list[dict[str, Any]] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for msg in consumer:
                    records.append(json.loads(msg.value))
                if until(records):
                    return records
                if self.proc is not None and self.proc.poll() is not None:
                    raise AssertionError("worker exited:\n" + self.log_text()[-4000:])
            raise AssertionError(
                f"timed out on {topic} with {len(records)} records:\n"
                + self.log_text()[-4000:])
        finally:
            consumer.close()


def mention(mid: str, text: str, handle: str = "ann", **extra: Any) -> dict[str, Any]:
    """A mention in the generic JSON form."""
    obj: dict[str, Any] = {
        "id": mid, "network": "generic", "text": text,
        "author": {"id": f"u-{handle}", "handle": handle, "name": handle.title(),
                   "profile_url": f"https://social.example/@{handle}", "followers": 10},
        "created_at": "2026-11-23T10:00:00Z",
        "url": f"https://social.example/@{handle}/{mid}",
    }
    obj.update(extra)
    return obj


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def key_of(obj: dict[str, Any]) -> bytes:
    return f"{obj['network']}:{obj['author']['id']}".encode()


@contextlib.contextmanager
def running(rp: RouterProcess) -> Iterator[RouterProcess]:
    """``rp`` with its topics created and its worker started, stopped on the way out."""
    rp.create_topics()
    rp.start()
    try:
        yield rp
    finally:
        rp.stop()


def tickets(rp: RouterProcess) -> list[dict[str, Any]]:
    """The embedded desk's tickets, each with its number of comments."""
    path = rp.workdir / "desk.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=30) as db:
        db.row_factory = sqlite3.Row
        try:
            rows = db.execute("SELECT t.*, (SELECT COUNT(*) FROM comments c WHERE "
                              "c.ticket_id = t.id) AS comments FROM tickets t ORDER BY id")
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # the worker has created the file, not yet
                return []                    # its schema (one transaction, all at once)
            raise
        return [dict(r) for r in rows.fetchall()]
