"""Inbound desk webhooks: the pieces every desk's signature check is built from.

Each desk verifies its own deliveries and reads its own payloads, in its own file, through
the two class methods ``connectors.desks.base.Desk`` declares (whose defaults say "this
desk has no webhooks")::

    seen = desk_cls.verify_webhook(headers, body, secret, now=..., replay_cache=...)
    changes = desk_cls.parse_webhook(json_object(body))

``verify_webhook`` checks one delivery exactly as the desk documents its signature (each
desk's docstring says how) and raises ``WebhookRejected`` (the HTTP layer answers 401 with
no detail) when it is forged, stale, replayed or oversized; ``parse_webhook`` turns a
documented payload into ``TicketChange`` records (``[]`` for events that change no status),
with the same status map as the desk's REST code.

What is here is shared by all of them: header lookup, HMAC helpers, size, freshness and
replay checks, time parsing and reading the body as a JSON object. Every comparison is
``hmac.compare_digest``. A delivery is remembered by a digest of what its signature covers
(Zendesk: timestamp + body; most others: the body), never by a delivery id the signature
does not cover: a replay under a new id is still the same delivery. It is remembered until
its signed timestamp is stale anyway, or for ``DEDUP_WINDOW`` where the desk signs no time.
``ReplayCache`` is in memory; ``router.webhooks`` persists it in Kafka so that a restarted
worker still refuses earlier deliveries.
"""

from __future__ import annotations

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


def header(headers: Mapping[str, str], name: str) -> str:
    """The value of header ``name`` (any case), stripped; ``""`` when absent."""
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value.strip()
    return ""


def secret_bytes(secret: str | bytes) -> bytes:
    """The secret as bytes (a ``SecretStr`` is read too)."""
    if hasattr(secret, "get_secret_value"):
        secret = secret.get_secret_value()
    return secret if isinstance(secret, bytes) else secret.encode()


def hmac_digest(secret: str | bytes, message: bytes, algo: str) -> bytes:
    """HMAC-``algo``(secret, message), raw bytes (base64 them for a base64 scheme)."""
    return hmac.new(secret_bytes(secret), message, algo).digest()


def hmac_hex(secret: str | bytes, message: bytes, algo: str) -> str:
    """HMAC-``algo``(secret, message) as lowercase hex."""
    return hmac.new(secret_bytes(secret), message, algo).hexdigest()


def check_delivery(body: bytes, secret: str | bytes, max_bytes: int) -> None:
    """Refuse any delivery without a secret to check it with, or over ``max_bytes``."""
    if not secret or not secret_bytes(secret):
        raise WebhookRejected("no secret for this desk")
    if len(body) > max_bytes:
        raise WebhookRejected("body too large")


def check_fresh(at: float, now: float, max_age: float) -> None:
    """Refuse a signed time more than ``max_age`` seconds away from ``now`` (either way)."""
    if not math.isfinite(at) or not abs(now - at) <= max_age:
        raise WebhookRejected("stale delivery")


def digest(*parts: bytes) -> str:
    """A replay key for what the signature covers (the parts, unambiguously joined)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def check_replay(cache: ReplayCache | None, desk: str, key: str,
                 expires_at: float) -> Seen | None:
    """Refuse a delivery seen before; else remember it until ``expires_at``."""
    seen = Seen(f"{desk}:{key}", expires_at)
    if cache is None:
        return None
    if not cache.check_and_add(seen.key, expires_at=expires_at):
        raise WebhookRejected("replayed delivery")
    return seen


def check_signature(given: str, expected: str) -> None:
    """Refuse unless ``given`` (a header as sent) is ``expected``, in constant time."""
    # Bytes: compare_digest refuses a str with non-ASCII characters (TypeError, a 500).
    if not given or not hmac.compare_digest(given.encode("utf-8", "replace"),
                                            expected.encode()):
        raise WebhookRejected("bad signature")


def parse_time(value: str) -> float:
    """Epoch seconds of a signed time: ISO 8601, epoch seconds or epoch milliseconds."""
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


def json_object(body: bytes) -> dict[str, Any]:
    """The signed body as a JSON object; anything else (nested too deep, a number too long
    to read, not an object) is refused, never an error page."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookRejected("body is not a JSON object") from None
    if not isinstance(payload, dict):
        raise WebhookRejected("body is not a JSON object")
    return payload


def text(value: Any) -> str:
    """A payload value as text (``""`` for null)."""
    return "" if value is None else str(value)


def status_in(statuses: Mapping[str, str], raw: object) -> str:
    """The router's status for a desk's own ``raw`` one, read exactly as
    ``SaasDesk.map_status`` reads it (stripped, lowercase; unknown: "open"), so that a
    desk's webhook and REST code agree on every value of its one map."""
    return statuses.get(str(raw).strip().lower(), "open")
