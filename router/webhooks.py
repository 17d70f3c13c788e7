"""Desk webhooks into the stream: verify the delivery, turn it into ``TicketEvent``s.

The web view (``POST /webhooks/{desk}``) answers 401 with no detail for anything not
genuine, fresh and new, 202 once the events are in ``ticket-events``. Only the configured
desk's scheme is accepted: the router asks the desk's class (``Desk.verify_webhook``,
``Desk.parse_webhook``), so a desk installed by an entry point gets webhooks too, and a
desk without them refuses every delivery.

Replays are refused across restarts and across workers: every delivery accepted is written
to the compacted ``webhook-deliveries`` topic (key: the delivery's digest, value: until
when it matters), which ``DeliveryLog`` reads back into the in-memory ``ReplayCache``
before it judges a delivery. Entries whose delivery would be refused as stale anyway are
tombstoned, so compaction keeps the topic as small as the window.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.desks.base import FEEDBACK_TAG, STATUSES, Desk
from connectors.desks.webhooks import ReplayCache, Seen, WebhookRejected, json_object
from vocab.errors import RouterError
from vocab.records import TicketEvent

from .settings import Settings
from .topics import name

log = logging.getLogger(__name__)

#: Longest a worker spends reading the delivery log before it judges a delivery.
SYNC_TIMEOUT = 20.0
#: How often expired entries are tombstoned (at most; only when a delivery comes in).
SWEEP_SECONDS = 60.0


class DeliveryUnreadable(RouterError):
    """A genuine delivery the desk's parser could not read (its bug, or a status outside
    the router's list): answered 503 so that the desk sends it again, and not remembered
    as seen, so that the retry is read once the parser is fixed."""


@dataclass(frozen=True)
class Accepted:
    """A verified delivery: its ticket events, and what the replay cache now remembers."""

    events: list[TicketEvent]
    seen: Seen | None


def verify_delivery(desk: type[Desk], headers: Mapping[str, str], body: bytes,
                    secret: str | bytes, *, now: float | None = None,
                    replay_cache: ReplayCache | None = None) -> Seen | None:
    """Check one delivery with ``desk``'s own scheme; raise WebhookRejected if it is not
    genuine (or there is no secret to check it with).

    Returns what ``replay_cache`` now remembers of it (None without a cache, or for a desk
    that signs nothing), so the caller can persist it, or ``forget`` it if it cannot pass
    the delivery on.
    """
    if not secret:
        raise WebhookRejected("no secret for this desk")
    return desk.verify_webhook(headers, body, secret, now=time.time() if now is None else now,
                               replay_cache=replay_cache)


def accept_delivery(desk: type[Desk], headers: Mapping[str, str], body: bytes, secret: str, *,
                    replay_cache: ReplayCache, ticket_url: Any,
                    feedback_tag: str = FEEDBACK_TAG, now: float | None = None) -> Accepted:
    """The ticket events of one verified delivery; raises WebhookRejected otherwise.
    ``feedback_tag``: the configured desk's tag for a ticket an agent marked not actionable."""
    seen = verify_delivery(desk, headers, body, secret, now=now, replay_cache=replay_cache)
    try:
        payload = json_object(body)  # also too deep, or a 5,000-digit number: refused
        try:
            changes = desk.parse_webhook(payload, feedback_tag=feedback_tag)
        except RecursionError as exc:
            raise WebhookRejected("body is nested too deep") from exc
        except Exception as exc:  # noqa: BLE001 - any parser failure: see DeliveryUnreadable
            log.exception("webhook: %s could not read a genuine delivery", desk.key)
            raise DeliveryUnreadable(f"{desk.key} could not read the delivery: "
                                     f"{type(exc).__name__}") from exc
        unknown = sorted({c.status for c in changes} - set(STATUSES))
        if unknown:
            raise DeliveryUnreadable(f"{desk.key} reported statuses the router does not "
                                     f"know: {', '.join(unknown)}")
    except (WebhookRejected, DeliveryUnreadable):
        if seen is not None:
            replay_cache.forget(seen.key)
        raise
    at = time.time() if now is None else now
    return Accepted([TicketEvent(desk=desk.key, ticket_id=c.ticket_id, kind="status",
                                 status=c.status, ticket_url=c.url or ticket_url(c.ticket_id),
                                 not_actionable=c.not_actionable, at=at)
                     for c in changes], seen)


class DeliveryLog:
    """The replay cache's durable side: the ``webhook-deliveries`` topic (one partition).

    ``sync()`` reads what every worker wrote since the last call (all of it the first
    time) into the cache, and tombstones the entries that expired; ``record(seen)`` writes
    one accepted delivery and waits for Kafka to have it.
    """

    def __init__(self, settings: Settings, cache: ReplayCache) -> None:
        self.settings = settings
        self.cache = cache
        self.topic = name(settings, "webhook_deliveries")
        self._consumer: Any = None
        self._producer: Any = None
        self._lock = asyncio.Lock()
        self._live: dict[bytes, float] = {}  # key -> expiry, of entries not tombstoned yet
        self._swept = 0.0

    async def _start(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap,
                                    enable_auto_commit=False, group_id=None,
                                    auto_offset_reset="earliest")
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all")
        await consumer.start()
        try:
            await producer.start()
        except BaseException:
            await consumer.stop()
            raise
        tp = TopicPartition(self.topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        self._tp = tp
        self._consumer, self._producer = consumer, producer

    async def sync(self) -> None:
        """Read the deliveries other workers (and earlier runs) accepted into the cache."""
        async with self._lock:
            if self._consumer is None:
                await self._start()
            consumer, tp = self._consumer, self._tp
            end = (await consumer.end_offsets([tp]))[tp]
            deadline = time.monotonic() + SYNC_TIMEOUT
            while await consumer.position(tp) < end:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading {self.topic} took over {SYNC_TIMEOUT:.0f}s")
                batch = await consumer.getmany(tp, timeout_ms=500)
                for rec in batch.get(tp, ()):
                    if rec.key is None:
                        continue
                    expires_at = _expiry(rec.value)
                    if expires_at is None:
                        self._live.pop(rec.key, None)
                        continue
                    self._live[rec.key] = max(expires_at, self._live.get(rec.key, expires_at))
                    self.cache.remember(rec.key.decode("utf-8", "replace"), expires_at)
            await self._sweep()

    async def _sweep(self) -> None:
        now = time.time()
        if now - self._swept < SWEEP_SECONDS:
            return
        self._swept = now
        for key in [k for k, at in self._live.items() if at <= now]:
            # A tombstone: compaction drops the key for good.
            await self._producer.send(self.topic, key=key, value=None, partition=0)
            del self._live[key]

    async def record(self, seen: Seen) -> None:
        """Write one accepted delivery (returns once Kafka has it)."""
        value = json.dumps({"expires_at": seen.expires_at}).encode()
        await self._producer.send_and_wait(self.topic, key=seen.key.encode(), value=value,
                                           partition=0)
        self._live[seen.key.encode()] = seen.expires_at

    async def stop(self) -> None:
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()
        self._consumer = self._producer = None


def _expiry(value: bytes | None) -> float | None:
    if value is None:
        return None
    try:
        expires_at = float(json.loads(value)["expires_at"])
    except (ValueError, KeyError, TypeError, RecursionError):
        log.warning("ignoring a malformed webhook-deliveries entry")
        return None
    return expires_at if expires_at == expires_at else None  # nan
