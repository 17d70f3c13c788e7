"""Verdict volumes across every worker: each worker's counts per minute on one topic.

A worker's counters live in its process (``/stats``, ``/metrics``: Prometheus adds the
workers up, if there is a Prometheus). So that the dashboard can show the whole group's
verdicts over a day without one, each worker publishes what it decided since its last
publish, every few seconds, to the ``volumes`` topic: one record keyed ``worker|minute``
with its counts per verdict and network (deltas, so records just add up). The ``decisions``
topic holds the same truth, but reading a day of it costs as much as the day's traffic; a
day of ``volumes`` is at most one small record per worker and minute.

Counts are at least once: a send Kafka refused is sent again with the next tick, and a send
that timed out after Kafka took it counts twice. A worker stopped hard loses what it
decided since its last tick (a few seconds).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .metrics import Metrics

PUBLISH_S = 10.0  # how often a worker publishes its verdict counts
WINDOW_S = 24 * 3600.0  # what the dashboard sums


def verdict_totals(metrics: Metrics) -> dict[tuple[str, str], int]:
    """This worker's verdicts so far per (verdict, network), from its Prometheus counter
    (``Runtime.count`` keeps the network only there)."""
    out: dict[tuple[str, str], int] = {}
    for metric in metrics.counters["verdicts"].collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                key = (sample.labels["verdict"], sample.labels["network"])
                out[key] = int(sample.value)
    return out


class VolumePublisher:
    """Publishes what this worker decided since its last publish: one record keyed
    ``worker|minute`` with the counts per verdict and network. Only counts Kafka took are
    left behind: after a failed send the next tick sends them again, with the new ones."""

    def __init__(self, worker: str, totals: Callable[[], Mapping[tuple[str, str], int]],
                 send: Callable[[bytes, bytes], Awaitable[None]]) -> None:
        self.worker = worker
        self.totals = totals
        self.send = send
        self.sent: dict[tuple[str, str], int] = {}

    async def tick(self, now: float) -> int:
        """Publish the counts since the last publish; returns how many verdicts."""
        current = dict(self.totals())
        delta = {k: n - self.sent.get(k, 0) for k, n in current.items()
                 if n > self.sent.get(k, 0)}
        if not delta:
            return 0
        minute = int(now // 60) * 60
        record = {"worker": self.worker, "minute": minute, "at": now, "schema": 1,
                  "counts": [{"verdict": v, "network": net, "n": n}
                             for (v, net), n in sorted(delta.items())]}
        await self.send(f"{self.worker}|{minute}".encode(), json.dumps(record).encode())
        self.sent = current
        return sum(delta.values())


@dataclass(frozen=True)
class Volumes:
    """Verdicts per hour over the window, per network and verdict, across workers."""

    hours: list[float]  # each bucket's start (epoch seconds)
    series: dict[str, dict[str, list[int]]]  # network -> verdict -> count per hour
    workers: int  # workers that published in the window

    def total(self, verdict: str | None = None) -> int:
        return sum(sum(counts) for per in self.series.values()
                   for v, counts in per.items() if verdict in (None, v))


def volumes(records: Iterable[Mapping[str, Any]], now: float, *, window: float = WINDOW_S,
            bucket: float = 3600.0) -> Volumes:
    """Sum the workers' published counts into hourly buckets ending with the current one
    (a malformed record is skipped)."""
    n = int(window // bucket)
    first = (int(now // bucket) - n + 1) * bucket
    series: dict[str, dict[str, list[int]]] = defaultdict(dict)
    workers = set()
    for rec in records:
        try:
            i = int((float(rec["minute"]) - first) // bucket)
            counts = [(str(c["verdict"]), str(c["network"]), int(c["n"]))
                      for c in rec["counts"]]
        except (KeyError, TypeError, ValueError):
            continue
        if not 0 <= i < n:
            continue
        workers.add(str(rec.get("worker", "")))
        for verdict, network, count in counts:
            series[network].setdefault(verdict, [0] * n)[i] += count
    return Volumes([first + i * bucket for i in range(n)], dict(series), len(workers))
