"""Threads across authors: the case each conversation has, whoever opened it.

A reply lands on its own author's partition, while the case of the thread it replies in
was opened on another author's, maybe by another worker. So triage writes each thread that
leads to a case to the compacted ``threads`` topic (keyed by thread), and every worker
follows all of it into a ``ThreadIndex``: a reply by anyone in that thread is then decided
``link``, with that case, wherever it was opened.

The index is an eventually consistent view: a reply decided before the thread's record
reached this worker (milliseconds, normally; the worker waits for the topic to be read to
its end before its first batch) is decided as before (``open`` with the thread's case key,
which the desk's external id turns into a note on the same ticket), never lost. It keeps
the newest ``MAX_THREADS`` threads; older ones fall back the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from .settings import Settings

log = logging.getLogger(__name__)

MAX_THREADS = 200_000


@dataclass
class ThreadIndex:
    """thread key -> ``{"case_key", "opened_at", "by"}``; bounded, newest kept."""

    limit: int = MAX_THREADS
    cases: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    #: Set once the topic has been read to its end (``follow``).
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def get(self, thread_key: str) -> dict[str, Any] | None:
        return self.cases.get(thread_key)

    def note(self, thread_key: str, case_key: str, opened_at: float, by: str) -> bool:
        """Remember that ``thread_key`` leads to ``case_key``; False when it already did
        (nothing to publish)."""
        known = self.cases.get(thread_key)
        if known is not None and known.get("case_key") == case_key:
            return False
        self._put(thread_key, {"case_key": case_key, "opened_at": opened_at, "by": by})
        return True

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the ``threads`` topic (a tombstone forgets the thread)."""
        if key is None:
            return
        thread_key = key.decode("utf-8", "replace")
        if value is None:
            self.cases.pop(thread_key, None)
            return
        try:
            entry = json.loads(value)
            case = {"case_key": str(entry["case_key"]),
                    "opened_at": float(entry.get("opened_at", 0.0)),
                    "by": str(entry.get("by", ""))}
        except (ValueError, KeyError, TypeError):
            log.warning("threads: ignoring an unreadable record for %s", thread_key)
            return
        self._put(thread_key, case)

    def _put(self, thread_key: str, case: dict[str, Any]) -> None:
        self.cases[thread_key] = case
        self.cases.move_to_end(thread_key)
        while len(self.cases) > self.limit:
            self.cases.popitem(last=False)

    async def wait_ready(self, bound: float) -> None:
        """Wait (at most ``bound`` seconds) until the topic has been read to its end; after
        that, decide anyway (a reply then falls back as the module says), with a warning."""
        if self.ready.is_set():
            return
        try:
            await asyncio.wait_for(self.ready.wait(), bound)
        except asyncio.TimeoutError:
            log.warning("threads: not read to the end within %.0f s; replies in other "
                        "customers' threads may open their own case until it is", bound)

    async def follow(self, settings: Settings) -> None:
        """Follow the ``threads`` topic, from its start, for as long as the worker runs."""
        from .control import follow_topic
        from .topics import name

        await follow_topic(settings, name(settings, "threads"), self.apply, self.ready)


def record(case_key: str, opened_at: float, by: str) -> bytes:
    """The ``threads`` topic's value for a thread leading to ``case_key``."""
    return json.dumps({"case_key": case_key, "opened_at": opened_at, "by": by}).encode()
