"""What the SaaS desk connectors share: settings, a local record, and idempotent verbs.

``SaasDesk`` implements ``open()`` and ``comment()`` once, on top of four small hooks each
desk writes (``_lookup``, ``_create``, ``_comment_exists``, ``_post_comment``)::

    open(draft)                                    comment(ticket, body, key)
      one at a time per external id                  one at a time per key
      local record says done? -> that ticket         local record says done? -> nothing
      desk lookup finds it?   -> record, return      desk shows the comment? -> record
      a create may be in flight and the desk's       post it once (no blind HTTP retry)
        search lags? -> RetriableError(settle)       record it
      claim, create once (no blind HTTP retry),
        record the ticket id

A create is never retried blindly: after a timeout or a 5xx the next attempt starts with the
lookup again (and, where the desk supports it, the same vendor idempotency key), so a retry
storm cannot open a second ticket. ``Ledger`` is the local record (SQLite, one small file
shared by the desks, or ``:memory:``); it survives restarts and covers desks whose search
is eventually consistent (Jira, GitHub, Zammad, Help Scout, Freshdesk). A desk whose search
reads what it writes may keep none (``open_ledger`` returns a ``NoLedger``: Request Tracker).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import Field, SecretStr

from vocab.redact import secret_values

from ..errors import ConfigError, FatalError, RetriableError
from ..http import HttpApi, retry_step
from .base import CommentBody, Desk, DeskConfig, Ticket, TicketDraft
from .render import comment_document, render, ticket_document

log = logging.getLogger(__name__)

T = TypeVar("T")


class SaasConfig(DeskConfig):
    """Settings every SaaS desk has (each desk adds its own and sets its env prefix)."""

    timeout_seconds: float = Field(10.0, gt=0, description="HTTP timeout per request.")
    max_attempts: int = Field(
        5, ge=1, le=20, description="Attempts of one verb through 429/5xx/timeouts.")
    max_elapsed_seconds: float = Field(
        60.0, gt=0, description="Give up retrying one verb after this long.")
    backoff_initial: float = Field(
        0.5, gt=0, description="First backoff (seconds) when the desk gives no Retry-After.")
    backoff_max: float = Field(
        30.0, gt=0, description="Longest single wait, Retry-After included.")
    rate_per_minute: float = Field(
        0.0, ge=0, description="Client-side request budget per minute (0: the desk's "
        "documented limit where it has one).")
    state_path: Path = Field(
        Path("var/desk-state.sqlite"),
        description="Local record of tickets and comments made (SQLite; ':memory:' for "
        "tests). Keeps open() idempotent where the desk's search lags.")
    settle_seconds: float = Field(
        30.0, ge=0, description="After an unanswered create, how long to wait for the "
        "desk's search to show it before creating again.")


@dataclass(frozen=True)
class Entry:
    value: str
    state: str  # "pending" | "done"
    at: float


class Ledger:
    """A small local record: (desk, kind, key) -> value, pending or done."""

    def __init__(self, path: str | Path, desk: str, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.desk = desk
        self.clock = clock
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._mutex = threading.Lock()
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS desk_records (desk TEXT, kind TEXT, key TEXT, "
            "value TEXT, state TEXT, at REAL, PRIMARY KEY (desk, kind, key))")

    def get(self, kind: str, key: str) -> Entry | None:
        with self._mutex:
            row = self._db.execute(
                "SELECT value, state, at FROM desk_records WHERE desk=? AND kind=? AND key=?",
                (self.desk, kind, key)).fetchone()
        return Entry(row[0], row[1], row[2]) if row else None

    def _put(self, kind: str, key: str, value: str, state: str) -> None:
        with self._mutex:
            self._db.execute(
                "INSERT OR REPLACE INTO desk_records VALUES (?, ?, ?, ?, ?, ?)",
                (self.desk, kind, key, value, state, self.clock()))

    def claim(self, kind: str, key: str, value: str = "") -> None:
        self._put(kind, key, value, "pending")

    def done(self, kind: str, key: str, value: str) -> None:
        self._put(kind, key, value, "done")

    def release(self, kind: str, key: str) -> None:
        with self._mutex:
            self._db.execute("DELETE FROM desk_records WHERE desk=? AND kind=? AND key=? "
                             "AND state='pending'", (self.desk, kind, key))

    def close(self) -> None:
        with self._mutex:
            self._db.close()


class NoLedger(Ledger):
    """No local record: for a desk whose search reads what it writes, the lookup before a
    create is the record (nothing is ever found here, nothing is kept)."""

    def __init__(self, desk: str = "", *, clock: Callable[[], float] = time.time) -> None:
        self.desk = desk
        self.clock = clock

    def get(self, kind: str, key: str) -> Entry | None:
        return None

    def _put(self, kind: str, key: str, value: str, state: str) -> None:
        pass

    def release(self, kind: str, key: str) -> None:
        pass

    def close(self) -> None:
        pass


def requester_key(handle: str, network: str) -> str:
    """How a social customer is identified in a desk: ``network:handle`` (lower case)."""
    return f"{network}:{handle.lstrip('@')}".lower()


class SaasDesk(Desk):
    """Base of the HTTP desks: setup, retries, the local record and idempotent verbs."""

    #: True where the desk's search is eventually consistent (settle before re-creating).
    search_lags: ClassVar[bool] = False
    #: The vendor's documented request budget per minute, kept by the client-side limiter
    #: when ``rate_per_minute`` is 0 (None: the vendor documents no fixed budget; its
    #: rate-limit headers and 429s are still honoured).
    documented_rate: ClassVar[float | None] = None
    statuses: ClassVar[Mapping[str, str]] = {}

    def __init__(self, config: DeskConfig | None = None,
                 client: httpx.AsyncClient | None = None, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 ledger: Ledger | None = None) -> None:
        super().__init__(config, client)
        self._transport = transport
        self._ledger = ledger
        self._api: HttpApi | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def cfg(self) -> Any:
        return self.config

    # --- settings and setup ---------------------------------------------------------------

    def env_name(self, field: str) -> str:
        prefix = str(self.Config.model_config.get("env_prefix", "")).upper()
        return f"{prefix}{field.upper()}"

    def require(self, *fields: str) -> None:
        """ConfigError naming the env var of the first empty required field."""
        for name in fields:
            value: Any = getattr(self.config, name, None)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value in (None, "", 0):
                raise ConfigError(f"{self.key}: {name} is not set; set {self.env_name(name)}")

    def check_config(self) -> None:
        """Raise ConfigError (naming the env var) when a setting is missing or wrong."""

    def client_options(self) -> dict[str, Any]:
        """``base_url``, ``auth``, ``headers`` for the client this desk builds in setup()."""
        return {}

    async def setup(self) -> None:
        self._build()

    def _build(self) -> None:
        """Check the settings; build the client, the API and the local record (no network)."""
        self.check_config()
        if self._client is None:
            options = self.client_options()
            options.setdefault("timeout", httpx.Timeout(self.cfg.timeout_seconds))
            headers = {"User-Agent": "escalation-router", "Accept": "application/json",
                       **options.pop("headers", {})}
            self._client = httpx.AsyncClient(transport=self._transport, headers=headers,
                                             **options)
        self._api = HttpApi(
            self._client, name=self.key,
            rate=self.cfg.rate_per_minute or self.documented_rate, per_seconds=60.0,
            attempts=self.cfg.max_attempts, max_elapsed=self.cfg.max_elapsed_seconds,
            backoff_initial=self.cfg.backoff_initial, backoff_max=self.cfg.backoff_max,
            jitter=self.backoff_jitter(), secrets=secret_values(self.config))
        if self._ledger is None:
            self._ledger = self.open_ledger()

    def backoff_jitter(self) -> float:
        """Most random seconds added to a backoff between two tries of one request."""
        return float(min(1.0, self.cfg.backoff_initial))

    def open_ledger(self) -> Ledger:
        """The local record of tickets and comments made (``NoLedger`` to keep none)."""
        return Ledger(self.cfg.state_path, self.key)

    async def _ready(self) -> None:
        if self._api is None:
            await self.setup()

    @property
    def api(self) -> HttpApi:
        if self._api is None:
            raise ConfigError(f"{self.key}: call setup() before using the desk")
        return self._api

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            raise ConfigError(f"{self.key}: call setup() before using the desk")
        return self._ledger

    async def aclose(self) -> None:
        await super().aclose()
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
        self._api = None

    # --- retries ----------------------------------------------------------------------------

    async def retrying(self, step: Callable[[], Awaitable[T]]) -> T:
        """Run ``step`` again after RetriableError, honouring Retry-After, bounded."""
        return await retry_step(step, attempts=self.cfg.max_attempts,
                                max_elapsed=self.cfg.max_elapsed_seconds,
                                backoff_initial=self.cfg.backoff_initial,
                                backoff_max=self.cfg.backoff_max, what=self.key)

    def _lock(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = asyncio.Lock()
        return lock

    # --- bodies ---------------------------------------------------------------------------

    def ticket_body(self, draft: TicketDraft) -> Any:
        return render(ticket_document(draft), self.body_format)

    def comment_body(self, body: CommentBody) -> Any:
        return render(comment_document(body), self.body_format)

    def map_status(self, raw: object) -> str:
        return self.statuses.get(str(raw).strip().lower(), "open")

    # --- the idempotent verbs ---------------------------------------------------------------

    async def find_by_external_id(self, external_id: str) -> Ticket | None:
        await self._ready()
        entry = self.ledger.get("ticket", external_id)
        if entry is not None and entry.state == "done":
            return await self.get(entry.value)
        return await self._lookup(external_id)

    async def open(self, draft: TicketDraft) -> Ticket:
        await self._ready()
        async with self._lock(f"open:{draft.external_id}"):
            return await self.retrying(lambda: self._open_once(draft))

    async def _open_once(self, draft: TicketDraft) -> Ticket:
        ext = draft.external_id
        entry = self.ledger.get("ticket", ext)
        if entry is not None and entry.state == "done":
            return Ticket(id=entry.value, url=self.ticket_url(entry.value), status="open",
                          external_id=ext, subject=draft.subject)
        found = await self._lookup(ext)
        if found is not None:
            self.ledger.done("ticket", ext, found.id)
            return found
        if entry is not None and self.search_lags:
            age = self.ledger.clock() - entry.at
            if age < self.cfg.settle_seconds:
                raise RetriableError(
                    f"{self.key}: a ticket for this case may exist and not be searchable "
                    "yet; waiting before creating", retry_after=self.cfg.settle_seconds - age)
        self.ledger.claim("ticket", ext)
        try:
            ticket = await self._create(draft)
        except FatalError:
            self.ledger.release("ticket", ext)
            raise
        except RetriableError as exc:
            if exc.status_code == 429:  # refused before processing: nothing was created
                self.ledger.release("ticket", ext)
            raise
        self.ledger.done("ticket", ext, ticket.id)
        return ticket

    async def comment(self, ticket_id: str, body: CommentBody, *, public: bool,
                      idempotency_key: str) -> None:
        await self._ready()
        key = f"{ticket_id}:{idempotency_key}"
        async with self._lock(f"comment:{key}"):
            entry = self.ledger.get("comment", key)
            if entry is not None and entry.state == "done":
                return

            async def once() -> None:
                if await self._comment_exists(ticket_id, body, public=public,
                                              key=idempotency_key):
                    self.ledger.done("comment", key, ticket_id)
                    return
                self.ledger.claim("comment", key)
                try:
                    await self._post_comment(ticket_id, body, public=public,
                                             key=idempotency_key)
                except FatalError:
                    self.ledger.release("comment", key)
                    raise
                self.ledger.done("comment", key, ticket_id)

            await self.retrying(once)

    # --- what each desk writes ---------------------------------------------------------------

    async def _lookup(self, external_id: str) -> Ticket | None:
        raise NotImplementedError

    async def _create(self, draft: TicketDraft) -> Ticket:
        raise NotImplementedError

    async def _comment_exists(self, ticket_id: str, body: CommentBody, *, public: bool,
                              key: str) -> bool:
        raise NotImplementedError

    async def _post_comment(self, ticket_id: str, body: CommentBody, *, public: bool,
                            key: str) -> None:
        raise NotImplementedError


def same_text(a: str, b: str) -> bool:
    """Whether two bodies say the same thing once markup and spacing are ignored."""
    return _normalize(a) == _normalize(b)


def _normalize(text: str) -> str:
    import html as _html
    import re

    text = re.sub(r"<[^>]+>", " ", text or "")
    return " ".join(_html.unescape(text).split())
