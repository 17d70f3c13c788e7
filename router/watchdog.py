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
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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
