"""A worker that has lost Kafka says so a bounded number of times, then stops.

aiokafka retries a refused connection without any backoff: each metadata round fails at
once (``Unable connect to node with id 1`` and ``Unable to update metadata``, both ERROR),
and every waiter (the fetcher with partitions whose leader it cannot reach, the sender with
batches) asks for the next round straight away. On loopback that is a busy loop: issue #13
saw 571,694 ERROR lines (60 MB) at 76 % CPU while ``/health`` said 200. Two bounds:

- ``RepeatFilter`` lets the first of a kind of message through, then one line per
  ``window`` seconds saying how many like it were suppressed;
- ``watch_kafka`` probes the bootstrap servers every few seconds; while none answers,
  ``/health`` is 503; after ``bound`` seconds without Kafka (the session timeout: by then
  the group has handed this worker's partitions to others) the worker stops non-zero with
  one line naming the address and the fix, so an orchestrator restarts it.

And one loop that has no backoff at all, with Kafka up: ``MetadataPace`` keeps the
consumer's forced metadata rounds to one per ``retry_backoff_ms``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

#: The loggers that repeat themselves when Kafka is away.
NOISY = ("aiokafka", "aiokafka.client", "aiokafka.cluster", "aiokafka.conn",
         "aiokafka.consumer.fetcher", "aiokafka.consumer.group_coordinator",
         "aiokafka.producer.sender", "faust.transport.drivers.aiokafka")


@dataclass
class RepeatFilter(logging.Filter):
    """Pass a message the first time; then at most one per ``window`` seconds, with the
    number suppressed since (per logger and message template)."""

    window: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _seen: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = self.clock()
        since, suppressed = self._seen.get(key, (-self.window - 1.0, 0))
        if now - since < self.window:
            self._seen[key] = (since, suppressed + 1)
            return False
        self._seen[key] = (now, 0)
        if suppressed:
            record.msg = f"{record.getMessage()} ({suppressed} more like this suppressed " \
                         f"in the last {self.window:.0f} s)"
            record.args = ()
        return True


def install_repeat_filter(window: float = 10.0) -> RepeatFilter:
    f = RepeatFilter(window=window)
    for name in NOISY:
        logging.getLogger(name).addFilter(f)
    return f


async def reachable(addresses: list[tuple[str, int]], timeout: float = 2.0) -> bool:
    for host, port in addresses:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except (OSError, asyncio.TimeoutError):
            continue
        writer.close()
        return True
    return False


@dataclass
class KafkaWatch:
    """Whether this worker reaches Kafka, and since when it does not."""

    addresses: list[tuple[str, int]]
    bound: float
    every: float = 2.0
    lost_since: float | None = None

    def down_for(self, now: float | None = None) -> float:
        if self.lost_since is None:
            return 0.0
        return (time.monotonic() if now is None else now) - self.lost_since

    async def run(self, on_lost: Callable[[float], None]) -> None:
        """Probe forever; call ``on_lost(seconds)`` once Kafka has been away ``bound`` s."""
        while True:
            if await reachable(self.addresses):
                self.lost_since = None
            elif self.lost_since is None:
                self.lost_since = time.monotonic()
            elif self.down_for() >= self.bound:
                on_lost(self.down_for())
                return
            await asyncio.sleep(self.every)


@dataclass
class StallWatch:
    """A partition whose messages wait while the agent that reads it sits idle.

    Faust can leave an assigned partition unread after a rebalance (seen here after a
    ``kill -9``: one partition's ticket event was never handled, so its customer was never
    answered, until the worker happened to restart; faust-streaming#629 is one such report):
    nothing fails, ``/health`` stays 200, and the committed offset never moves again. A
    restart reads the partition again from its committed offset. So: every ``every``
    seconds, for each partition of the agents' topics, if Kafka holds messages past the
    committed offset, the offset has not moved, and the agent is not busy with a message,
    that idle time adds up; past ``bound`` seconds the worker stops, non-zero, naming the
    partition, for its orchestrator to start it again. Time an agent spends on a message (a
    slow desk, a retry waiting its turn, a network's rate limit) does not count.
    """

    bound: float
    topics: set[str]  # the topics the worker's agents read
    busy: Callable[[str], bool]  # is an agent handling a message of this topic now?
    every: float = 5.0
    _seen: dict[Any, tuple[int | None, float]] = field(default_factory=dict)

    def observe(self, tp: Any, committed: int | None, end: int, earliest: int,
                busy: bool) -> float:
        """Seconds ``tp`` has kept messages waiting with its agent idle (0: it moves)."""
        start = max(committed or 0, earliest)
        last = self._seen.get(tp)
        if end <= start or last is None or last[0] != committed:
            self._seen[tp] = (committed, 0.0)
            return 0.0
        waited = last[1] + (0.0 if busy else self.every)
        self._seen[tp] = (committed, waited)
        return waited

    def reset(self) -> None:
        self._seen.clear()

    async def run(self, app: Any, on_stalled: Callable[[str], None]) -> None:
        """Check forever; call ``on_stalled(what)`` once, for the first stalled partition."""
        while True:
            await asyncio.sleep(self.every)
            if app.rebalancing or getattr(app, "in_recovery", False):
                self.reset()
                continue
            consumer = app.consumer
            tps = sorted((tp for tp in consumer.assignment() if tp.topic in self.topics),
                         key=lambda tp: (tp.topic, tp.partition))
            if not tps:
                continue
            try:
                ends = await asyncio.wait_for(consumer.highwaters(*tps), 10.0)
                firsts = await asyncio.wait_for(consumer.earliest_offsets(*tps), 10.0)
            except Exception:  # noqa: BLE001 - Kafka away or rebalancing: KafkaWatch's part
                self.reset()
                continue
            committed = consumer._committed_offset  # noqa: SLF001 - Faust's own record
            for tp in tps:
                if ends.get(tp) is None:
                    continue
                c = committed.get(tp)
                waited = self.observe(tp, c, ends[tp], firsts.get(tp) or 0,
                                      self.busy(tp.topic))
                if waited >= self.bound:
                    at = max(c or 0, firsts.get(tp) or 0)
                    on_stalled(f"partition {tp.partition} of {tp.topic} has kept "
                               f"{ends[tp] - at} message(s) waiting at offset {at} for "
                               f"{waited:.0f} s while its agent sat idle")
                    return


@dataclass
class MetadataPace:
    """At most one forced metadata round of an aiokafka client per ``interval`` seconds.

    aiokafka 0.14's fetcher, with an assigned partition whose leader it does not know,
    forces a metadata update and waits for it (``Fetcher._fetch_requests_routine``,
    ``invalid_metadata``); ``force_metadata_update`` wakes ``_md_synchronizer`` at once, the
    round answers in a loopback round trip and the leader is still unknown, so the fetcher
    asks again with no backoff: ~650 rounds a second, one ``Topic ... not found in cluster
    metadata`` ERROR each (a partition of a topic that is missing and not auto-created,
    measured on the local broker). A forced update asked for sooner than ``interval`` after
    the last one is answered by one round at the end of the interval.
    """

    force: Callable[[], Any]  # the client's own force_metadata_update
    interval: float
    clock: Callable[[], float] = time.monotonic
    last: float = float("-inf")
    _pending: asyncio.Future[Any] | None = None

    def __call__(self) -> asyncio.Future[Any]:
        wait = self.last + self.interval - self.clock()
        if wait <= 0:
            self.last = self.clock()
            return self.force()  # type: ignore[no-any-return]
        if self._pending is None or self._pending.done():
            loop = asyncio.get_running_loop()
            self._pending = loop.create_future()
            loop.call_later(wait, self._fire, self._pending)
        return asyncio.shield(self._pending)

    def _fire(self, pending: asyncio.Future[Any]) -> None:
        self.last = self.clock()
        inner = self.force()

        def settle(done: asyncio.Future[Any]) -> None:
            if pending.done():
                return
            if done.cancelled():
                pending.cancel()
            elif done.exception() is not None:
                pending.set_exception(cast(BaseException, done.exception()))
            else:
                pending.set_result(done.result())

        inner.add_done_callback(settle)


def pace_metadata_updates(client: Any, interval: float) -> MetadataPace:
    """Give this aiokafka client (only this instance) a ``MetadataPace``."""
    pace = MetadataPace(client.force_metadata_update, interval)
    client.force_metadata_update = pace
    return pace
