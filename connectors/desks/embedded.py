"""The embedded desk: tickets in a local SQLite file, the router's default.

It lets the whole loop run on one machine with nothing else installed, and is a fair desk in
its own right for a small team: tickets, public replies and internal notes, statuses,
external ids (unique, so a retry never opens a second ticket), parent links and a change log
that ``changes_since`` reads. ``router desk list`` and ``router desk solve`` work on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from connectors.errors import FatalError

from .base import (
    DONE_STATUSES,
    STATUSES,
    ChangePage,
    CommentBody,
    Desk,
    DeskConfig,
    Ticket,
    TicketChange,
    TicketDraft,
)
from .render import render, ticket_document

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
"""


class EmbeddedConfig(DeskConfig):
    model_config = SettingsConfigDict(env_prefix="ROUTER_EMBEDDED_DESK_", frozen=True,
                                      extra="ignore")

    path: Path = Field(Path("var/desk.sqlite"), description="The desk's SQLite file.")
    url: str = Field("http://127.0.0.1:6066/desk/tickets/{id}",
                     description="Link to a ticket; {id} is replaced.")


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

    def __init__(self, config: DeskConfig | None = None, client: Any = None) -> None:
        super().__init__(config, client)
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def cfg(self) -> EmbeddedConfig:
        assert isinstance(self.config, EmbeddedConfig)
        return self.config

    # -- plumbing -------------------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        """Open (and create) the SQLite file; safe to call more than once."""
        if self._db is None:
            self.cfg.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.cfg.path, timeout=10.0, isolation_level=None,
                                 check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=10000")
            db.executescript(SCHEMA)
            self._db = db
        return self._db

    async def setup(self) -> None:
        try:
            self.connect()
        except (sqlite3.Error, OSError) as exc:
            raise FatalError(
                f"cannot open the embedded desk at {self.cfg.path}: {exc}; "
                "set ROUTER_EMBEDDED_DESK_PATH to a writable file"
            ) from exc

    async def aclose(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def ticket_url(self, ticket_id: str) -> str:
        """The ticket's status page, with a key so that ticket numbers cannot be guessed."""
        return f"{self.cfg.url.replace('{id}', str(ticket_id))}?k={self.page_key(ticket_id)}"

    def page_key(self, ticket_id: str) -> str:
        """The key of a ticket's status page (HMAC of its id with this desk's own secret)."""
        db = self.connect()
        row = db.execute("SELECT value FROM meta WHERE name = 'page_secret'").fetchone()
        if row is None:
            db.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('page_secret', ?)",
                       (secrets.token_hex(32),))
            row = db.execute("SELECT value FROM meta WHERE name = 'page_secret'").fetchone()
        mac = hmac.new(bytes.fromhex(row["value"]), str(ticket_id).encode(), hashlib.sha256)
        return mac.hexdigest()[:24]

    def _ticket(self, row: sqlite3.Row) -> Ticket:
        return Ticket(id=str(row["id"]), url=self.ticket_url(str(row["id"])),
                      status=row["status"], external_id=row["external_id"],
                      requester=row["requester"], subject=row["subject"])

    # -- the Desk verbs -------------------------------------------------------------------
    async def find_by_external_id(self, external_id: str) -> Ticket | None:
        row = self.connect().execute(
            "SELECT * FROM tickets WHERE external_id = ?", (external_id,)).fetchone()
        return self._ticket(row) if row else None

    async def find_open_for_requester(self, handle: str, network: str) -> Ticket | None:
        row = self.connect().execute(
            "SELECT * FROM tickets WHERE requester = ? AND status NOT IN ('solved', 'closed') "
            "ORDER BY id DESC LIMIT 1", (requester_of(network, handle),)).fetchone()
        return self._ticket(row) if row else None

    async def open(self, draft: TicketDraft) -> Ticket:
        db = self.connect()
        now = time.time()
        async with self._lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT * FROM tickets WHERE external_id = ?",
                                 (draft.external_id,)).fetchone()
                if row is None:
                    cur = db.execute(
                        "INSERT INTO tickets (external_id, subject, body, status, requester, "
                        "network, priority, tags, created_at, updated_at) "
                        "VALUES (?, ?, ?, 'new', ?, ?, ?, ?, ?, ?)",
                        (draft.external_id, draft.subject, render_plain(draft),
                         requester_of(draft.mention.network, draft.mention.author.handle),
                         draft.mention.network, draft.priority, json.dumps(list(draft.tags)),
                         now, now),
                    )
                    db.execute("INSERT INTO changes (ticket_id, status, at) VALUES (?, ?, ?)",
                               (cur.lastrowid, "new", now))
                    row = db.execute("SELECT * FROM tickets WHERE id = ?",
                                     (cur.lastrowid,)).fetchone()
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return self._ticket(row)

    async def comment(self, ticket_id: str, body: CommentBody, *, public: bool,
                      idempotency_key: str) -> None:
        db = self.connect()
        self._require(ticket_id)
        db.execute(
            "INSERT OR IGNORE INTO comments (ticket_id, body, public, idempotency_key, "
            "created_at) VALUES (?, ?, ?, ?, ?)",
            (int(ticket_id), body.text, int(public), idempotency_key, time.time()),
        )

    async def status(self, ticket_id: str) -> str:
        return str(self._require(ticket_id)["status"])

    async def link(self, child_id: str, parent_id: str) -> None:
        self._require(child_id)
        self._require(parent_id)
        self.connect().execute("UPDATE tickets SET parent_id = ? WHERE id = ?",
                               (int(parent_id), int(child_id)))

    async def changes_since(self, checkpoint: str | None) -> ChangePage:
        after = int(checkpoint or 0)
        rows = self.connect().execute(
            "SELECT c.seq, c.ticket_id, c.status, c.at, t.external_id FROM changes c "
            "JOIN tickets t ON t.id = c.ticket_id WHERE c.seq > ? ORDER BY c.seq LIMIT 500",
            (after,)).fetchall()
        changes = [TicketChange(ticket_id=str(r["ticket_id"]), status=r["status"],
                                url=self.ticket_url(str(r["ticket_id"])),
                                external_id=r["external_id"], changed_at=str(r["at"]))
                   for r in rows]
        return ChangePage(changes, str(rows[-1]["seq"]) if rows else checkpoint)

    # -- what agents (and the CLI) do -----------------------------------------------------
    def set_status(self, ticket_id: str, status: str) -> Ticket:
        """Change a ticket's status as an agent would, recording the change."""
        if status not in STATUSES:
            raise FatalError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
        self._require(ticket_id)
        db = self.connect()
        now = time.time()
        db.execute("UPDATE tickets SET status = ?, updated_at = ? WHERE id = ?",
                   (status, now, int(ticket_id)))
        db.execute("INSERT INTO changes (ticket_id, status, at) VALUES (?, ?, ?)",
                   (int(ticket_id), status, now))
        return self._ticket(self._require(ticket_id))

    def solve(self, ticket_id: str, status: str = "solved") -> list[Ticket]:
        """Solve a ticket and, for a problem ticket, its incidents (as Zendesk does).

        Returns every ticket whose status changed, the problem first."""
        changed = [self.set_status(ticket_id, status)]
        children = self.connect().execute(
            "SELECT id FROM tickets WHERE parent_id = ? AND status NOT IN ('solved', 'closed')",
            (int(ticket_id),)).fetchall()
        changed += [self.set_status(str(r["id"]), status) for r in children]
        return changed

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
        rows = self.connect().execute(sql + " ORDER BY t.id", args).fetchall()
        return [dict(r) for r in rows]

    def comments(self, ticket_id: str) -> list[dict[str, Any]]:
        rows = self.connect().execute(
            "SELECT * FROM comments WHERE ticket_id = ? ORDER BY id", (int(ticket_id),))
        return [dict(r) for r in rows.fetchall()]

    def _require(self, ticket_id: str) -> sqlite3.Row:
        try:
            key = int(ticket_id)
        except (TypeError, ValueError):
            raise FatalError(f"no ticket {ticket_id!r} in the embedded desk") from None
        row = self.connect().execute("SELECT * FROM tickets WHERE id = ?", (key,)).fetchone()
        if row is None:
            raise FatalError(f"no ticket {ticket_id!r} in the embedded desk")
        return row  # type: ignore[no-any-return]


__all__ = ["EmbeddedDesk", "EmbeddedConfig", "DONE_STATUSES"]
