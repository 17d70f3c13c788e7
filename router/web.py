"""The worker's web views: health, counters, the embedded desk's ticket pages, and the
authenticated ingest endpoint for pushed mentions.

- ``GET /health``: ``{"ok": true}`` once the worker runs.
- ``GET /stats``: verdict counts, desk effects, replies, dead letters (for ops).
- ``GET /desk/tickets/{id}``: an embedded-desk ticket's public status page (the link in
  replies; nothing internal on it).
- ``POST /webhooks/{desk}``: the configured desk's signed webhook; 401 without detail
  unless genuine, fresh and new; its status changes go to ``ticket-events``.
- ``POST /ingest/{network}``: one payload of that network, pushed; needs
  ``Authorization: Bearer $ROUTER_INGEST_TOKEN``; normalized to a Mention and produced to
  ``mentions``, or to ``mentions-dlq`` with the reason (answered 202 either way, 401 without
  a valid token, 413 when too large).
"""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING, Any

from faust import web

from connectors.desks.webhooks import MAX_BODY_BYTES, ReplayCache, WebhookRejected

from .webhooks import events_from_delivery

if TYPE_CHECKING:
    from .runtime import Runtime


def _ticket_page(desk: Any, ticket_id: str) -> str:
    """The customer's status page for a ticket: its number, status and public replies.

    It is what the link in a reply opens, so nothing internal is on it: no internal notes,
    no verdict, scores or reasons, no other customer's posts.
    """
    rows = [t for t in desk.tickets() if str(t["id"]) == ticket_id]
    if not rows:
        return ""
    from .pages import ticket_page

    return ticket_page(rows[0], desk.comments(ticket_id))

def register(rt: Runtime) -> None:
    app = rt.app

    @app.page("/health")
    async def health(self: web.View, request: web.Request) -> web.Response:
        return self.json({"ok": True, "uptime_s": round(time.time() - rt.started_at, 1)})

    @app.page("/stats")
    async def stats(self: web.View, request: web.Request) -> web.Response:
        return self.json({"counters": dict(sorted(rt.counters.items())),
                          "replies_enabled": rt.control.replies_enabled})

    @app.page("/desk/tickets/{ticket_id}")
    async def ticket(self: web.View, request: web.Request, ticket_id: str) -> web.Response:
        desk = getattr(rt, "desk", None)
        if desk is None or not hasattr(desk, "tickets"):
            return self.text("this worker's desk has no pages", status=404)
        given = request.query.get("k", "")
        page = _ticket_page(desk, ticket_id) if ticket_id.isdigit() and hmac.compare_digest(
            given.encode(), desk.page_key(ticket_id).encode()) else ""
        if not page:
            return self.text("no such ticket", status=404)
        return self.html(page)

    @app.page("/ingest/{network}")
    class Ingest(web.View):
        async def post(self, request: web.Request, network: str) -> web.Response:
            secret = rt.settings.ingest_token
            token = secret.get_secret_value() if secret else ""
            given = request.headers.get("Authorization", "")
            if not token or not hmac.compare_digest(given.encode(),
                                                    f"Bearer {token}".encode()):
                return self.text("unauthorized", status=401)
            body = await request.read()
            if len(body) > rt.settings.max_message_bytes:
                return self.text("payload too large", status=413)
            from .ingest import ingest_payload

            outcome = await ingest_payload(rt, network, body)
            return self.json(outcome, status=202)

    replay_cache = ReplayCache()

    @app.page("/webhooks/{desk}")
    class Webhook(web.View):
        async def post(self, request: web.Request, desk: str) -> web.Response:
            if desk != rt.settings.desk:
                return self.text("unauthorized", status=401)
            body = await request.read()
            if len(body) > MAX_BODY_BYTES:
                return self.text("unauthorized", status=401)
            await rt.ready()
            # The desk's own setting (e.g. ROUTER_ZENDESK_WEBHOOK_SECRET), else the router's.
            secret = getattr(rt.desk.config, "webhook_secret", None) or \
                rt.settings.webhook_secret
            if secret is None:
                return self.text("unauthorized", status=401)
            try:
                events = events_from_delivery(
                    desk, dict(request.headers), body, secret.get_secret_value(),
                    replay_cache=replay_cache, ticket_url=rt.desk.ticket_url)
            except WebhookRejected:
                rt.count("webhooks.rejected")
                return self.text("unauthorized", status=401)
            for ev in events:
                await rt.topics["ticket_events"].send(key=ev.ticket_key.encode(), value=ev)
            rt.count("webhooks.accepted")
            return self.json({"events": len(events)}, status=202)
