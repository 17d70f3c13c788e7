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
                                            X-GitHub-Delivery required; the signed
                                            ``issue.updated_at`` checked against a day
jira       X-Hub-Signature                  "sha256=" + hex HMAC-SHA256(secret, body)
                                            (admin webhooks); body ``timestamp`` (ms) is
                                            checked for staleness
zammad     X-Hub-Signature                  "sha1=" + hex HMAC-SHA1(secret, body)
helpscout  X-HelpScout-Signature            base64(HMAC-SHA1(secret, body))
freshdesk  X-Router-Webhook-Token           Freshdesk signs nothing: the automation rule
                                            sends this shared token as a custom header
=========  ===============================  ===========================================

Every comparison is ``hmac.compare_digest``. A delivery is remembered by a digest of what
its signature covers (Zendesk: timestamp + body; the others: the body), never by a delivery
id the signature does not cover: a replay under a new id is still the same delivery. It is
remembered until its signed timestamp is stale anyway, or for ``DEDUP_WINDOW`` where the
desk signs no time. ``ReplayCache`` is in memory; ``router.webhooks`` persists it in Kafka
so that a restarted worker still refuses earlier deliveries.

``parse_event(desk_key, payload)`` turns a documented payload into ``TicketChange`` records
(``[]`` for events that change no status).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cachetools import TLRUCache

from vocab.errors import RouterError

from .base import STATUSES, TicketChange
from .render import find_marker

MAX_BODY_BYTES = 1_048_576
MAX_AGE_SECONDS = 300.0
#: How long a delivery without a signed timestamp is remembered (and, for GitHub, how old
#: the issue's signed ``updated_at`` may be).
DEDUP_WINDOW = 86_400.0


class WebhookRejected(RouterError):
    """A delivery that is not genuine, fresh and new; answer 401 and say nothing more."""


@dataclass(frozen=True)
class Seen:
    """A delivery the replay cache now remembers: its key and until when."""

    key: str
    expires_at: float


class ReplayCache:
    """Deliveries seen recently, each remembered until its own expiry; at most ``max_items``.

    A ``cachetools.TLRUCache``: per-entry expiry is what deliveries need (a Zendesk one is
    dead once its signed timestamp is stale, one read back from Kafka keeps the expiry it
    was written with), which a cache with one TTL for all cannot express. When full, the
    least recently used entry goes first.
    """

    def __init__(self, *, ttl: float = DEDUP_WINDOW, max_items: int = 100_000,
                 clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self.clock = clock
        self._seen: TLRUCache[str, float] = TLRUCache(
            maxsize=max_items, ttu=lambda _key, expires_at, _now: expires_at, timer=clock)
        self._mutex = threading.Lock()

    def check_and_add(self, key: str, *, expires_at: float | None = None) -> bool:
        """True if ``key`` is new (and remember it until ``expires_at``, else ``ttl``
        from now); False if it is remembered."""
        with self._mutex:
            if key in self._seen:
                return False
            self._seen[key] = self.clock() + self.ttl if expires_at is None else expires_at
            return True

    def remember(self, key: str, expires_at: float) -> None:
        """Remember ``key`` until ``expires_at`` (a delivery accepted elsewhere)."""
        with self._mutex:
            if expires_at > self._seen.get(key, -math.inf):
                self._seen[key] = expires_at

    def forget(self, key: str) -> None:
        """Accept ``key`` again (its delivery could not be passed on: the desk retries)."""
        with self._mutex:
            self._seen.pop(key, None)

    def __len__(self) -> int:
        with self._mutex:
            self._seen.expire()
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
    if not math.isfinite(at) or not abs(now - at) <= max_age:
        raise WebhookRejected("stale delivery")


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def _check_replay(cache: ReplayCache | None, desk: str, key: str,
                  expires_at: float) -> Seen | None:
    """Refuse a delivery seen before; else remember it until ``expires_at``."""
    seen = Seen(f"{desk}:{key}", expires_at)
    if cache is None:
        return None
    if not cache.check_and_add(seen.key, expires_at=expires_at):
        raise WebhookRejected("replayed delivery")
    return seen


def _equal(given: str, expected: str) -> None:
    # Bytes: compare_digest refuses a str with non-ASCII characters (TypeError, a 500).
    if not given or not hmac.compare_digest(given.encode("utf-8", "replace"),
                                            expected.encode()):
        raise WebhookRejected("bad signature")


def _parse_time(value: str) -> float:
    value = value.strip()[:64]
    try:
        number = float(value)
    except ValueError:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except (ValueError, OverflowError):
            raise WebhookRejected("bad timestamp") from None
    if not math.isfinite(number):  # nan would pass any comparison with the window
        raise WebhookRejected("bad timestamp")
    return number / 1000.0 if number > 1e11 else number


# --- one function per scheme ----------------------------------------------------------------


def verify_zendesk(headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                   now: float, replay_cache: ReplayCache | None = None,
                   max_age: float = MAX_AGE_SECONDS,
                   max_bytes: int = MAX_BODY_BYTES) -> Seen | None:
    """Zendesk: base64(HMAC-SHA256(secret, timestamp + body)) with a fresh timestamp.

    The invocation id is not signed: the delivery is what the signature covers.
    """
    _check_size(body, max_bytes)
    signature = _header(headers, "X-Zendesk-Webhook-Signature")
    timestamp = _header(headers, "X-Zendesk-Webhook-Signature-Timestamp")
    if not timestamp:
        raise WebhookRejected("no timestamp")
    stamp = timestamp.encode("utf-8", "surrogateescape")  # the bytes the desk signed
    expected = base64.b64encode(_hmac(secret, stamp + body, "sha256")).decode()
    _equal(signature, expected)
    at = _parse_time(timestamp)
    _check_fresh(at, now, max_age)
    return _check_replay(replay_cache, "zendesk", _digest(stamp, body), at + max_age)


def verify_github(headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                  now: float, replay_cache: ReplayCache | None = None,
                  max_age: float = MAX_AGE_SECONDS, max_bytes: int = MAX_BODY_BYTES,
                  window: float = DEDUP_WINDOW) -> Seen | None:
    """GitHub: "sha256=" + hex HMAC-SHA256(secret, body); X-GitHub-Delivery required.

    GitHub signs no time and its delivery id is not signed, so a body is accepted once per
    ``window`` whatever id it comes with, and an issue event whose signed ``updated_at`` is
    older than the window is refused as stale.
    """
    _check_size(body, max_bytes)
    expected = "sha256=" + hmac.new(_bytes(secret), body, "sha256").hexdigest()
    _equal(_header(headers, "X-Hub-Signature-256"), expected)
    if not _header(headers, "X-GitHub-Delivery"):
        raise WebhookRejected("no delivery id")
    updated = _get(_json_object(body), "issue", "updated_at")
    if isinstance(updated, str) and updated:
        _check_fresh(_parse_time(updated), now, window)
    return _check_replay(replay_cache, "github", _digest(body), now + window)


def verify_jira(headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                now: float, replay_cache: ReplayCache | None = None,
                max_age: float = MAX_AGE_SECONDS, max_bytes: int = MAX_BODY_BYTES,
                window: float = DEDUP_WINDOW) -> Seen | None:
    """Jira admin webhooks: X-Hub-Signature "sha256=<hex>" of the body (WebSub style).

    The signed body carries ``timestamp`` (epoch ms): deliveries older than ``max_age`` are
    refused. The body (not X-Atlassian-Webhook-Identifier, unsigned) is the replay key.
    """
    _check_size(body, max_bytes)
    signature = _header(headers, "X-Hub-Signature")
    expected = "sha256=" + hmac.new(_bytes(secret), body, "sha256").hexdigest()
    _equal(signature, expected)
    stamp = _json_object(body).get("timestamp")
    expires_at = now + window
    if stamp is not None:
        at = _parse_time(str(stamp))
        _check_fresh(at, now, max_age)
        expires_at = at + max_age
    return _check_replay(replay_cache, "jira", _digest(body), expires_at)


def verify_zammad(headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                  now: float, replay_cache: ReplayCache | None = None,
                  max_age: float = MAX_AGE_SECONDS, max_bytes: int = MAX_BODY_BYTES,
                  window: float = DEDUP_WINDOW) -> Seen | None:
    """Zammad: X-Hub-Signature "sha1=" + hex HMAC-SHA1(secret, body); the body is the key."""
    _check_size(body, max_bytes)
    signature = _header(headers, "X-Hub-Signature")
    expected = "sha1=" + hmac.new(_bytes(secret), body, "sha1").hexdigest()
    _equal(signature, expected)
    return _check_replay(replay_cache, "zammad", _digest(body), now + window)


def verify_helpscout(headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                     now: float, replay_cache: ReplayCache | None = None,
                     max_age: float = MAX_AGE_SECONDS, max_bytes: int = MAX_BODY_BYTES,
                     window: float = DEDUP_WINDOW) -> Seen | None:
    """Help Scout: X-HelpScout-Signature = base64(HMAC-SHA1(secret, body))."""
    _check_size(body, max_bytes)
    signature = _header(headers, "X-HelpScout-Signature")
    expected = base64.b64encode(_hmac(secret, body, "sha1")).decode()
    _equal(signature, expected)
    return _check_replay(replay_cache, "helpscout", _digest(body), now + window)


def verify_freshdesk(headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                     now: float, replay_cache: ReplayCache | None = None,
                     max_age: float = MAX_AGE_SECONDS,
                     max_bytes: int = MAX_BODY_BYTES) -> Seen | None:
    """Freshdesk signs nothing: the automation rule sends X-Router-Webhook-Token: <secret>.

    No replay protection is possible beyond TLS (an identical body may be a second genuine
    change back to the same status); status events are idempotent downstream.
    """
    _check_size(body, max_bytes)
    _equal(_header(headers, "X-Router-Webhook-Token"), _bytes(secret).decode())
    return None


def _json_object(body: bytes) -> dict[str, Any]:
    """The signed body as a JSON object; anything else (nested too deep, a number too long
    to read, not an object) is refused, never an error page."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookRejected("body is not a JSON object") from None
    if not isinstance(payload, dict):
        raise WebhookRejected("body is not a JSON object")
    return payload


def _get(payload: Mapping[str, Any], *path: str) -> Any:
    value: Any = payload
    for name in path:
        value = value.get(name) if isinstance(value, Mapping) else None
    return value


VERIFIERS: dict[str, Callable[..., Seen | None]] = {
    "zendesk": verify_zendesk,
    "github": verify_github,
    "jira": verify_jira,
    "zammad": verify_zammad,
    "helpscout": verify_helpscout,
    "freshdesk": verify_freshdesk,
}


def verify(desk_key: str, headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
           now: float | None = None, replay_cache: ReplayCache | None = None,
           max_age: float = MAX_AGE_SECONDS, max_bytes: int = MAX_BODY_BYTES) -> Seen | None:
    """Check one delivery for ``desk_key``; raise WebhookRejected if it is not genuine.

    Returns what ``replay_cache`` now remembers of it (None without a cache, or for a desk
    that signs nothing), so the caller can persist it, or ``forget`` it if it cannot pass
    the delivery on.
    """
    verifier = VERIFIERS.get(desk_key)
    if verifier is None or not secret:
        raise WebhookRejected("no webhook scheme or no secret for this desk")
    return verifier(headers, body, secret, now=time.time() if now is None else now,
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
