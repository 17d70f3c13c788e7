"""The HTTP boundary every connector goes through.

``HttpApi`` wraps an injected ``httpx.AsyncClient`` and gives connectors three things:

- ``request()`` maps failures into ``RetriableError`` / ``FatalError`` (see ``errors``) with
  ``raise ... from exc`` and messages that never contain a secret;
- retries of retriable failures with exponential backoff and jitter (tenacity), honouring
  ``Retry-After`` and the vendor's rate-limit reset headers, bounded in attempts and time;
- a client-side limiter (aiolimiter) that keeps under the vendor's documented rate.

Tests inject ``httpx.MockTransport``; nothing here opens a connection at construction.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import httpx
from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from vocab.redact import Redactor, also_scrub_logs, request_credentials

from .errors import FatalError, RetriableError, safe_url

log = logging.getLogger(__name__)

RESET_HEADERS = (
    "x-rate-limit-reset",  # X (epoch seconds)
    "x-ratelimit-reset",  # Mastodon (ISO 8601), Reddit (seconds from now), Zendesk/GitHub (epoch)
    "ratelimit-reset",  # Bluesky / IETF draft (epoch seconds or delta)
    "x-ratelimit-retry-after",  # Help Scout (seconds from now)
)


def parse_retry_after(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds to wait before retrying, from Retry-After or a rate-limit reset header."""
    now = time.time() if now is None else now
    value = response.headers.get("retry-after")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value).timestamp()
                return max(0.0, when - now)
            except (TypeError, ValueError):
                pass
    for name in RESET_HEADERS:
        raw = response.headers.get(name)
        if not raw:
            continue
        raw = raw.strip()
        try:
            number = float(raw)
        except ValueError:
            try:
                from datetime import datetime

                when = datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
                return max(0.0, when - now)
            except ValueError:
                continue
        # A large number is an epoch timestamp; a small one is a delta in seconds.
        return max(0.0, number - now) if number > 1e9 else max(0.0, number)
    return None


def raise_for_response(response: httpx.Response, *, what: str,
                       redactor: Redactor | None = None) -> None:
    """Map a non-success response to the right connector error (no body secrets leaked).

    The body may echo the request (a proxy, a debugging desk): its detail is scrubbed of
    the ``redactor``'s secrets and of the credentials the request itself carried.
    """
    code = response.status_code
    if code < 400:
        return
    where = f"{what}: {response.request.method} {safe_url(response.request.url)} -> {code}"
    if code == 429 or code >= 500 or code == 408:
        raise RetriableError(
            where, retry_after=parse_retry_after(response), status_code=code
        )
    detail = _short_detail(response, redactor or Redactor())
    if code in (401, 403):
        raise FatalError(f"{where} (credentials refused or lacking permission){detail}",
                         status_code=code)
    raise FatalError(f"{where}{detail}", status_code=code)


def _short_detail(response: httpx.Response, redactor: Redactor) -> str:
    try:
        text = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError, LookupError):
        return ""
    # Scrub the whole text first: a cut could split a secret and leave half of it.
    text = redactor.scrub(text, extra=request_credentials(response.request))
    text = " ".join(text.split())[:300]
    return f": {text}" if text else ""


class _WaitRetryAfter(wait_base):
    """Wait what the server asked for, else an exponential backoff with jitter."""

    def __init__(self, fallback: wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: Any) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, RetriableError) and exc.retry_after is not None:
            return float(min(self.cap, exc.retry_after))
        return float(self.fallback(retry_state))


T = TypeVar("T")


async def retry_step(step: Callable[[], Awaitable[T]], *, attempts: int, max_elapsed: float,
                     backoff_initial: float, backoff_max: float, jitter: float = 1.0,
                     what: str = "") -> T:
    """Run ``step`` again after a ``RetriableError``: exponential backoff with jitter, or
    what the server asked for (``retry_after``), bounded in attempts and in time (tenacity).

    ``step`` must be safe to repeat: a create checks whether the first try landed.
    """
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(RetriableError),
        stop=stop_after_attempt(attempts) | stop_after_delay(max_elapsed),
        wait=_WaitRetryAfter(
            wait_exponential_jitter(initial=backoff_initial, max=backoff_max, jitter=jitter),
            cap=backoff_max,
        ),
        before_sleep=lambda state: log.info(
            "%s: %s; retrying in %.2fs", what or "connector",
            state.outcome.exception() if state.outcome else "",
            state.next_action.sleep if state.next_action else 0.0),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await step()
    raise AssertionError("unreachable")  # pragma: no cover


class HttpApi:
    """A vendor API reached through an injected client, with mapping, retries and a limiter."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        name: str,
        rate: float | None = None,
        per_seconds: float = 1.0,
        attempts: int = 5,
        max_elapsed: float = 60.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        jitter: float = 1.0,
        secrets: Iterable[Any] = (),
    ) -> None:
        self.client = client
        #: Scrubs the connector's configured secrets from every error it raises.
        self.redactor = Redactor(secrets)
        also_scrub_logs(*self.redactor.secrets)  # and from the worker's logs, any library's
        self.name = name
        self.limiter = AsyncLimiter(rate, per_seconds) if rate else None
        self.attempts = attempts
        self.max_elapsed = max_elapsed
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.jitter = jitter

    async def request(
        self,
        method: str,
        url: str,
        *,
        what: str | None = None,
        ok: tuple[int, ...] = (),
        retry: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request (retried when retriable); statuses in ``ok`` are not errors."""
        what = what or self.name
        if not retry:
            return await self._once(method, url, what=what, ok=ok, **kwargs)
        return await retry_step(
            lambda: self._once(method, url, what=what, ok=ok, **kwargs),
            attempts=self.attempts, max_elapsed=self.max_elapsed,
            backoff_initial=self.backoff_initial, backoff_max=self.backoff_max,
            jitter=self.jitter, what=what)

    async def _once(
        self, method: str, url: str, *, what: str, ok: tuple[int, ...], **kwargs: Any
    ) -> httpx.Response:
        if self.limiter is not None:
            await self.limiter.acquire()
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise RetriableError(f"{what}: {method} {safe_url(url)} timed out") from exc
        except httpx.TransportError as exc:
            raise RetriableError(
                f"{what}: {method} {safe_url(url)} failed: {type(exc).__name__}"
            ) from exc
        if response.status_code in ok:
            return response
        raise_for_response(response, what=what, redactor=self.redactor)
        return response

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """``request`` and decode the JSON body (a non-JSON body is a FatalError)."""
        response = await self.request(method, url, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise FatalError(
                f"{self.name}: {method} {safe_url(url)} answered {response.status_code} "
                "with a body that is not JSON"
            ) from exc


def merge_headers(*parts: Mapping[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in parts:
        if part:
            out.update(part)
    return out
