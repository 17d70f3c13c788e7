"""The worker's web views: health, counters, the embedded desk's ticket pages, and the
authenticated ingest endpoint for pushed mentions.

- ``GET /health``: 200 ``{"ok": true, "agents": {...}}`` only while every agent of this
  worker runs; 503 with each agent's state otherwise (starting, or crashed and why).
- ``GET /stats``: verdict counts, desk effects, replies, dead letters (for ops).
- ``GET /metrics``: the same and more for Prometheus (``router.metrics``): this worker's
  counters, the decision latency histogram, the lag of its partitions.
- ``GET /desk/tickets/{id}``: an embedded-desk ticket's public status page (the link in
  replies; nothing internal on it).
- ``POST /webhooks/{desk}``: the configured desk's signed webhook; 401 without detail
  unless genuine, fresh and new; its status changes go to ``ticket-events``.
- ``POST /ingest/{network}``: one payload of that network, pushed; needs
  ``Authorization: Bearer $ROUTER_INGEST_TOKEN``; normalized to a Mention and produced to
  ``mentions``, or to ``mentions-dlq`` with the reason (answered 202 either way, 401 without
  a valid token, 413 when too large).
- ``GET /dashboard``: the ops dashboard, behind ``ROUTER_DASHBOARD_TOKEN``
  (``router.dashboard``).
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import TYPE_CHECKING, Any, cast

from faust import web

from connectors.desks.webhooks import MAX_BODY_BYTES, ReplayCache, WebhookRejected
from connectors.errors import NotSupported

from .pages import ticket_page
from .webhooks import DeliveryLog, DeliveryUnreadable, accept_delivery, verify_delivery

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from .runtime import Runtime



def register(rt: Runtime) -> None:
    from . import dashboard

    app = rt.app
    dashboard.register(rt)  # GET /dashboard, POST /dashboard/audit (router.dashboard)

    @app.page("/health")
    async def health(self: web.View, request: web.Request) -> web.Response:
        status, body = rt.health.status(rt.app)
        body["uptime_s"] = round(time.time() - rt.started_at, 1)
        return self.json(body, status=status)

    @app.page("/stats")
    async def stats(self: web.View, request: web.Request) -> web.Response:
        live = getattr(rt, "live", None)
        return self.json({"counters": dict(sorted(rt.counters.items())),
                          "replies_enabled": rt.control.replies_enabled,
                          "model": live.version if live is not None else None})

    @app.page("/metrics")
    async def metrics(self: web.View, request: web.Request) -> web.Response:
        body, content_type = rt.metrics.exposition(request.headers.get("Accept", ""))
        # In the header: aiohttp refuses a charset in ``content_type``.
        return self.bytes(body, headers={"Content-Type": content_type})

    @app.page("/desk/tickets/{ticket_id}")
    async def ticket(self: web.View, request: web.Request, ticket_id: str) -> web.Response:
        await rt.ready()
        try:  # the desk checks the page key and hands out the public part only
            view = await rt.desk.public_view(ticket_id, request.query.get("k", ""))
        except NotSupported:
            return self.text("this worker's desk has no pages", status=404)
        if view is None:
            return self.text("no such ticket", status=404)
        return self.html(ticket_page(view))

    @app.page("/ingest/{network}")
    class Ingest(web.View):
        async def post(self, request: web.Request, network: str) -> web.Response:
            secret = rt.settings.ingest_token
            token = secret.get_secret_value() if secret else ""
            given = request.headers.get("Authorization", "")
            # Bytes on both sides: a header that is not ASCII (or not even UTF-8) is a 401.
            if not token or not hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                                                    f"Bearer {token}".encode()):
                return self.text("unauthorized", status=401)
            body = await request.read()
            if len(body) > rt.settings.max_message_bytes:
                return self.text("payload too large", status=413)
            from .ingest import ingest_payload

            outcome = await ingest_payload(rt, network, body)
            return self.json(outcome, status=202)

    replay_cache = ReplayCache()
    deliveries = DeliveryLog(rt.settings, replay_cache)

    async def stop_deliveries(app: Any, *args: Any, **kwargs: Any) -> None:
        await deliveries.stop()

    app.on_before_shutdown.connect(cast(Any, stop_deliveries))

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
            # The configured desk's class checks and reads its own deliveries (a desk from
            # an entry point too); one without webhooks refuses them all.
            scheme = type(rt.desk)
            headers, key = dict(request.headers), secret.get_secret_value()
            try:  # a forgery is refused before Kafka is asked anything
                verify_delivery(scheme, headers, body, key)
            except WebhookRejected:
                rt.count("webhooks.rejected")
                return self.text("unauthorized", status=401)
            try:  # what every worker, this one before a restart too, already accepted
                await deliveries.sync()
            except Exception as exc:  # noqa: BLE001 - Kafka unreachable: the desk retries
                log.warning("webhook: cannot read the delivery log: %s", exc)
                return self.text("try again later", status=503)
            try:
                accepted = accept_delivery(scheme, headers, body, key,
                                           replay_cache=replay_cache,
                                           ticket_url=rt.desk.ticket_url,
                                           feedback_tag=rt.desk.feedback_tag)
            except WebhookRejected:
                rt.count("webhooks.rejected")
                return self.text("unauthorized", status=401)
            except DeliveryUnreadable:  # our parser's fault: the desk sends it again
                rt.count("webhooks.unreadable")
                return self.text("try again later", status=503)
            try:  # events first: a crash before the record means a duplicate, never a loss
                sent = [await rt.topics.ticket_events.send(key=ev.ticket_key.encode(),
                                                              value=ev)
                        for ev in accepted.events]
                for delivered in sent:  # Kafka has them (not just the producer's buffer)
                    await delivered
                if accepted.seen is not None:
                    await deliveries.record(accepted.seen)
            except Exception as exc:  # noqa: BLE001 - not passed on: let the desk retry it
                if accepted.seen is not None:
                    replay_cache.forget(accepted.seen.key)
                log.warning("webhook: could not pass a delivery on: %s", exc)
                return self.text("try again later", status=503)
            rt.count("webhooks.accepted")
            return self.json({"events": len(accepted.events)}, status=202)
