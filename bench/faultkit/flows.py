"""Steps several cases share: boot a worker, open tickets for customers, solve and count."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .kit import (
    Deadline,
    Kafka,
    Result,
    Worker,
    account,
    count_replies,
    count_tickets,
    mention,
    opened_ids,
    wait_until,
)


@dataclass
class Ctx:
    """What a case gets: the broker, its own folder, and whether the run is --quick."""

    kafka: Kafka
    tmp: Path
    quick: bool = False

    def worker(self, name: str = "w", *, orchestrated: bool = False, **env: str) -> Worker:
        return Worker(self.kafka, self.tmp / name, extra_env=dict(env),
                      orchestrated=orchestrated)


def boot(res: Result, w: Worker, dl: Deadline, *, topics: bool = True) -> bool:
    """Create the topics, start the worker, wait for /health; a failure is a problem."""
    if topics:
        w.create_topics()
    w.start()
    if not w.wait_healthy(dl, 60):
        res.problem("worker did not become healthy: " + w.log_text()[-200:].replace("\n", " "))
        return False
    return True


def customers(tag: str, n: int, start: int = 0) -> list[dict[str, Any]]:
    """``n`` support requests from ``n`` distinct customers (one ticket each)."""
    return [mention(f"{tag}-{i}", f"{tag}{i}", i) for i in range(start, start + n)]


def open_tickets(res: Result, w: Worker, ms: list[dict[str, Any]], dl: Deadline,
                 timeout: float = 40) -> dict[str, str]:
    """Send ``ms``, account for them, wait for a ticket per 'open' verdict; handle -> id."""
    w.send(ms)
    ds, _ = account(res, w, [m["id"] for m in ms], [], dl, timeout)
    want = {m["author"]["handle"] for m in ms if ds.get(m["id"]) == "open"}
    got = wait_until(lambda: len(opened_ids(w, want)) >= len(want) and opened_ids(w, want),
                     dl, timeout) or opened_ids(w, want)
    if len(got) < len(want):
        res.problem(f"{len(want) - len(got)} of {len(want)} 'open' mentions got no ticket")
    count_tickets(res, w, want)
    return dict(got)


def wait_replies(res: Result, w: Worker, handles: list[str], dl: Deadline,
                 timeout: float = 40, settle: float = 2.0) -> None:
    """Wait (bounded) for one reply per handle, let duplicates arrive, then count."""
    want = set(handles)
    wait_until(lambda: want <= {str(r.get("to")) for r in w.replies()}, dl, timeout)
    wait_until(lambda: False, dl, settle)
    count_replies(res, w, want)
