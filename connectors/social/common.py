"""What the four network reply clients share: setup, the corporate-account check, the hurtful
gate, the reply ledger, length fitting and rate-limit bookkeeping.

``reply(reply)`` runs the same steps on every network:

1. a reply for another network is refused (``ReplyRefused``);
2. the ledger is asked under the reply id *and* the customer key (network, ticket,
   customer): a known reply is returned as it was posted, never posted again;
3. ``setup()`` runs once if it has not (it checks the authenticated account is the
   configured corporate one: a mismatch is a ``ConfigError``, a ``FatalError``);
4. the text is fitted to the network's limit with the link whole;
5. the hurtful gate scores the final text; at or over the threshold, or with no gate, or
   a gate that fails, the reply is refused (``ReplyRefused``, a ``SkippableError``: skip it
   and tell a human; never retry it);
6. the ledger marks the attempt; if an earlier attempt was left in doubt (a crash between
   the network's answer and the ledger), the network is searched for our earlier reply;
7. the network-specific ``_post`` sends it (with the network's idempotency where it has
   one) and the ledger records it.
"""

from __future__ import annotations

import abc
import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from connectors.errors import ConfigError, FatalError, RetriableError, SkippableError
from connectors.http import HttpApi
from vocab.records import Reply
from vocab.redact import secret_values

from .base import Hurtful, Network, NetworkConfig, Posted
from .compose import compose_reply, fit_text
from .ledger import MemoryLedger, ReplyLedger, SqliteLedger

USER_AGENT = "escalation-router/0.1 (+https://github.com/escalation-router)"


class PostingConfig(NetworkConfig):
    """Settings every network that posts replies has (besides its own)."""

    account: str = Field(
        "", description="The corporate account replies are posted from (handle, no '@'); "
        "setup refuses credentials of any other account.")
    ledger_path: Path | None = Field(
        None, description="SQLite file remembering posted replies (default: in memory, "
        "lost on restart).")
    attempts: int = Field(4, ge=1, le=10, description="Tries of one request on 429/5xx.")
    max_wait: float = Field(
        60.0, ge=0, le=900, description="Longest wait (seconds) for one rate-limit reset "
        "or backoff before giving the error to the caller.")
    poll_limit: int = Field(50, ge=1, le=100, description="Items asked for per poll page.")


class ReplyRefused(SkippableError):
    """The reply was not posted on purpose (hurtful, no gate, wrong network); never retry."""


def gate_score(hurtful: Any, text: str) -> float:
    """P(hurtful) of ``text`` from a per-text function or a batch one (``model.hurtful``)."""
    owner = getattr(hurtful, "__self__", None)
    batch = owner is not None and callable(getattr(owner, "score", None))
    result = hurtful([text]) if batch else hurtful(text)
    if not batch and isinstance(result, Sequence):  # a batch function handed one string
        result = hurtful([text])
    if isinstance(result, Sequence) and not isinstance(result, str):
        if len(result) != 1:
            raise ValueError(f"the gate returned {len(result)} scores for one text")
        result = result[0]
    score = float(result)
    if math.isnan(score) or not 0.0 <= score <= 1.0:
        raise ValueError(f"the gate returned {score!r}, not a probability")
    return score


def customer_key(reply: Reply) -> str:
    """One reply per customer per ticket on one network, whatever the reply id."""
    handle = reply.author_handle.lower().lstrip("@")
    return f"customer:{reply.network}:{reply.ticket_key}:{handle}"


def dump_checkpoint(state: Mapping[str, Any]) -> str:
    return json.dumps(dict(state), separators=(",", ":"), sort_keys=True)


def load_checkpoint(checkpoint: str | None, *, network: str) -> dict[str, Any] | None:
    """The state in a checkpoint string; a corrupt one is a ``FatalError`` (silently starting
    over would skip or repeat mentions)."""
    if not checkpoint:
        return None
    try:
        state = json.loads(checkpoint)
    except ValueError as exc:
        raise FatalError(f"{network}: the poll checkpoint is not readable; fix or delete it"
                         ) from exc
    if not isinstance(state, dict):
        raise FatalError(f"{network}: the poll checkpoint is not readable; fix or delete it")
    return state


class SocialNetwork(Network):
    """A ``Network`` that can post: the shared reply flow; subclasses send and look up."""

    base_url_field: ClassVar[str] = "base_url"
    # Rate-limit headers: (remaining, reset); the reset is read by connectors.http.
    remaining_header: ClassVar[str] = "x-ratelimit-remaining"
    # Client-side limiter: requests per period (kept under the documented limit).
    rate: ClassVar[tuple[float, float]] = (1.0, 1.0)

    def __init__(
        self,
        config: NetworkConfig | None = None,
        client: httpx.AsyncClient | None = None,
        *,
        hurtful: Hurtful | None = None,
        hurtful_threshold: float = 0.5,
        ledger: ReplyLedger | None = None,
    ) -> None:
        super().__init__(config, client)
        self._hurtful: Hurtful | None = hurtful
        self.hurtful_threshold = hurtful_threshold
        self._ledger = ledger
        self._api: HttpApi | None = None
        self._ready = False
        self.me: str = ""  # the authenticated account, as the network names it
        self.rate_wait = 0.0  # seconds the last rate-limit headers ask us to wait

    # --- configuration ----------------------------------------------------------------
    def env(self, field: str) -> str:
        prefix = str(self.Config.model_config.get("env_prefix", "")).upper()
        return f"{prefix}{field.upper()}"

    def require(self, field: str, why: str) -> str:
        """A non-empty setting (secrets revealed), or a ConfigError naming its variable."""
        value = getattr(self.config, field, None)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not value:
            raise ConfigError(f"{self.key}: set {self.env(field)} ({why})")
        return str(value)

    @property
    def ledger(self) -> ReplyLedger:
        if self._ledger is None:
            path = getattr(self.config, "ledger_path", None)
            self._ledger = SqliteLedger(path) if path else MemoryLedger()
        return self._ledger

    @property
    def api(self) -> HttpApi:
        if self._api is None:
            if self._client is None:
                self._client = httpx.AsyncClient(
                    timeout=httpx.Timeout(20.0, connect=10.0),
                    headers={"User-Agent": USER_AGENT},
                    follow_redirects=False,
                )
            count, per = self.rate
            self._api = HttpApi(self._client, name=self.key, rate=count, per_seconds=per,
                                attempts=int(getattr(self.config, "attempts", 4)),
                                max_elapsed=float(getattr(self.config, "max_wait", 60.0)),
                                backoff_max=float(getattr(self.config, "max_wait", 60.0)),
                                secrets=secret_values(self.config))
        return self._api

    async def setup(self) -> None:
        """Check settings, build the client, log in and check the corporate account."""
        self.check_config()
        await self.login()
        account = str(getattr(self.config, "account", "") or "")
        if account:
            self.me = await self.whoami()
            if self.me.lower().lstrip("@") != account.lower().lstrip("@"):
                raise ConfigError(
                    f"{self.key}: the credentials belong to @{self.me}, but "
                    f"{self.env('account')} is @{account.lstrip('@')}; replies are posted only "
                    "from the configured corporate account"
                )
        self._ready = True

    def check_config(self) -> None:  # noqa: B027 - optional hook
        """Raise ConfigError naming the variable for a missing or wrong setting."""

    async def login(self) -> None:  # noqa: B027 - optional hook
        """Obtain a session or token where the network needs one."""

    @abc.abstractmethod
    async def whoami(self) -> str:
        """The handle of the authenticated account."""

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.api.request(method, url, **kwargs)
        self.note_rate(response)
        return response

    def note_rate(self, response: httpx.Response) -> None:
        """Remember how long to wait when the network's window is (nearly) spent."""
        from connectors.http import parse_retry_after

        raw = response.headers.get(self.remaining_header)
        try:
            remaining = float(raw) if raw is not None else None
        except ValueError:
            remaining = None
        if remaining is not None and remaining < 1:
            self.rate_wait = parse_retry_after(response) or 0.0
        else:
            self.rate_wait = 0.0

    # --- replies --------------------------------------------------------------------
    @property
    def limit(self) -> int:
        return int(getattr(self.config, "max_length", 0) or self.max_length)

    def length(self, text: str) -> int:
        return self.text_length(text)

    def reply_text(self, reply: Reply) -> str:
        """The reply's words within the limit, the ticket link whole and present."""
        link = reply.ticket_url.strip()
        text = reply.text.strip()
        if not text:
            text = compose_reply(network=self.key, handle=reply.author_handle, link=link,
                                 lang=reply.lang, limit=self.limit, length=self.length)
        elif link and link not in text:
            text = f"{text} {link}"
        fitted = fit_text(text, link, self.limit, self.length)
        if link and link not in fitted:
            raise ReplyRefused(f"{self.key}: the link alone is longer than the "
                               f"{self.limit}-character limit")
        return fitted

    def gate(self, text: str) -> float:
        """Score the final text; refuse at or over the threshold, without a gate, or if
        the gate fails (when in doubt, stay silent)."""
        if self._hurtful is None:
            raise ReplyRefused(f"{self.key}: no hurtful gate is installed; not posting")
        try:
            score = gate_score(self._hurtful, text)
        except Exception as exc:  # noqa: BLE001 - any gate failure means "do not post"
            raise ReplyRefused(f"{self.key}: the hurtful gate failed ({type(exc).__name__}); "
                               "not posting") from exc
        if score >= self.hurtful_threshold:
            raise ReplyRefused(f"{self.key}: the reply scores {score:.2f} on the hurtful gate "
                               f"(threshold {self.hurtful_threshold:.2f}); not posting")
        return score

    async def reply(self, reply: Reply) -> Posted:
        if reply.network != self.key:
            raise ReplyRefused(f"a reply for {reply.network!r} cannot go out on {self.key}")
        keys = (reply.id, customer_key(reply))
        for key in keys:
            known = self.ledger.get(key)
            if known is not None:
                self._remember(keys, known)
                return known
        if not self._ready:
            await self.setup()
        text = self.reply_text(reply)
        self.gate(text)
        if self.ledger.begin(reply.id):
            found = await self.find_posted(reply, text)
            if found is not None:
                self._remember(keys, found)
                return found
        posted = await self.post(reply, text)
        self._remember(keys, posted)
        return posted

    def _remember(self, keys: Sequence[str], posted: Posted) -> None:
        for key in keys:
            self.ledger.record(key, posted)

    @abc.abstractmethod
    async def post(self, reply: Reply, text: str) -> Posted:
        """Send ``text`` as the reply (idempotently where the network allows)."""

    async def careful(self, send: Callable[[], Awaitable[Posted]],
                      find: Callable[[], Awaitable[Posted | None]]) -> Posted:
        """Send a post that the network cannot de-duplicate: never resent blindly. After a
        retriable failure (timeout, 5xx, 429), look for the post first; wait and resend
        only if it is not there."""
        attempts = int(getattr(self.config, "attempts", 4))
        cap = float(getattr(self.config, "max_wait", 60.0))
        for attempt in range(1, attempts + 1):
            try:
                return await send()
            except RetriableError as exc:
                found = await find()
                if found is not None:
                    return found
                if attempt == attempts:
                    raise
                await asyncio.sleep(min(cap, exc.retry_after if exc.retry_after is not None
                                        else 0.5 * 2 ** attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def find_posted(self, reply: Reply, text: str) -> Posted | None:
        """Our earlier reply to ``reply.in_reply_to`` carrying its link, if the network
        shows one; used only when an attempt was left in doubt."""
        return None


def now() -> float:
    return time.time()
