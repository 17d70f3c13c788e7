"""The embedded desk's outbox: ticket events that must reach ``ticket-events``.

An agent's status change (``router desk solve``) is written with its pending event in the
desk's ``outbox`` table, in one transaction. The events are sent from there: by the CLI right
away when Kafka is up, and otherwise by the worker, which drains the outbox every
``desk_poll_seconds`` (or by the next CLI call). An event is marked sent only once Kafka has
acknowledged it; one sent twice (the CLI and the worker at once) is harmless, as the
close-loop answers each customer of a ticket once.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from vocab.errors import BrokerError
from vocab.records import TicketEvent

from .topics import name

if TYPE_CHECKING:
    from connectors.desks.embedded import EmbeddedDesk

    from .runtime import Runtime
    from .settings import Settings

log = logging.getLogger(__name__)

MAX_PAGES = 20  # a drain sends at most MAX_PAGES * 500 events, the rest next time


def event_of(desk_key: str, row: dict[str, Any]) -> TicketEvent:
    return TicketEvent(desk=desk_key, ticket_id=row["ticket_id"], kind="status",
                       status=row["status"], ticket_url=row["url"],
                       not_actionable=row.get("not_actionable"), at=time.time())


def send_pending(settings: Settings, desk: EmbeddedDesk, *, timeout_s: float = 15.0) -> int:
    """Send the desk's pending events from the CLI; returns how many Kafka acknowledged.

    Raises ``BrokerError`` when Kafka cannot be reached (the events stay pending)."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    rows = desk.outbox_rows()
    if not rows:
        return 0
    try:
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                 request_timeout_ms=int(timeout_s * 1000),
                                 max_block_ms=int(timeout_s * 1000))
    except KafkaError as exc:
        raise BrokerError("cannot reach Kafka") from exc
    sent = 0
    try:
        for _ in range(MAX_PAGES):
            futures = []
            for row in rows:
                ev = event_of(desk.key, row)
                futures.append(producer.send(name(settings, "ticket_events"),
                                             key=ev.ticket_key.encode(), value=ev.dumps()))
            producer.flush(timeout=timeout_s)
            for f in futures:
                f.get(timeout=timeout_s)  # raises if Kafka did not take it
            desk.outbox_sent([r["seq"] for r in rows])
            sent += len(rows)
            rows = desk.outbox_rows()
            if not rows:
                break
    except KafkaError as exc:
        raise BrokerError(f"Kafka did not take the events ({type(exc).__name__})") from exc
    finally:
        producer.close(timeout=timeout_s)
    return sent


async def drain(rt: Runtime) -> int:
    """Send the embedded desk's pending events from the worker; returns how many."""
    desk = rt.desk
    sent = 0
    for _ in range(MAX_PAGES):
        rows = await desk.pending_events()
        if not rows:
            break
        futures = []
        for row in rows:
            ev = event_of(desk.key, row)
            futures.append(await rt.topics.ticket_events.send(
                key=ev.ticket_key.encode(), value=ev))
        for f in futures:
            await f  # acknowledged by Kafka before the row is marked sent
        await desk.mark_sent([r["seq"] for r in rows])
        sent += len(rows)
    return sent


def register(rt: Runtime) -> None:
    @rt.app.timer(rt.settings.desk_poll_seconds, on_leader=True)
    async def drain_desk_outbox() -> None:
        await rt.ready()
        try:
            n = await drain(rt)
        except Exception:  # noqa: BLE001 - a timer that raises stops the whole worker
            log.exception("sending the desk's pending ticket events failed; will try again")
            return
        if n:
            rt.count("outbox.sent", n)
