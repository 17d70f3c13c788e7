"""Desk webhooks become ticket events only when genuine; the stream never sees forgeries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from connectors.desks.webhooks import ReplayCache, WebhookRejected
from router.webhooks import events_from_delivery

SECRET = "s3cret-webhook-key"


def zendesk_delivery(status: str, ticket: int = 42) -> tuple[dict[str, str], bytes]:
    body = json.dumps({"type": "zen:event-type:ticket.status_changed",
                       "detail": {"id": str(ticket), "status": status.upper()},
                       "event": {"current": status.upper(), "previous": "OPEN"}}).encode()
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sig = base64.b64encode(hmac.new(SECRET.encode(), at.encode() + body,
                                    hashlib.sha256).digest()).decode()
    return ({"X-Zendesk-Webhook-Signature": sig,
             "X-Zendesk-Webhook-Signature-Timestamp": at,
             "X-Zendesk-Webhook-Invocation-Id": f"inv-{ticket}-{status}"}, body)


def url(tid: str) -> str:
    return f"https://acme.zendesk.com/agent/tickets/{tid}"


def test_genuine_solved_delivery_becomes_a_status_event() -> None:
    headers, body = zendesk_delivery("solved")
    events = events_from_delivery("zendesk", headers, body, SECRET,
                                  replay_cache=ReplayCache(), ticket_url=url)
    assert [(e.ticket_key, e.kind, e.status) for e in events] == [
        ("zendesk:42", "status", "solved")]
    assert events[0].ticket_url == url("42")


@pytest.mark.parametrize("tamper", ["body", "signature", "secret"])
def test_forged_delivery_is_rejected(tamper: str) -> None:
    headers, body = zendesk_delivery("solved")
    secret = SECRET
    if tamper == "body":
        body = body.replace(b"42", b"43")
    elif tamper == "signature":
        headers["X-Zendesk-Webhook-Signature"] = base64.b64encode(b"x" * 32).decode()
    else:
        secret = "another-secret"
    with pytest.raises(WebhookRejected):
        events_from_delivery("zendesk", headers, body, secret, replay_cache=ReplayCache(),
                             ticket_url=url)


def test_replayed_delivery_is_rejected_the_second_time() -> None:
    cache = ReplayCache()
    headers, body = zendesk_delivery("solved")
    assert events_from_delivery("zendesk", headers, body, SECRET, replay_cache=cache,
                                ticket_url=url)
    with pytest.raises(WebhookRejected):
        events_from_delivery("zendesk", headers, body, SECRET, replay_cache=cache,
                             ticket_url=url)


def test_stale_delivery_is_rejected() -> None:
    headers, body = zendesk_delivery("solved")
    with pytest.raises(WebhookRejected):
        events_from_delivery("zendesk", headers, body, SECRET, replay_cache=ReplayCache(),
                             ticket_url=url, now=time.time() + 3600)


def test_the_embedded_desk_has_no_webhook_scheme() -> None:
    headers, body = zendesk_delivery("solved")
    with pytest.raises(WebhookRejected):
        events_from_delivery("embedded", headers, body, SECRET, replay_cache=ReplayCache(),
                             ticket_url=url)
