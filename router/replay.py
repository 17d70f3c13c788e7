"""Producing to the router's topics from outside a worker: replayed files, desk events."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from connectors.desks.base import Ticket

from .errors import BadInput, BrokerError
from .ingest import to_message
from .records import DeadLetter, TicketEvent
from .settings import Settings
from .topics import SPECS, name


def producer(settings: Settings):  # type: ignore[no-untyped-def]
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    try:
        return KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                             linger_ms=20, max_request_size=4 * 1024 * 1024)
    except KafkaError as exc:
        raise BrokerError(f"cannot reach Kafka at {settings.kafka_bootstrap}: start it with "
                          "`router broker start` or set KAFKA_BOOTSTRAP") from exc


def replay_file(settings: Settings, path: Path, network: str = "generic") -> tuple[int, int]:
    """Send each line of ``path`` to ``mentions``; unusable lines go to the DLQ."""
    p = producer(settings)
    sent = refused = 0
    try:
        with path.open("rb") as fh:
            for raw in fh:
                raw = raw.rstrip(b"\r\n")
                if not raw.strip():
                    continue
                try:
                    key, value = to_message(network, raw)
                except BadInput as exc:
                    letter = DeadLetter(source_topic=f"replay:{path.name}", reason=exc.reason,
                                        original=base64.b64encode(raw).decode(), at=time.time())
                    p.send(name(settings, "mentions_dlq"), key=b"", value=letter.dumps())
                    refused += 1
                    continue
                p.send(name(settings, "mentions"), key=key or None, value=value)
                sent += 1
        p.flush(timeout=60)
    finally:
        p.close()
    return sent, refused


def read_to_end(settings: Settings, topic_key: str, *, timeout_s: float = 10.0) -> list[Any]:
    """Every record a router topic holds now, from its beginning to its current end."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    spec = SPECS[topic_key]
    topic = name(settings, topic_key)
    try:
        consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                 enable_auto_commit=False, consumer_timeout_ms=500)
    except KafkaError as exc:
        raise BrokerError(f"cannot reach Kafka at {settings.kafka_bootstrap}: start it with "
                          "`router broker start` or set KAFKA_BOOTSTRAP") from exc
    records: list[Any] = []
    try:
        tps = [TopicPartition(topic, p)
               for p in range(spec.partitions or settings.partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(
                consumer.position(tp) < end[tp] for tp in tps):
            records.extend(consumer)
        return records
    except KafkaError as exc:
        raise BrokerError(f"cannot read {topic}: create the topics with `router topics`") \
            from exc
    finally:
        consumer.close()


def release_replies(settings: Settings, *, timeout_s: float = 10.0) -> int:
    """Send the replies held in ``replies-dlq`` (kill switch, quiet hours, a failed post)
    back to ``replies``; the publisher checks them again and posts each id at most once."""
    held: dict[str, bytes] = {}
    for msg in read_to_end(settings, "replies_dlq", timeout_s=timeout_s):
        letter = DeadLetter.loads(msg.value)
        held[letter.key or ""] = base64.b64decode(letter.original)
    p = producer(settings)
    try:
        for reply_id, raw in held.items():
            p.send(name(settings, "replies"), key=reply_id.encode(), value=raw)
        p.flush(timeout=60)
    finally:
        p.close()
    return len(held)


def send_ticket_events(settings: Settings, desk: str, tickets: Iterable[Ticket]) -> None:
    """Tell the router that these tickets changed status (what a desk webhook does)."""
    p = producer(settings)
    try:
        for t in tickets:
            ev = TicketEvent(desk=desk, ticket_id=t.id, kind="status", status=t.status,
                             ticket_url=t.url, at=time.time())
            p.send(name(settings, "ticket_events"), key=ev.ticket_key.encode(),
                   value=ev.dumps())
        p.flush(timeout=60)
    finally:
        p.close()
