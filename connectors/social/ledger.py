"""A small local record of the replies already posted, so a retry never posts twice.

A reply client asks the ledger before posting and writes to it after. Keys are the reply's
id and its customer key (network, ticket, customer handle), so the same customer never gets
a second reply for the same ticket even under a new reply id. ``begin`` marks an attempt
under way: if the process dies between the network accepting the post and ``record``, the
next attempt finds the key *in doubt* and the client looks on the network before posting.

``SqliteLedger`` keeps this in one SQLite file (one per worker machine, next to the
worker's state); ``MemoryLedger`` is for tests and for one-process runs.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

from .base import Posted


@runtime_checkable
class ReplyLedger(Protocol):
    """Which replies were posted (and which attempts were started)."""

    def seen(self, reply_id: str) -> bool:
        """True if a reply was recorded under this key."""
        ...

    def get(self, reply_id: str) -> Posted | None:
        """The posted reply recorded under this key, if any."""
        ...

    def begin(self, reply_id: str) -> bool:
        """Mark an attempt started; True if an earlier attempt was started and never
        recorded (it may have been posted)."""
        ...

    def record(self, reply_id: str, posted: Posted) -> None:
        """Remember that this key's reply is on the network as ``posted``."""
        ...


class MemoryLedger:
    """A ledger in memory (lost on restart; tests and single runs)."""

    def __init__(self) -> None:
        self._posted: dict[str, Posted] = {}
        self._begun: set[str] = set()

    def seen(self, reply_id: str) -> bool:
        return reply_id in self._posted

    def get(self, reply_id: str) -> Posted | None:
        return self._posted.get(reply_id)

    def begin(self, reply_id: str) -> bool:
        in_doubt = reply_id in self._begun and reply_id not in self._posted
        self._begun.add(reply_id)
        return in_doubt

    def record(self, reply_id: str, posted: Posted) -> None:
        self._posted[reply_id] = posted


class SqliteLedger:
    """A ledger in one SQLite file; safe across restarts and threads of one process."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, post_id TEXT, "
                "url TEXT, state TEXT NOT NULL, at REAL NOT NULL)"
            )
            self._db = db
        return self._db

    def seen(self, reply_id: str) -> bool:
        return self.get(reply_id) is not None

    def get(self, reply_id: str) -> Posted | None:
        with self._lock:
            row = self._conn().execute(
                "SELECT post_id, url FROM replies WHERE key = ? AND state = 'posted'",
                (reply_id,),
            ).fetchone()
        return Posted(id=row[0], url=row[1] or "") if row else None

    def begin(self, reply_id: str) -> bool:
        with self._lock:
            db = self._conn()
            row = db.execute("SELECT state FROM replies WHERE key = ?", (reply_id,)).fetchone()
            if row is None:
                db.execute("INSERT INTO replies (key, state, at) VALUES (?, 'begun', ?)",
                           (reply_id, time.time()))
                return False
            return bool(row[0] == "begun")

    def record(self, reply_id: str, posted: Posted) -> None:
        with self._lock:
            self._conn().execute(
                "INSERT INTO replies (key, post_id, url, state, at) VALUES (?, ?, ?, 'posted', ?)"
                " ON CONFLICT(key) DO UPDATE SET post_id = excluded.post_id, "
                "url = excluded.url, state = 'posted', at = excluded.at",
                (reply_id, posted.id, posted.url, time.time()),
            )

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
