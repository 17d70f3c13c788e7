"""Desk poller: for desks without webhooks (Request Tracker, ServiceNow), ticket status
changes are read page by page after a checkpoint and written to ``ticket-events``.

The checkpoint lives on the compacted ``router-config`` topic (``checkpoint:<desk>``) and is
written only after the page's events are in Kafka, so a restart resumes where the last
worker stopped: no gaps; a repeat after a crash is harmless (the close-loop is idempotent).
Only the leader worker polls.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from connectors.errors import ConnectorError
from vocab.records import TicketEvent

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger(__name__)

async def poll_once(rt: Runtime) -> int:
    """One round: every page of changes after the checkpoint; returns events written."""
    await rt.control.ready.wait()
    key = f"checkpoint:{rt.desk.key}"
    checkpoint = rt.control.values.get(key)
    written = 0
    for _ in range(100):  # bounded: at most 100 pages a round
        page = await rt.desk.changes_since(checkpoint)
        for change in page.changes:
            ev = TicketEvent(desk=rt.desk.key, ticket_id=change.ticket_id, kind="status",
                             status=change.status, ticket_url=change.url,
                             not_actionable=change.not_actionable, at=time.time())
            await rt.topics.ticket_events.send(key=ev.ticket_key.encode(), value=ev)
            written += 1
        if page.checkpoint == checkpoint or not page.changes:
            break
        checkpoint = page.checkpoint
        # the events are in Kafka before the checkpoint moves
        await rt.control.save(rt.app.producer, key, checkpoint, by="poller")
    return written


def register(rt: Runtime) -> None:
    @rt.app.timer(rt.settings.desk_poll_seconds, on_leader=True)
    async def poll_desk() -> None:
        await rt.ready()
        try:
            n = await poll_once(rt)
        except ConnectorError as exc:
            log.warning("desk poll failed: %s", exc)
            return
        except Exception:  # noqa: BLE001 - a timer that raises stops the whole worker
            log.exception("desk poll failed")
            return
        rt.count("poller.events", n)
