"""Producing to the router's topics from outside a worker: replayed files, desk events."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable
from pathlib import Path

from connectors.desks.base import Ticket

from .errors import BadInput, BrokerError
from .ingest import to_message
from .records import DeadLetter, TicketEvent
from .settings import Settings
from .topics import name


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
