"""The embedded desk: tickets in a local SQLite file, the router's default.

It lets the whole loop run on one machine with nothing else installed, and is a fair desk in
its own right for a small team: tickets, public replies and internal notes, statuses,
external ids (unique, so a retry never opens a second ticket), parent links and a change log
that ``changes_since`` reads. ``router desk list`` and ``router desk solve`` work on it.

An agent's judgement is a tag: ``router desk tag ID not-actionable`` (``feedback_tag``,
``ROUTER_EMBEDDED_DESK_FEEDBACK_TAG``) on a social ticket the router should not have sent.
The desk knows its tickets' tags, so every outbox event (a tag change, a status change)
carries ``not_actionable``: whether the ticket has the tag right then. Outbox rows written
before the column existed (a file from an older version) have it NULL: "did not say".

Every SQLite call of the async verbs runs on the desk's own thread, so a locked file never
blocks the worker's event loop; "database is locked" is a ``RetriableError``. A status change
an agent makes is written with its pending ticket event in the ``outbox`` table, in one
transaction; the CLI (when Kafka is up) or the worker sends the events from there, so a
solved ticket always produces its event. Texts are stored as valid UTF-8: a lone surrogate
(JSON ``"\\ud800"``) becomes U+FFFD.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from connectors.errors import FatalError, RetriableError
from vocab.records import Mention

from .base import (
    DONE_STATUSES,
    STATUSES,
    ChangePage,
    CommentBody,
    Desk,
    DeskConfig,
    PublicUpdate,
    PublicView,
    Ticket,
    TicketChange,
    TicketDraft,
    marked,
)
from .render import comment_document, render, ticket_document

SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id TEXT UNIQUE,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new',
    requester TEXT,
    network TEXT,
    priority TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    parent_id INTEGER REFERENCES tickets(id),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tickets_requester ON tickets(requester, status);
CREATE TABLE IF NOT EXISTS comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    body TEXT NOT NULL,
    public INTEGER NOT NULL,
    idempotency_key TEXT UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    status TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    status TEXT NOT NULL,
    at REAL NOT NULL,
    sent_at REAL,
    not_actionable INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(sent_at, seq);
"""

T = TypeVar("T")
SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(value: Any) -> Any:
    """A text SQLite can store: lone surrogates (not UTF-8) become U+FFFD."""
    return SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value


def _params(args: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(valid_text(a) for a in args)


def migrate(db: sqlite3.Connection) -> None:
    """Bring a file made by an older version up to ``SCHEMA`` (inside the caller's
    transaction): the outbox's ``not_actionable`` column (NULL in the rows already there)."""
    columns = {r[1] for r in db.execute("PRAGMA table_info(outbox)")}
    if "not_actionable" not in columns:
        db.execute("ALTER TABLE outbox ADD COLUMN not_actionable INTEGER")


class EmbeddedConfig(DeskConfig):
    model_config = SettingsConfigDict(env_prefix="ROUTER_EMBEDDED_DESK_", frozen=True,
                                      extra="ignore")

    path: Path = Field(Path("var/desk.sqlite"), description="The desk's SQLite file.")
    url: str = Field("http://127.0.0.1:6066/desk/tickets/{id}",
                     description="Link to a ticket; {id} is replaced.")
    busy_timeout_seconds: float = Field(
        10.0, ge=0, le=600, description="How long one call waits for another process's "
        "lock on the file before giving up for now (the decision is tried again later).")


def render_plain(draft: TicketDraft) -> str:
    """The ticket body as plain text (what the embedded desk stores)."""
    return str(render(ticket_document(draft), "plain"))


def requester_of(network: str, handle: str) -> str:
    return f"{network}:@{handle.lower().lstrip('@')}"


class EmbeddedDesk(Desk):
    """Tickets in a local SQLite file."""

    key = "embedded"
    title = "Embedded desk (SQLite)"
    Config = EmbeddedConfig
    body_format = "plain"
    events = "local"

    def __init__(self, config: DeskConfig | None = None, client: Any = None, *,
                 create: bool = True) -> None:
        super().__init__(config, client)
        self.create = create  # False: only open an existing desk (the CLI never makes one)
        self._db: sqlite3.Connection | None = None
        self._page_secret: bytes | None = None
        self._thread: ThreadPoolExecutor | None = None

    @property
    def cfg(self) -> EmbeddedConfig:
        assert isinstance(self.config, EmbeddedConfig)
        return self.config

    # -- plumbing -------------------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        """Open (and, unless ``create`` is off, create) the SQLite file; safe to repeat."""
        if self._db is None:
            path = self.cfg.path
            if self.create:
                path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(path, timeout=self.cfg.busy_timeout_seconds,
                                     isolation_level=None, check_same_thread=False)
            else:
                if not path.is_file():
                    raise FatalError(f"no embedded desk at {path}: set "
                                     "ROUTER_EMBEDDED_DESK_PATH to the desk's file (the "
                                     "worker creates it when it first starts)")
                db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True,
                                     timeout=self.cfg.busy_timeout_seconds,
                                     isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA busy_timeout={int(self.cfg.busy_timeout_seconds * 1000)}")
            db.execute("PRAGMA journal_mode=WAL")
            # one transaction: another process opening the file meanwhile sees all of the
            # schema or none of it (it once saw "tickets" without "comments")
            db.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA}")
            try:
                migrate(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            self._db = db
        return self._db

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a synchronous desk call on the desk's own thread (never on the event loop);
        a locked or busy file is a ``RetriableError``."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-desk")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, lambda: fn(*args))
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise RetriableError(f"the embedded desk at {self.cfg.path} is locked by "
                                     f"another process: {exc}") from exc
            raise FatalError(f"the embedded desk at {self.cfg.path} failed: {exc}") from exc
        except sqlite3.Error as exc:
            raise FatalError(f"the embedded desk at {self.cfg.path} failed: {exc}") from exc

    def _setup_sync(self) -> None:
        self.connect()
        self.page_key("0")  # reads (or makes) the page secret once, so links need no I/O

    async def setup(self) -> None:
        try:
            await self.run(self._setup_sync)
        except (sqlite3.Error, OSError, RetriableError) as exc:
            raise FatalError(
                f"cannot open the embedded desk at {self.cfg.path}: {exc}; "
                "set ROUTER_EMBEDDED_DESK_PATH to a writable file"
            ) from exc

    async def aclose(self) -> None:
        if self._thread is None:
            self._close_sync()
            return
        await self.run(self._close_sync)
        self._thread.shutdown(wait=True)
        self._thread = None

    def _close_sync(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _exec(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        return self.connect().execute(sql, _params(args))

    def _transaction(self, work: Callable[[], T]) -> T:
        """``work`` in one write transaction (all of it, or none of it)."""
        db = self.connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            result = work()
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    def ticket_url(self, ticket_id: str) -> str:
        """The ticket's status page, with a key so that ticket numbers cannot be guessed."""
        return f"{self.cfg.url.replace('{id}', str(ticket_id))}?k={self.page_key(ticket_id)}"

    def page_key(self, ticket_id: str) -> str:
        """The key of a ticket's status page (HMAC of its id with this desk's own secret)."""
        if self._page_secret is None:
            row = self._exec("SELECT value FROM meta WHERE name = 'page_secret'").fetchone()
            if row is None:
                self._exec("INSERT OR IGNORE INTO meta (name, value) VALUES ('page_secret', ?)",
                           (secrets.token_hex(32),))
                row = self._exec("SELECT value FROM meta WHERE name = 'page_secret'").fetchone()
            self._page_secret = bytes.fromhex(row["value"])
        mac = hmac.new(self._page_secret, str(ticket_id).encode(), hashlib.sha256)
        return mac.hexdigest()[:24]

    def _ticket(self, row: sqlite3.Row) -> Ticket:
        return Ticket(id=str(row["id"]), url=self.ticket_url(str(row["id"])),
                      status=row["status"], external_id=row["external_id"],
                      requester=row["requester"], subject=row["subject"])

    # -- the Desk verbs -------------------------------------------------------------------
    async def find_by_external_id(self, external_id: str) -> Ticket | None:
        return await self.run(self._find_by_external_id, external_id)

    def _find_by_external_id(self, external_id: str) -> Ticket | None:
        row = self._exec("SELECT * FROM tickets WHERE external_id = ?",
                         (external_id,)).fetchone()
        return self._ticket(row) if row else None

    async def find_open_for_requester(self, handle: str, network: str) -> Ticket | None:
        return await self.run(self._find_open_for_requester, handle, network)

    def _find_open_for_requester(self, handle: str, network: str) -> Ticket | None:
        row = self._exec(
            "SELECT * FROM tickets WHERE requester = ? AND status NOT IN ('solved', 'closed') "
            "ORDER BY id DESC LIMIT 1", (requester_of(network, handle),)).fetchone()
        return self._ticket(row) if row else None

    async def open(self, draft: TicketDraft) -> Ticket:
        return await self.run(self._open, draft)

    def _open(self, draft: TicketDraft) -> Ticket:
        def work() -> sqlite3.Row:
            now = time.time()
            row = self._exec("SELECT * FROM tickets WHERE external_id = ?",
                             (draft.external_id,)).fetchone()
            if row is None:
                cur = self._exec(
                    "INSERT INTO tickets (external_id, subject, body, status, requester, "
                    "network, priority, tags, created_at, updated_at) "
                    "VALUES (?, ?, ?, 'new', ?, ?, ?, ?, ?, ?)",
                    (draft.external_id, draft.subject, render_plain(draft),
                     requester_of(draft.mention.network, draft.mention.author.handle),
                     draft.mention.network, draft.priority,
                     json.dumps(list(draft.tags), ensure_ascii=False), now, now),
                )
                self._exec("INSERT INTO changes (ticket_id, status, at) VALUES (?, ?, ?)",
                           (cur.lastrowid, "new", now))
                row = self._exec("SELECT * FROM tickets WHERE id = ?",
                                 (cur.lastrowid,)).fetchone()
            return row  # type: ignore[no-any-return]

        return self._ticket(self._transaction(work))

    async def comment(self, ticket_id: str, body: CommentBody, *, public: bool,
                      idempotency_key: str) -> None:
        await self.run(self._comment, ticket_id, body, public, idempotency_key)

    def _comment(self, ticket_id: str, body: CommentBody, public: bool,
                 idempotency_key: str) -> None:
        self._require(ticket_id)
        self._exec(
            "INSERT OR IGNORE INTO comments (ticket_id, body, public, idempotency_key, "
            "created_at) VALUES (?, ?, ?, ?, ?)",
            (int(ticket_id), body.text, int(public), idempotency_key, time.time()),
        )

    async def status(self, ticket_id: str) -> str:
        return str((await self.run(self._require, ticket_id))["status"])

    async def link(self, child_id: str, parent_id: str) -> None:
        await self.run(self._link, child_id, parent_id)

    def _link(self, child_id: str, parent_id: str) -> None:
        self._require(child_id)
        self._require(parent_id)
        self._exec("UPDATE tickets SET parent_id = ? WHERE id = ?",
                   (int(parent_id), int(child_id)))

    async def changes_since(self, checkpoint: str | None) -> ChangePage:
        return await self.run(self._changes_since, checkpoint)

    def _changes_since(self, checkpoint: str | None) -> ChangePage:
        after = int(checkpoint or 0)
        rows = self._exec(
            "SELECT c.seq, c.ticket_id, c.status, c.at, t.external_id FROM changes c "
            "JOIN tickets t ON t.id = c.ticket_id WHERE c.seq > ? ORDER BY c.seq LIMIT 500",
            (after,)).fetchall()
        changes = [TicketChange(ticket_id=str(r["ticket_id"]), status=r["status"],
                                url=self.ticket_url(str(r["ticket_id"])),
                                external_id=r["external_id"], changed_at=str(r["at"]))
                   for r in rows]
        return ChangePage(changes, str(rows[-1]["seq"]) if rows else checkpoint)

    async def reopen(self, ticket_id: str) -> bool:
        """Reopen a solved or closed ticket (a new request joined it)."""
        await self.run(self.set_status, ticket_id, "open")
        return True

    async def public_view(self, ticket_id: str, key: str) -> PublicView | None:
        """The status page's content, for the right page key only (no internal note)."""
        if not ticket_id.isdigit() or not hmac.compare_digest(
                key.encode("utf-8", "surrogateescape"), self.page_key(ticket_id).encode()):
            return None
        return await self.run(self._public_view, ticket_id)

    def _public_view(self, ticket_id: str) -> PublicView | None:
        row = self._exec("SELECT status, updated_at FROM tickets WHERE id = ?",
                         (int(ticket_id),)).fetchone()
        if row is None:
            return None
        updates = [PublicUpdate(body=str(c["body"]), at=c["created_at"])
                   for c in self.comments(ticket_id) if c["public"]]
        return PublicView(ticket_id=ticket_id, status=row["status"],
                          updated_at=row["updated_at"], updates=updates)

    async def pending_events(self, limit: int = 500) -> list[dict[str, Any]]:
        return await self.run(self.outbox_rows, limit)

    async def mark_sent(self, seqs: Sequence[int]) -> None:
        await self.run(self.outbox_sent, seqs)

    # -- what agents (and the CLI) do: synchronous, on the caller's thread -----------------
    def set_status(self, ticket_id: str, status: str) -> Ticket:
        """Change a ticket's status as an agent would: the change and its pending ticket
        event (in the outbox) are written together."""
        return self._transaction(lambda: self._set_status(ticket_id, status))

    def _set_status(self, ticket_id: str, status: str) -> Ticket:
        if status not in STATUSES:
            raise FatalError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
        self._require(ticket_id)
        now = time.time()
        self._exec("UPDATE tickets SET status = ?, updated_at = ? WHERE id = ?",
                   (status, now, int(ticket_id)))
        self._exec("INSERT INTO changes (ticket_id, status, at) VALUES (?, ?, ?)",
                   (int(ticket_id), status, now))
        self._outbox(ticket_id)
        return self._ticket(self._require(ticket_id))

    def _outbox(self, ticket_id: str) -> None:
        """The pending ticket event of a change just made to the ticket: its status now, and
        whether it carries the feedback tag now."""
        row = self._require(ticket_id)
        mark = marked(self.tags_of(row), self.feedback_tag)
        self._exec("INSERT INTO outbox (ticket_id, status, at, not_actionable) "
                   "VALUES (?, ?, ?, ?)", (int(ticket_id), row["status"], time.time(), mark))

    @staticmethod
    def tags_of(row: Mapping[str, Any] | sqlite3.Row) -> list[str]:
        """A ticket row's tags (its JSON column read; unreadable: none)."""
        try:
            tags = json.loads(row["tags"] or "[]")
        except ValueError:
            return []
        return [str(t) for t in tags] if isinstance(tags, list) else []

    def tag(self, ticket_id: str, tag: str, *, remove: bool = False) -> bool:
        """Put ``tag`` on a ticket (or take it off) as an agent would; with the change, in
        one transaction, a pending ticket event saying the ticket's status and whether it
        carries the feedback tag. False when the ticket already was so (nothing written)."""
        tag = valid_text(" ".join(tag.split()))
        if not tag:
            raise FatalError("give a tag (e.g. not-actionable)")

        def work() -> bool:
            row = self._require(ticket_id)
            tags = self.tags_of(row)
            same = [t for t in tags if t.casefold() == tag.casefold()]
            if bool(same) != remove:
                return False
            kept = [t for t in tags if t not in same] if remove else [*tags, tag]
            self._exec("UPDATE tickets SET tags = ?, updated_at = ? WHERE id = ?",
                       (json.dumps(kept, ensure_ascii=False), time.time(), int(ticket_id)))
            self._outbox(ticket_id)
            return True

        return self._transaction(work)

    def solve(self, ticket_id: str, status: str = "solved") -> list[Ticket]:
        """Solve a ticket and, for a problem ticket, its incidents (as Zendesk does), in one
        transaction with their pending events.

        Returns every ticket whose status changed, the problem first."""
        def work() -> list[Ticket]:
            changed = [self._set_status(ticket_id, status)]
            children = self._exec(
                "SELECT id FROM tickets WHERE parent_id = ? AND status NOT IN "
                "('solved', 'closed')", (int(ticket_id),)).fetchall()
            changed += [self._set_status(str(r["id"]), status) for r in children]
            return changed

        return self._transaction(work)

    def move(self, ticket_id: str, mention: Mention, *, to: str | None) -> Ticket:
        """Move a mention the router put on ``ticket_id`` onto ticket ``to``, or (``to`` is
        None) onto a new ticket for its author (external id ``moved:<ref>``), as an agent
        would: the new ticket or a note with the mention on the target, and a note on the
        source saying where it went, in one transaction. Safe to repeat: a second move finds
        the same new ticket and adds no note twice. Returns the target.

        Telling the router (the mention's link to the target, a "support could help" label)
        is the caller's: the desk knows no Kafka."""
        ref = mention.ref

        def work() -> Ticket:
            source = self._require(ticket_id)
            now = time.time()
            moved = CommentBody(text=f"Moved here from ticket #{ticket_id} by an agent.",
                                mention=mention)
            if to is None:
                target = self._exec("SELECT * FROM tickets WHERE external_id = ?",
                                    (f"moved:{ref}",)).fetchone()
                if target is None:
                    a = mention.author
                    cur = self._exec(
                        "INSERT INTO tickets (external_id, subject, body, status, requester, "
                        "network, priority, tags, created_at, updated_at) "
                        "VALUES (?, ?, ?, 'new', ?, ?, ?, ?, ?, ?)",
                        (f"moved:{ref}", f"@{a.handle} on {mention.network} (moved from "
                         f"#{ticket_id})", render(comment_document(moved), "plain"),
                         requester_of(mention.network, a.handle), mention.network,
                         source["priority"], json.dumps(self.tags_of(source),
                                                        ensure_ascii=False), now, now))
                    self._exec("INSERT INTO changes (ticket_id, status, at) VALUES (?, ?, ?)",
                               (cur.lastrowid, "new", now))
                    target = self._require(str(cur.lastrowid))
            else:
                target = self._require(to)
                if target["id"] == source["id"]:
                    raise FatalError(f"ticket #{ticket_id} is the one the mention is on: "
                                     "move it to another ticket (--to OTHER) or a new one")
                self._comment(str(target["id"]), CommentBody(
                    text=render(comment_document(moved), "plain"), mention=mention), False,
                    f"moved:{ref}:to:{target['id']}")
            self._comment(ticket_id, CommentBody(
                text=f"An agent moved the post {ref} by @{mention.author.handle} to ticket "
                     f"#{target['id']}."), False, f"moved:{ref}:from:{ticket_id}:{target['id']}")
            return self._ticket(target)

        return self._transaction(work)

    def unknown_ids(self, ticket_ids: Sequence[str]) -> list[str]:
        """The ids among these that name no ticket of this desk."""
        bad = []
        for tid in ticket_ids:
            try:
                self._require(tid)
            except FatalError:
                bad.append(tid)
        return bad

    def outbox_rows(self, limit: int = 500) -> list[dict[str, Any]]:
        """Changes whose ticket event is not yet known to be in Kafka, oldest first:
        ``seq``, ``ticket_id``, ``status``, ``url``, ``not_actionable`` (None: not said)."""
        rows = self._exec("SELECT seq, ticket_id, status, not_actionable FROM outbox "
                          "WHERE sent_at IS NULL ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [{"seq": r["seq"], "ticket_id": str(r["ticket_id"]), "status": r["status"],
                 "url": self.ticket_url(str(r["ticket_id"])),
                 "not_actionable": None if r["not_actionable"] is None
                 else bool(r["not_actionable"])} for r in rows]

    def outbox_sent(self, seqs: Iterable[int]) -> None:
        """These outbox events are in Kafka."""
        now = time.time()
        self._transaction(lambda: [self._exec(
            "UPDATE outbox SET sent_at = ? WHERE seq = ?", (now, seq)) for seq in seqs])

    def tickets(self, *, status: str | None = None) -> list[dict[str, Any]]:
        """Every ticket with its comment count (newest first), for ``router desk list``."""
        sql = ("SELECT t.*, (SELECT COUNT(*) FROM comments c WHERE c.ticket_id = t.id) "
               "AS comments FROM tickets t")
        args: tuple[Any, ...] = ()
        if status == "done":
            sql += " WHERE t.status IN ('solved', 'closed')"
        elif status == "active":
            sql += " WHERE t.status NOT IN ('solved', 'closed')"
        elif status:
            sql += " WHERE t.status = ?"
            args = (status,)
        rows = self._exec(sql + " ORDER BY t.id", args).fetchall()
        return [dict(r) for r in rows]

    def ticket(self, ticket_id: str) -> dict[str, Any] | None:
        """One ticket whole, as an agent reads it: its fields, tags (a list), the link the
        customer gets, its problem ticket or incidents, and its comments in order."""
        if not str(ticket_id).isdigit():
            return None
        row = self._exec("SELECT * FROM tickets WHERE id = ?", (int(ticket_id),)).fetchone()
        if row is None:
            return None
        found = dict(row)
        found["tags"] = self.tags_of(row)
        found["url"] = self.ticket_url(str(ticket_id))
        found["incidents"] = [r["id"] for r in self._exec(
            "SELECT id FROM tickets WHERE parent_id = ? ORDER BY id", (int(ticket_id),))]
        found["comments"] = self.comments(str(ticket_id))
        return found

    def add_reply(self, ticket_id: str, text: str) -> None:
        """A public update by an agent (``router desk reply``): what the customer's status
        page shows as done."""
        self._require(ticket_id)
        key = f"agent-reply:{ticket_id}:{time.time_ns()}"
        self._transaction(lambda: self._comment(ticket_id, CommentBody(text=valid_text(text)),
                                                True, key))

    def comments(self, ticket_id: str) -> list[dict[str, Any]]:
        rows = self._exec("SELECT * FROM comments WHERE ticket_id = ? ORDER BY id",
                          (int(ticket_id),))
        return [dict(r) for r in rows.fetchall()]

    def _require(self, ticket_id: str) -> sqlite3.Row:
        try:
            key = int(ticket_id)
        except (TypeError, ValueError):
            raise FatalError(f"no ticket {ticket_id!r} in the embedded desk") from None
        row = self._exec("SELECT * FROM tickets WHERE id = ?", (key,)).fetchone()
        if row is None:
            raise FatalError(f"no ticket {ticket_id!r} in the embedded desk")
        return row  # type: ignore[no-any-return]


__all__ = ["EmbeddedDesk", "EmbeddedConfig", "DONE_STATUSES"]
