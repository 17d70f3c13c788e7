"""Inbound desk webhooks: each desk's signature exactly as documented, its payload parser,
and one status map per desk for its webhooks and its REST API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from connectors.desks.base import Desk, TicketChange
from connectors.desks.saas import SaasDesk
from connectors.desks.webhooks import (
    MAX_BODY_BYTES,
    ReplayCache,
    Seen,
    WebhookRejected,
    json_object,
)
from connectors.errors import NotSupported
from connectors.registry import DESKS, desk_class

from .drafts import draft

SECRET = "whsec-0123456789"
NOW = 1_795_000_000.0
ISO_NOW = "2026-11-18T11:06:40Z"  # == NOW


def _b64(algo: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), message, algo).digest()).decode()


def _hex(algo: str, message: bytes) -> str:
    return hmac.new(SECRET.encode(), message, algo).hexdigest()


def sign_zendesk(body: bytes, at: str = ISO_NOW, delivery: str = "inv-1") -> dict[str, str]:
    return {"X-Zendesk-Webhook-Signature": _b64("sha256", at.encode() + body),
            "X-Zendesk-Webhook-Signature-Timestamp": at,
            "X-Zendesk-Webhook-Invocation-Id": delivery}


def sign_github(body: bytes, delivery: str = "d-1") -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + _hex("sha256", body),
            "X-GitHub-Delivery": delivery, "X-GitHub-Event": "issues"}


def sign_jira(body: bytes, delivery: str = "j-1") -> dict[str, str]:
    return {"X-Hub-Signature": "sha256=" + _hex("sha256", body),
            "X-Atlassian-Webhook-Identifier": delivery}


def sign_zammad(body: bytes, delivery: str = "z-1") -> dict[str, str]:
    return {"X-Hub-Signature": "sha1=" + _hex("sha1", body), "X-Zammad-Delivery": delivery}


def sign_helpscout(body: bytes, delivery: str = "") -> dict[str, str]:
    return {"X-HelpScout-Signature": _b64("sha1", body), "X-HelpScout-Event": "convo.status"}


def sign_freshdesk(body: bytes, delivery: str = "") -> dict[str, str]:
    return {"X-Router-Webhook-Token": SECRET}


SIGNERS: dict[str, Callable[..., dict[str, str]]] = {
    "zendesk": sign_zendesk, "github": sign_github, "jira": sign_jira,
    "zammad": sign_zammad, "helpscout": sign_helpscout, "freshdesk": sign_freshdesk,
}


def verify(desk: str, headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
           now: float, replay_cache: ReplayCache | None = None,
           max_bytes: int = MAX_BODY_BYTES) -> Seen | None:
    """The desk's own check, found the way the router finds it: by its class."""
    cls: type[Desk] = desk_class(desk)
    return cls.verify_webhook(headers, body, secret, now=now, replay_cache=replay_cache,
                              max_bytes=max_bytes)


def parse_event(desk: str, payload: Mapping[str, Any]) -> list[TicketChange]:
    cls: type[Desk] = desk_class(desk)
    return cls.parse_webhook(payload)


def body_for(desk: str) -> bytes:
    if desk == "jira":
        return json.dumps({"timestamp": int(NOW * 1000), "webhookEvent": "jira:issue_updated",
                           "issue": {"key": "SUP-1"}}).encode()
    return json.dumps({"desk": desk, "id": 1}).encode()


@pytest.mark.parametrize("desk", sorted(SIGNERS))
def test_valid_delivery_is_accepted(desk: str) -> None:
    body = body_for(desk)
    verify(desk, SIGNERS[desk](body), body, SECRET, now=NOW, replay_cache=ReplayCache())


@pytest.mark.parametrize("desk", sorted(SIGNERS))
def test_forged_delivery_is_rejected(desk: str) -> None:
    body = body_for(desk)
    headers = SIGNERS[desk](body)
    if desk != "freshdesk":  # Freshdesk signs nothing: only the shared token is checked
        with pytest.raises(WebhookRejected):  # tampered body
            verify(desk, headers, body.replace(b"1", b"2"), SECRET, now=NOW)
    with pytest.raises(WebhookRejected):  # wrong secret
        verify(desk, headers, body, "not-the-secret", now=NOW)
    with pytest.raises(WebhookRejected):  # no signature at all
        verify(desk, {}, body, SECRET, now=NOW)


@pytest.mark.parametrize("desk", sorted(SIGNERS))
def test_oversized_delivery_is_rejected(desk: str) -> None:
    body = b"{" + b" " * MAX_BODY_BYTES + b"}"
    with pytest.raises(WebhookRejected):
        verify(desk, SIGNERS[desk](body), body, SECRET, now=NOW)
    small = body_for(desk)
    with pytest.raises(WebhookRejected):
        verify(desk, SIGNERS[desk](small), small, SECRET, now=NOW, max_bytes=10)


@pytest.mark.parametrize("desk", sorted(set(SIGNERS) - {"freshdesk"}))
def test_replayed_delivery_is_rejected(desk: str) -> None:
    cache = ReplayCache(ttl=600, clock=lambda: NOW)
    body = body_for(desk)
    headers = SIGNERS[desk](body)
    verify(desk, headers, body, SECRET, now=NOW, replay_cache=cache)
    with pytest.raises(WebhookRejected):
        verify(desk, headers, body, SECRET, now=NOW, replay_cache=cache)


@pytest.mark.parametrize("desk", ["zendesk", "jira"])
def test_stale_delivery_is_rejected(desk: str) -> None:
    body = body_for(desk)
    headers = SIGNERS[desk](body)
    verify(desk, headers, body, SECRET, now=NOW + 60)
    with pytest.raises(WebhookRejected):
        verify(desk, headers, body, SECRET, now=NOW + 3600)
    with pytest.raises(WebhookRejected):
        verify(desk, headers, body, SECRET, now=NOW - 3600)  # from the future


def test_zendesk_timestamp_is_part_of_the_signature() -> None:
    body = body_for("zendesk")
    headers = sign_zendesk(body)
    headers["X-Zendesk-Webhook-Signature-Timestamp"] = "2026-11-18T11:06:41Z"
    with pytest.raises(WebhookRejected):
        verify("zendesk", headers, body, SECRET, now=NOW)


def test_github_needs_a_delivery_id() -> None:
    body = b"{}"
    headers = sign_github(body)
    del headers["X-GitHub-Delivery"]
    with pytest.raises(WebhookRejected):
        verify("github", headers, body, SECRET, now=NOW)


def test_headers_are_case_insensitive() -> None:
    body = b"{}"
    headers = {k.lower(): v for k, v in sign_github(body).items()}
    verify("github", headers, body, SECRET, now=NOW)


def test_unknown_desk_or_empty_secret_is_rejected() -> None:
    with pytest.raises(WebhookRejected):
        verify("servicenow", {}, b"{}", SECRET, now=NOW)
    body = b"{}"
    with pytest.raises(WebhookRejected):
        verify("github", sign_github(body), body, "", now=NOW)


@pytest.mark.parametrize("desk", sorted(SIGNERS))
@pytest.mark.parametrize("empty", ["", b""])
def test_an_empty_secret_refuses_even_a_delivery_signed_with_it(
        desk: str, empty: str | bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    body = body_for(desk)
    monkeypatch.setitem(globals(), "SECRET", "")  # sign with the empty key (or no token)
    headers = SIGNERS[desk](body)
    with pytest.raises(WebhookRejected):
        verify(desk, headers, body, empty, now=NOW)


def test_each_desk_declares_its_webhooks_on_its_own_class() -> None:
    """A desk that says it is told of changes by webhook overrides both methods; one that
    is polled (or local) keeps the defaults, which refuse every delivery."""
    for key in sorted(DESKS):
        cls: type[Desk] = desk_class(key)
        own = {name for name in ("verify_webhook", "parse_webhook")
               if getattr(cls, name).__func__ is not getattr(Desk, name).__func__}
        if cls.events == "webhook":
            assert own == {"verify_webhook", "parse_webhook"}, key
        else:
            assert own == set(), key
            with pytest.raises(WebhookRejected):
                cls.verify_webhook({}, b"{}", SECRET, now=NOW)
    assert sorted(k for k in DESKS if desk_class(k).events == "webhook") == sorted(SIGNERS)


def test_replay_cache_expires_and_is_bounded() -> None:
    now = [0.0]
    cache = ReplayCache(ttl=10, max_items=3, clock=lambda: now[0])
    assert cache.check_and_add("a") and not cache.check_and_add("a")
    now[0] = 11
    assert cache.check_and_add("a")  # expired, accepted again
    for key in "bcdef":
        cache.check_and_add(key)
    assert len(cache) <= 3


def test_rejection_says_nothing_secret() -> None:
    body = b"{}"
    with pytest.raises(WebhookRejected) as info:
        verify("github", {"X-Hub-Signature-256": "sha256=00", "X-GitHub-Delivery": "x"},
               body, SECRET, now=NOW)
    assert SECRET not in str(info.value)
    assert _hex("sha256", body) not in str(info.value)


# --- parsers on the documented payload shapes ------------------------------------------------


def test_zendesk_event_subscription_status_changed() -> None:
    payload = {"type": "zen:event-type:ticket.status_changed", "account_id": 1,
               "id": "01HN", "time": "2026-11-17T10:13:20Z", "zendesk_event_version": "2022-11-06",
               "subject": "zen:ticket:35436",
               "detail": {"id": "35436", "status": "SOLVED", "external_id": "case-1",
                          "updated_at": "2026-11-17T10:13:20Z"},
               "event": {"current": "SOLVED", "previous": "OPEN"}}
    [change] = parse_event("zendesk", payload)
    assert (change.ticket_id, change.status, change.external_id) == ("35436", "solved", "case-1")


def test_zendesk_ticket_created_event_and_trigger_body() -> None:
    created = {"type": "zen:event-type:ticket.created", "subject": "zen:ticket:7",
               "detail": {"id": "7", "status": "Open"}, "event": {"current": {"status": "Open"}}}
    assert parse_event("zendesk", created)[0].status == "open"
    trigger = {"ticket": {"id": "8", "status": "Solved", "external_id": "case-8",
                          "url": "https://acme.zendesk.com/agent/tickets/8"}}
    assert parse_event("zendesk", trigger)[0].status == "solved"
    assert parse_event("zendesk", {"type": "zen:event-type:user.active_changed"}) == []


def test_github_issue_events() -> None:
    issue = {"number": 42, "state": "closed", "state_reason": "completed",
             "html_url": "https://github.com/acme/support/issues/42",
             "body": "text\n<!-- escalation-router external-id=case%2D1 -->"}
    [change] = parse_event("github", {"action": "closed", "issue": issue})
    assert (change.ticket_id, change.status, change.external_id) == ("42", "solved", "case-1")
    issue = {**issue, "state_reason": "not_planned"}
    assert parse_event("github", {"action": "closed", "issue": issue})[0].status == "closed"
    assert parse_event("github", {"action": "labeled", "issue": issue}) == []
    pr = {**issue, "pull_request": {}}
    assert parse_event("github", {"action": "closed", "issue": pr}) == []


def test_jira_issue_updated() -> None:
    payload = {"timestamp": 1, "webhookEvent": "jira:issue_updated",
               "issue": {"id": "10001", "key": "SUP-7",
                         "self": "https://acme.atlassian.net/rest/api/3/issue/10001",
                         "fields": {"status": {"name": "Done",
                                               "statusCategory": {"key": "done"}}}}}
    [change] = parse_event("jira", payload)
    assert (change.ticket_id, change.status) == ("SUP-7", "solved")
    assert change.url == "https://acme.atlassian.net/browse/SUP-7"
    payload["issue"]["fields"]["status"] = {"name": "Waiting for customer",
                                            "statusCategory": {"key": "indeterminate"}}
    assert parse_event("jira", payload)[0].status == "pending"
    assert parse_event("jira", {"webhookEvent": "comment_created"}) == []


def test_zammad_trigger_payload() -> None:
    payload = {"ticket": {"id": 31, "number": "31001", "state": "closed", "state_id": 4,
                          "updated_at": "2026-11-17T10:13:20Z"},
               "article": {"id": 104, "internal": False}}
    [change] = parse_event("zammad", payload)
    assert (change.ticket_id, change.status) == ("31", "closed")
    payload["ticket"]["state"] = "pending reminder"
    assert parse_event("zammad", payload)[0].status == "pending"


def test_helpscout_conversation_payload() -> None:
    payload = {"id": 123, "number": 7, "status": "closed", "mailboxId": 5,
               "_links": {"web": {"href": "https://secure.helpscout.net/conversation/123/7/"}}}
    [change] = parse_event("helpscout", payload)
    assert (change.ticket_id, change.status) == ("123", "closed")
    assert change.url.startswith("https://secure.helpscout.net/")
    assert parse_event("helpscout", {"id": 123}) == []  # convo.deleted


def test_freshdesk_automation_payload() -> None:
    payload = {"freshdesk_webhook": {"ticket_id": 9, "ticket_status": "Resolved",
                                     "ticket_url": "https://acme.freshdesk.com/helpdesk/tickets/9"}}
    assert parse_event("freshdesk", payload)[0].status == "solved"


def test_parser_ignores_junk() -> None:
    with pytest.raises(WebhookRejected):  # a body that is not an object reaches no parser
        json_object(b"[1, 2]")
    assert parse_event("zammad", {"ticket": "x"}) == []
    with pytest.raises(NotSupported):
        parse_event("servicenow", {})


# --- one status map per desk: webhooks and REST read a status the same way -----------------

WEBHOOK_BODIES: dict[str, Callable[[object], dict[str, Any]]] = {
    "zendesk": lambda raw: {"ticket": {"id": "8", "status": raw}},
    "freshdesk": lambda raw: {"freshdesk_webhook": {"ticket_id": 9, "ticket_status": raw}},
    "zammad": lambda raw: {"ticket": {"id": 31, "state": raw}},
    "helpscout": lambda raw: {"id": 123, "status": raw},
}


def spellings(raw: str) -> list[str]:
    return [raw, raw.upper(), raw.title(), f" {raw} "]


@pytest.mark.parametrize("desk", sorted(WEBHOOK_BODIES))
def test_webhook_and_rest_share_one_status_map(desk: str) -> None:
    cls = desk_class(desk)
    assert issubclass(cls, SaasDesk) and cls.statuses
    rest = cls(cls.Config(state_path=":memory:"))  # the map its REST code reads with
    for raw in [*cls.statuses, "no-such-status"]:
        for spelled in spellings(raw):
            [change] = cls.parse_webhook(WEBHOOK_BODIES[desk](spelled))
            assert change.status == rest.map_status(spelled), (desk, spelled)


def test_zendesk_on_hold_is_pending_in_events_too() -> None:
    event = {"type": "zen:event-type:ticket.status_changed", "detail": {"id": "8"},
             "event": {"current": "ON-HOLD", "previous": "OPEN"}}
    assert parse_event("zendesk", event)[0].status == "pending"


# Values each vendor documents, as either path may see them; every one has a meaning.
VENDOR_STATUSES: dict[str, dict[object, str]] = {
    "zendesk": {"new": "new", "open": "open", "pending": "pending", "hold": "pending",
                "on-hold": "pending", "On-hold": "pending", "solved": "solved",
                "closed": "closed"},
    "freshdesk": {2: "open", 3: "pending", 4: "solved", 5: "closed", "Open": "open",
                  "Pending": "pending", "Resolved": "solved", "Closed": "closed"},
}


@pytest.mark.parametrize("desk", sorted(VENDOR_STATUSES))
async def test_a_status_means_the_same_by_webhook_and_by_api(desk: str,
                                                              tmp_path: Path) -> None:
    """Zendesk's and Freshdesk's maps had drifted apart: "on-hold" (Zendesk) and "resolved"
    (Freshdesk) were pending/solved by webhook but "open" when the API said them."""
    from .harness import discover

    harness = discover()[desk](tmp_path)
    rest = harness.make_desk()
    await rest.setup()
    try:
        ticket = await rest.open(draft("case-status"))
        fake = harness.fake.tickets  # type: ignore[attr-defined]
        for raw, expected in VENDOR_STATUSES[desk].items():
            fake[int(ticket.id)]["status"] = raw  # what the API answers from now on
            by_api = await rest.status(ticket.id)
            [change] = desk_class(desk).parse_webhook(WEBHOOK_BODIES[desk](str(raw)))
            assert (by_api, change.status) == (expected, expected), (desk, raw)
    finally:
        await rest.aclose()


def test_sha_helpers_match_hashlib() -> None:  # guards the test's own signers
    assert _hex("sha1", b"x") == hmac.new(SECRET.encode(), b"x", hashlib.sha1).hexdigest()
