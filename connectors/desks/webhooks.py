"""Inbound desk webhooks: is this delivery genuine, and which ticket statuses did it change?

``verify(desk_key, headers, body, secret, now=..., replay_cache=...)`` checks one delivery
exactly as each desk documents its signature, and raises ``WebhookRejected`` (the HTTP
layer answers 401 with no detail) when it is forged, stale, replayed or oversized:

=========  ===============================  ===========================================
desk       header                           value
=========  ===============================  ===========================================
zendesk    X-Zendesk-Webhook-Signature      base64(HMAC-SHA256(secret, timestamp + body)),
           (+ ...-Signature-Timestamp)      timestamp ISO 8601, checked for staleness
github     X-Hub-Signature-256              "sha256=" + hex HMAC-SHA256(secret, body);
                                            X-GitHub-Delivery is the replay key
jira       X-Hub-Signature                  "sha256=" + hex HMAC-SHA256(secret, body)
                                            (admin webhooks); body ``timestamp`` (ms) is
                                            checked for staleness
zammad     X-Hub-Signature                  "sha1=" + hex HMAC-SHA1(secret, body);
                                            X-Zammad-Delivery is the replay key
helpscout  X-HelpScout-Signature            base64(HMAC-SHA1(secret, body))
freshdesk  X-Router-Webhook-Token           Freshdesk signs nothing: the automation rule
                                            sends this shared token as a custom header
=========  ===============================  ===========================================

Every comparison is ``hmac.compare_digest``. The replay key is the desk's delivery id where
it sends one, else the signature itself. ``parse_event(desk_key, payload)`` turns a
documented payload into ``TicketChange`` records (``[]`` for events that change no status).
"""

from __future__ import annotations

import base64
import hmac
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from router.errors import RouterError

from .base import STATUSES, TicketChange
from .render import find_marker

MAX_BODY_BYTES = 1_048_576
MAX_AGE_SECONDS = 300.0


class WebhookRejected(RouterError):
    """A delivery that is not genuine, fresh and new; answer 401 and say nothing more."""


class ReplayCache:
    """Delivery ids seen recently: bounded in size, each remembered for ``ttl`` seconds."""

    def __init__(self, *, ttl: float = 2 * MAX_AGE_SECONDS, max_items: int = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self.clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._mutex = threading.Lock()

    def check_and_add(self, key: str) -> bool:
        """True if ``key`` is new (and remember it); False if it was seen within the TTL."""
        now = self.clock()
        with self._mutex:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if now - at < self.ttl and len(self._seen) < self.max_items:
                    break
                self._seen.pop(oldest)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True

    def __len__(self) -> int:
        return len(self._seen)


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value.strip()
    return ""


def _bytes(secret: str | bytes) -> bytes:
    if hasattr(secret, "get_secret_value"):
        secret = secret.get_secret_value()
    return secret if isinstance(secret, bytes) else secret.encode()


def _hmac(secret: str | bytes, message: bytes, algo: str) -> bytes:
    return hmac.new(_bytes(secret), message, algo).digest()


def _check_size(body: bytes, max_bytes: int) -> None:
    if len(body) > max_bytes:
        raise WebhookRejected("body too large")


def _check_fresh(at: float, now: float, max_age: float) -> None:
    if abs(now - at) > max_age:
        raise WebhookRejected("stale delivery")


def _check_replay(cache: ReplayCache | None, desk: str, key: str) -> None:
    if cache is not None and not cache.check_and_add(f"{desk}:{key}"):
        raise WebhookRejected("replayed delivery")


def _equal(given: str, expected: str) -> None:
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise WebhookRejected("bad signature")


def _parse_time(value: str) -> float:
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise WebhookRejected("bad timestamp") from None
    return number / 1000.0 if number > 1e11 else number


# --- one function per scheme ----------------------------------------------------------------


def verify_zendesk(headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                   now: float, replay_cache: ReplayCache | None = None,
                   max_age: float = MAX_AGE_SECONDS, max_bytes: int = MAX_BODY_BYTES) -> None:
    """Zendesk: base64(HMAC-SHA256(secret, timestamp + body)) with a fresh timestamp."""
    _check_size(body, max_bytes)
    signature = _header(headers, "X-Zendesk-Webhook-Signature")
    timestamp = _header(headers, "X-Zendesk-Webhook-Signature-Timestamp")
    if not timestamp:
        raise WebhookRejected("no timestamp")
    expected = base64.b64encode(_hmac(secret, timestamp.encode() + body, "sha256")).decode()
    _equal(signature, expected)
    _check_fresh(_parse_time(timestamp), now, max_age)
    _check_replay(replay_cache, "zendesk",
                  _header(headers, "X-Zendesk-Webhook-Invocation-Id") or signature)


def verify_github(headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                  now: float, replay_cache: ReplayCache | None = None,
                  max_age: float = MAX_AGE_SECONDS, max_bytes: int = MAX_BODY_BYTES) -> None:
    """GitHub: "sha256=" + hex HMAC-SHA256(secret, body); X-GitHub-Delivery for replay.

    GitHub sends no timestamp, so staleness cannot be checked; the delivery id is required.
    """
    _check_size(body, max_bytes)
    expected = "sha256=" + hmac.new(_bytes(secret), body, "sha256").hexdigest()
    _equal(_header(headers, "X-Hub-Signature-256"), expected)
    delivery = _header(headers, "X-GitHub-Delivery")
    if not delivery:
        raise WebhookRejected("no delivery id")
    _check_replay(replay_cache, "github", delivery)


def verify_jira(headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                now: float, replay_cache: ReplayCache | None = None,
                max_age: float = MAX_AGE_SECONDS, max_bytes: int = MAX_BODY_BYTES) -> None:
    """Jira admin webhooks: X-Hub-Signature "sha256=<hex>" of the body (WebSub style).

    The signed body carries ``timestamp`` (epoch ms): deliveries older than ``max_age`` are
    refused. X-Atlassian-Webhook-Identifier (else the signature) is the replay key.
    """
    _check_size(body, max_bytes)
    signature = _header(headers, "X-Hub-Signature")
    expected = "sha256=" + hmac.new(_bytes(secret), body, "sha256").hexdigest()
    _equal(signature, expected)
    try:
        stamp = json.loads(body).get("timestamp")
    except (ValueError, AttributeError):
        raise WebhookRejected("body is not a JSON object") from None
    if stamp is not None:
        _check_fresh(_parse_time(str(stamp)), now, max_age)
    _check_replay(replay_cache, "jira",
                  _header(headers, "X-Atlassian-Webhook-Identifier") or signature)


def verify_zammad(headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                  now: float, replay_cache: ReplayCache | None = None,
                  max_age: float = MAX_AGE_SECONDS, max_bytes: int = MAX_BODY_BYTES) -> None:
    """Zammad: X-Hub-Signature "sha1=" + hex HMAC-SHA1(secret, body); X-Zammad-Delivery."""
    _check_size(body, max_bytes)
    signature = _header(headers, "X-Hub-Signature")
    expected = "sha1=" + hmac.new(_bytes(secret), body, "sha1").hexdigest()
    _equal(signature, expected)
    _check_replay(replay_cache, "zammad", _header(headers, "X-Zammad-Delivery") or signature)


def verify_helpscout(headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                     now: float, replay_cache: ReplayCache | None = None,
                     max_age: float = MAX_AGE_SECONDS,
                     max_bytes: int = MAX_BODY_BYTES) -> None:
    """Help Scout: X-HelpScout-Signature = base64(HMAC-SHA1(secret, body))."""
    _check_size(body, max_bytes)
    signature = _header(headers, "X-HelpScout-Signature")
    expected = base64.b64encode(_hmac(secret, body, "sha1")).decode()
    _equal(signature, expected)
    _check_replay(replay_cache, "helpscout", signature)


def verify_freshdesk(headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                     now: float, replay_cache: ReplayCache | None = None,
                     max_age: float = MAX_AGE_SECONDS,
                     max_bytes: int = MAX_BODY_BYTES) -> None:
    """Freshdesk signs nothing: the automation rule sends X-Router-Webhook-Token: <secret>.

    No replay protection is possible beyond TLS; status events are idempotent downstream.
    """
    _check_size(body, max_bytes)
    _equal(_header(headers, "X-Router-Webhook-Token"), _bytes(secret).decode())


VERIFIERS: dict[str, Callable[..., None]] = {
    "zendesk": verify_zendesk,
    "github": verify_github,
    "jira": verify_jira,
    "zammad": verify_zammad,
    "helpscout": verify_helpscout,
    "freshdesk": verify_freshdesk,
}


def verify(desk_key: str, headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
           now: float | None = None, replay_cache: ReplayCache | None = None,
           max_age: float = MAX_AGE_SECONDS, max_bytes: int = MAX_BODY_BYTES) -> None:
    """Check one delivery for ``desk_key``; raise WebhookRejected if it is not genuine."""
    verifier = VERIFIERS.get(desk_key)
    if verifier is None or not secret:
        raise WebhookRejected("no webhook scheme or no secret for this desk")
    verifier(headers, body, secret, now=time.time() if now is None else now,
             replay_cache=replay_cache, max_age=max_age, max_bytes=max_bytes)


# --- payload parsers -----------------------------------------------------------------------

ZENDESK_STATUSES = {"new": "new", "open": "open", "pending": "pending", "hold": "pending",
                    "on-hold": "pending", "solved": "solved", "closed": "closed"}
FRESHDESK_STATUSES = {"2": "open", "open": "open", "3": "pending", "pending": "pending",
                      "4": "solved", "resolved": "solved", "5": "closed", "closed": "closed"}
ZAMMAD_STATUSES = {"new": "new", "open": "open", "pending reminder": "pending",
                   "pending close": "pending", "closed": "closed", "merged": "closed",
                   "removed": "closed"}
HELPSCOUT_STATUSES = {"active": "open", "pending": "pending", "closed": "closed",
                      "spam": "closed", "open": "open"}
JIRA_CATEGORIES = {"new": "new", "indeterminate": "open", "done": "solved"}
JIRA_NAMES = {"closed": "closed", "resolved": "solved", "done": "solved",
              "canceled": "closed", "cancelled": "closed", "declined": "closed",
              "waiting for customer": "pending", "pending": "pending"}


def github_status(state: str, reason: str | None) -> str:
    """GitHub's state and state_reason in the router's terms."""
    if state == "closed":
        return "solved" if (reason or "completed") == "completed" else "closed"
    return "open"


def jira_status(status: Mapping[str, Any] | None) -> str:
    status = status or {}
    name = str(status.get("name", "")).strip().lower()
    if name in JIRA_NAMES:
        return JIRA_NAMES[name]
    category = (status.get("statusCategory") or {}).get("key", "")
    return JIRA_CATEGORIES.get(str(category), "open")


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _zendesk(payload: Mapping[str, Any]) -> list[TicketChange]:
    kind = _s(payload.get("type"))
    if kind.startswith("zen:event-type:ticket."):
        detail = payload.get("detail") or {}
        event = payload.get("event") or {}
        status = detail.get("status")
        if kind == "zen:event-type:ticket.status_changed" and isinstance(event, Mapping):
            status = event.get("current", status)
        elif isinstance(event.get("current"), Mapping):
            status = event["current"].get("status", status)
        if status is None or not detail.get("id"):
            return []
        return [TicketChange(
            ticket_id=_s(detail["id"]),
            status=ZENDESK_STATUSES.get(_s(status).lower(), "open"),
            external_id=_s(detail.get("external_id")) or None,
            changed_at=_s(payload.get("time") or detail.get("updated_at")))]
    # A trigger webhook with the JSON body docs/desks.md recommends.
    inner = payload.get("ticket")
    ticket: Mapping[str, Any] = inner if isinstance(inner, Mapping) else payload
    if not ticket.get("id") or not ticket.get("status"):
        return []
    return [TicketChange(ticket_id=_s(ticket["id"]),
                         status=ZENDESK_STATUSES.get(_s(ticket["status"]).lower(), "open"),
                         url=_s(ticket.get("url")), external_id=_s(ticket.get("external_id"))
                         or None, changed_at=_s(ticket.get("updated_at")))]


def _github(payload: Mapping[str, Any]) -> list[TicketChange]:
    issue = payload.get("issue")
    if not isinstance(issue, Mapping) or "pull_request" in issue:
        return []
    if payload.get("action") not in ("opened", "closed", "reopened", "edited"):
        return []
    return [TicketChange(ticket_id=_s(issue.get("number")),
                         status=github_status(_s(issue.get("state")), issue.get("state_reason")),
                         url=_s(issue.get("html_url")),
                         external_id=find_marker(issue.get("body"), "external-id"),
                         changed_at=_s(issue.get("updated_at")))]


def _jira(payload: Mapping[str, Any]) -> list[TicketChange]:
    if not _s(payload.get("webhookEvent")).startswith("jira:issue_"):
        return []
    issue = payload.get("issue") or {}
    fields = issue.get("fields") or {}
    if not issue.get("key"):
        return []
    url = _s(issue.get("self"))
    if "/rest/api/" in url:
        url = url.split("/rest/api/")[0] + f"/browse/{issue['key']}"
    stamp = payload.get("timestamp")
    return [TicketChange(ticket_id=_s(issue["key"]), status=jira_status(fields.get("status")),
                         url=url, changed_at=_s(stamp))]


def _zammad(payload: Mapping[str, Any]) -> list[TicketChange]:
    ticket = payload.get("ticket")
    if not isinstance(ticket, Mapping) or not ticket.get("id"):
        return []
    state = ticket.get("state")
    if isinstance(state, Mapping):
        state = state.get("name")
    return [TicketChange(ticket_id=_s(ticket["id"]),
                         status=ZAMMAD_STATUSES.get(_s(state).lower(), "open"),
                         changed_at=_s(ticket.get("updated_at")))]


def _helpscout(payload: Mapping[str, Any]) -> list[TicketChange]:
    if not payload.get("id") or "status" not in payload:
        return []  # e.g. convo.deleted carries only the id
    web = ((payload.get("_links") or {}).get("web") or {}).get("href", "")
    return [TicketChange(ticket_id=_s(payload["id"]),
                         status=HELPSCOUT_STATUSES.get(_s(payload["status"]).lower(), "open"),
                         url=_s(web), changed_at=_s(payload.get("userUpdatedAt")
                                                    or payload.get("closedAt")))]


def _freshdesk(payload: Mapping[str, Any]) -> list[TicketChange]:
    data = payload.get("freshdesk_webhook", payload)
    if not isinstance(data, Mapping) or not data.get("ticket_id"):
        return []
    status = _s(data.get("ticket_status")).lower()
    return [TicketChange(ticket_id=_s(data["ticket_id"]),
                         status=FRESHDESK_STATUSES.get(status, "open"),
                         url=_s(data.get("ticket_url")),
                         external_id=_s(data.get("ticket_cf_external_id")) or None)]


PARSERS: dict[str, Callable[[Mapping[str, Any]], list[TicketChange]]] = {
    "zendesk": _zendesk, "github": _github, "jira": _jira, "zammad": _zammad,
    "helpscout": _helpscout, "freshdesk": _freshdesk,
}


def parse_event(desk_key: str, payload: Mapping[str, Any]) -> list[TicketChange]:
    """The ticket status changes in one webhook payload (``[]`` if it changes none)."""
    parser = PARSERS.get(desk_key)
    if parser is None:
        raise KeyError(f"no webhook parser for desk {desk_key!r}")
    if not isinstance(payload, Mapping):
        return []
    changes = parser(payload)
    assert all(c.status in STATUSES for c in changes)  # noqa: S101 - parser invariant
    return changes
