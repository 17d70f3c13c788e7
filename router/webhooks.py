"""Desk webhooks into the stream: verify the delivery, turn it into ``TicketEvent``s.

The web view (``POST /webhooks/{desk}``) answers 401 with no detail for anything not
genuine, fresh and new (``connectors.desks.webhooks.verify``), 202 once the events are in
``ticket-events``. Only the configured desk's scheme is accepted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from connectors.desks.webhooks import ReplayCache, WebhookRejected, parse_event, verify

from .records import TicketEvent


def events_from_delivery(desk_key: str, headers: Mapping[str, str], body: bytes,
                         secret: str, *, replay_cache: ReplayCache,
                         ticket_url: Any, now: float | None = None) -> list[TicketEvent]:
    """The ticket events of one verified delivery; raises WebhookRejected otherwise."""
    verify(desk_key, headers, body, secret, now=now, replay_cache=replay_cache)
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise WebhookRejected("body is not JSON") from exc
    if not isinstance(payload, dict):
        raise WebhookRejected("body is not a JSON object")
    at = time.time() if now is None else now
    return [TicketEvent(desk=desk_key, ticket_id=c.ticket_id, kind="status", status=c.status,
                        ticket_url=c.url or ticket_url(c.ticket_id), at=at)
            for c in parse_event(desk_key, payload)]
