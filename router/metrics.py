"""The worker's Prometheus metrics, served at ``GET /metrics``.

Each ``Runtime`` has its own ``Metrics`` with its own registry (never the process-wide
default one), so several runtimes in one process, as in the tests, do not collide.

Steps count what they do by name (``Runtime.count("desk.opened")``, the names ``/stats``
shows); ``ROUTES`` below is the one place where each name becomes a labelled Prometheus
counter. A part of a name in braces becomes that label (``verdict.{verdict}``: the count
``verdict.open`` is ``router_verdicts_total{verdict="open"}``); other labels come with the
call (``count("verdict.open", network="x")``).

Counters are per worker process: Prometheus scrapes every worker and ``sum()`` adds them.
The consumer lag and the kill switch are gauges read at scrape time.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Family:
    """One labelled counter: its name without ``_total``, its help, its labels."""

    name: str
    doc: str
    labels: tuple[str, ...] = ()


FAMILIES: dict[str, Family] = {
    "verdicts": Family(
        "router_verdicts", "Decisions written by triage, by verdict and by the mention's "
        "network.", ("verdict", "network")),
    "dead_letters": Family(
        "router_dead_letters", "Messages sent to a dead-letter topic, by the stream they "
        "came from (mentions, decisions, ticket_events, replies).", ("source",)),
    "dead_letters_lost": Family(
        "router_dead_letters_lost", "Dead letters Kafka refused even without the original "
        "(each one is logged as LOST), by source.", ("source",)),
    "desk_actions": Family(
        "router_desk_actions", "What the escalate and waves agents did on the desk, by action "
        "(opened, linked, reopened, incident_opened, incident_linked, resumed, "
        "skipped_redelivery, late_link_solved, outage_reported: a report sent to its wave, "
        "wave_report: a report counted in its wave).", ("action",)),
    "desk_errors": Family(
        "router_desk_errors", "Decisions the desk did not take, by outcome (retry_later: "
        "waits on decisions-retry; gave_up and refused: to decisions-dlq) and cause (the "
        "desk's HTTP status, kafka, or other: a timeout, a locked file).",
        ("outcome", "cause")),
    "replies": Family(
        "router_replies", "Replies at the last gate, by outcome (posted, already_posted, "
        "held: kill switch, quiet hours or hurtful; failed: the network refused).",
        ("outcome",)),
    "closeloop": Family(
        "router_closeloop_events", "What the close-loop agent did with solved tickets, by "
        "outcome (reply_queued, reply_not_allowed, solved_without_mentions, "
        "linked_after_solved, marked_not_actionable, not_actionable_no_reply, unlinked).",
        ("outcome",)),
    "feedback": Family(
        "router_feedback_labels", "Labels agents gave through the desk (written to the "
        "feedback topic), by desk and whether support could help.", ("source", "actionable")),
    "webhooks": Family(
        "router_webhook_deliveries", "Desk webhook deliveries, by outcome (accepted, "
        "rejected, unreadable).", ("outcome",)),
    "ingest": Family(
        "router_ingest_payloads", "Payloads pushed to POST /ingest and produced to mentions "
        "(refused ones are dead letters).", ("outcome",)),
    "desk_poll_events": Family(
        "router_desk_poll_events", "Ticket events read by polling the desk."),
    "network_poll_mentions": Family(
        "router_network_poll_mentions", "Mentions read by polling a network, by network.",
        ("network",)),
    "outbox": Family(
        "router_outbox_events_sent", "Ticket events the embedded desk's outbox sent to Kafka."),
    "audit": Family(
        "router_audit_items", "Silent verdicts sampled as audit items for a person to check."),
    "shadow_failures": Family(
        "router_shadow_failures", "Shadow model failures (a batch it could not score, a "
        "record not written); the live decisions are not affected."),
    "other": Family(
        "router_other_events", "Counts not mapped to a metric of their own, by name (a "
        "test keeps this empty).", ("name",)),
}

#: Each count name, first match wins; ``{label}`` matches one dotted part.
ROUTES: tuple[tuple[str, str, Mapping[str, str]], ...] = (
    ("verdict.{verdict}", "verdicts", {}),
    ("dlq.{source}", "dead_letters", {}),
    ("dlq_failed.{source}", "dead_letters_lost", {}),
    ("desk.retry_later", "desk_errors", {"outcome": "retry_later"}),
    ("desk.gave_up", "desk_errors", {"outcome": "gave_up"}),
    ("desk.refused", "desk_errors", {"outcome": "refused"}),
    ("desk.{action}", "desk_actions", {}),
    ("replies.{outcome}", "replies", {}),
    ("closeloop.{outcome}", "closeloop", {}),
    ("webhooks.{outcome}", "webhooks", {}),
    ("ingest.{outcome}", "ingest", {}),
    ("poller.events", "desk_poll_events", {}),
    ("poller.{network}.mentions", "network_poll_mentions", {}),
    ("outbox.sent", "outbox", {}),
    ("audit.sampled", "audit", {}),
    ("feedback.labels", "feedback", {}),
    ("shadow.failed", "shadow_failures", {}),
)


def _pattern(route: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", route)
    text = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^.]+)"
                   for i, p in enumerate(parts))
    return re.compile(f"{text}$")


_ROUTES = tuple((_pattern(route), family, fixed) for route, family, fixed in ROUTES)


@functools.lru_cache(maxsize=1024)
def route(name: str) -> tuple[str, dict[str, str]]:
    """The family a count name feeds and the labels its name gives (cached: the names are
    a small fixed set, and this runs for every count). Callers must not change the dict."""
    for pattern, family, fixed in _ROUTES:
        match = pattern.match(name)
        if match:
            return family, {**fixed, **match.groupdict()}
    return "other", {"name": name}


#: Mention written to Kafka -> its decision emitted: 5 ms to 60 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """One worker's metrics in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.counters = {key: Counter(f.name, f.doc, f.labels, registry=self.registry)
                         for key, f in FAMILIES.items()}
        self.decision_latency = Histogram(
            "router_decision_latency_seconds",
            "Seconds from a mention's Kafka timestamp (when it was produced) to its decision "
            "being emitted by triage.", buckets=LATENCY_BUCKETS, registry=self.registry)

    def count(self, name: str, n: int = 1, labels: Mapping[str, str] | None = None) -> None:
        key, named = route(name)
        family = FAMILIES[key]
        given = {**(labels or {}), **named}
        values = {label: str(given.get(label, "unknown")) for label in family.labels}
        counter = self.counters[key]
        (counter.labels(**values) if family.labels else counter).inc(n)

    def decided(self, produced_at: float | None, now: float) -> None:
        """A decision emitted for a mention produced at ``produced_at`` (epoch seconds)."""
        if produced_at is None or produced_at <= 0:
            return
        self.decision_latency.observe(max(0.0, now - produced_at))

    def watch(self, *, consumer: Callable[[], Any], topics: Callable[[], Iterable[str]],
              replies_enabled: Callable[[], bool]) -> None:
        """Add the gauges read at scrape time: the lag of this worker's partitions and the
        kill switch."""
        self.registry.register(ConsumerLag(consumer, topics))
        Gauge("router_replies_enabled", "1 while replies may be posted, 0 while the kill "
              "switch holds them.", registry=self.registry).set_function(
                  lambda: 1.0 if replies_enabled() else 0.0)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The metrics in the format the scraper's ``Accept`` header asks for (the
        Prometheus text format 0.0.4 by default, or OpenMetrics), and its content type."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type


class ConsumerLag(Collector):
    """``router_consumer_lag{topic, partition}``: per partition of the topics this worker's
    agents read that is assigned to it, the messages not yet committed (the highwater minus
    the group's committed offset), read from Faust's consumer at scrape time."""

    def __init__(self, consumer: Callable[[], Any], topics: Callable[[], Iterable[str]]) -> None:
        self.consumer = consumer
        self.topics = topics

    def describe(self) -> list[Metric]:
        return [self._family()]

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "router_consumer_lag", "Messages in a partition assigned to this worker that its "
            "consumer group has not committed yet (highwater - committed offset).",
            labels=["topic", "partition"])

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        try:
            lags = consumer_lag(self.consumer(), set(self.topics()))
        except Exception:  # noqa: BLE001 - a scrape never fails on the consumer's state
            log.debug("consumer lag not available", exc_info=True)
            lags = {}
        for (topic, partition), lag in sorted(lags.items()):
            family.add_metric([topic, str(partition)], lag)
        yield family


def consumer_lag(consumer: Any, topics: set[str]) -> dict[tuple[str, int], int]:
    """Lag per assigned partition of ``topics``, from a Faust consumer (``None``: not
    started yet, no partitions).

    The highwater is the offset the next produced message gets (known once the partition
    was fetched from; until then the partition is left out). The committed offset is
    Faust's own record of it (``Consumer._committed_offset``: read from the group when the
    partition is assigned, updated at each commit); a partition the group never committed
    counts from what this worker has read, or from 0 (the app resets to earliest)."""
    if consumer is None:
        return {}
    committed: Mapping[Any, int | None] = getattr(consumer, "_committed_offset", {})
    read: Mapping[Any, int | None] = getattr(consumer, "_read_offset", {})
    lags: dict[tuple[str, int], int] = {}
    for tp in consumer.assignment():
        if tp.topic not in topics:
            continue
        try:
            high = consumer.highwater(tp)
        except Exception:  # noqa: BLE001, S112 - revoked meanwhile, or not fetched yet
            continue
        if high is None:
            continue
        done = committed.get(tp)
        if done is None:
            last = read.get(tp)
            done = 0 if last is None else last + 1
        lags[(tp.topic, tp.partition)] = max(0, int(high) - int(done))
    return lags
