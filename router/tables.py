"""The router's state, in Faust tables backed by Kafka changelogs.

Each table is written only while handling a message of a topic keyed the same way, so its
changelog partitions line up with the source topic's (same partition count everywhere):

- ``authors`` (triage, keyed by author): the author's cases and latest posts, for links and
  the thread on a ticket, and their latest new text (small: one mention rewrites it whole).
- ``texts`` and ``decided`` (triage, written on the author's partition): each author's
  texts by ``author|hash``, naming the first mention with it and its verdict (an exact
  duplicate names it; its redelivery gets the verdict again), and by ``network:id`` the
  verdict of a mention that repeated a known text. At most one small record per mention
  (the author's latest text rides in their record and moves here when replaced) instead
  of the author's whole history (``Bounded``, per partition). An ``authors`` record of the
  older shape still carries ``decided`` and ``hashes`` itself: triage reads them, and moves
  them here the next time that author writes.
- ``effects`` and ``cases`` (escalate, keyed by author): what was done for each mention, and
  the desk ticket of each case; they make redelivered decisions harmless.
- ``links`` and ``replied`` (close-loop, keyed by desk ticket): who to answer when a ticket
  is solved, and who has been answered.
- ``posts`` (triage, any author): the latest posts seen, keyed ``network:id``, so a ticket's
  thread shows the post a customer replied to, whoever wrote it (``RecentPosts``).
- ``waves`` (waves, keyed by outage wave): the reports of each wave counted cluster-wide,
  those not yet linked to its problem ticket, and the problem ticket (``router.incidents``).
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import ItemsView
from dataclasses import dataclass, fields
from typing import Any, Protocol, TypeVar, cast

import faust
from faust.streams import _current_event, current_event

from .threads import ThreadIndex
from .triage_step import Triaged, author_key, leads_to

MAX_POSTS_PER_PARTITION = 2000
#: Decided mentions and authors' texts kept per partition (a redelivery, a duplicate older
#: than that is decided as new; the escalate agent's ``effects`` still opens no second ticket)
MAX_DECIDED_PER_PARTITION = 20_000
MAX_TEXTS_PER_PARTITION = 20_000

V = TypeVar("V")


class Table(Protocol[V]):
    """What the router uses of a Faust table, typed by its values (keys are strings)."""

    def __getitem__(self, key: str) -> V: ...
    def __setitem__(self, key: str, value: V) -> None: ...
    def __contains__(self, key: object) -> bool: ...
    def get(self, key: str, default: V | None = None) -> V | None: ...
    def pop(self, key: str, default: V | None = None) -> V | None: ...
    def items(self) -> ItemsView[str, V]: ...


class Bounded:
    """A table of the latest entries, bounded per partition (oldest evicted first).

    Each entry is written to the changelog partition of the message being handled, and
    evicted (oldest first) only while handling a message of that same partition, so a
    tombstone always lands next to the value it deletes. A worker reads the entries of the
    partitions it holds. An entry is stored as ``{FIELD: value, "at": time, "partition": p}``:
    the order is rebuilt from those after a restart (``Table`` has no order of its own).
    """

    FIELD = "value"

    def __init__(self, table: Table[dict[str, Any]], limit: int) -> None:
        self.table = table
        self.limit = limit
        self._order: dict[int, deque[str]] | None = None  # built lazily, after recovery

    def _orders(self) -> dict[int, deque[str]]:
        if self._order is None:
            found: dict[int, list[tuple[float, str]]] = {}
            for key, value in list(self.table.items()):
                if isinstance(value, dict):
                    found.setdefault(int(value.get("partition", -1)), []).append(
                        (float(value.get("at", 0.0)), str(key)))
            self._order = {p: deque(k for _, k in sorted(v)) for p, v in found.items()}
        return self._order

    def put(self, key: str, value: Any, at: float) -> None:
        """Remember ``value`` under ``key``; call while handling the message it came from."""
        event = current_event()
        partition = event.message.partition if event is not None else -1
        order = self._orders().setdefault(partition, deque())
        if self.table.get(key) is None:
            order.append(key)
        self.table[key] = {self.FIELD: value, "at": at, "partition": partition}
        while len(order) > self.limit:
            self.table.pop(order.popleft(), None)

    def get(self, key: str) -> Any | None:
        """The value under ``key``, if this worker holds it (None once evicted)."""
        stored = self.table.get(key)
        return stored.get(self.FIELD) if isinstance(stored, dict) else None


class RecentPosts(Bounded):
    """The latest posts triage has seen, keyed ``network:id`` (bounded per partition).

    With several workers, a reply whose parent was handled elsewhere shows the thread
    without it.
    """

    FIELD = "post"

    def __init__(self, table: Table[dict[str, Any]],
                 limit: int = MAX_POSTS_PER_PARTITION) -> None:
        super().__init__(table, limit)

    def add(self, post: dict[str, Any], at: float) -> None:
        """Remember ``post`` (a Mention's JSON dict); call while handling its event."""
        self.put(f"{post.get('network')}:{post.get('id')}", post, at)


@dataclass
class Memory:
    """Where triage keeps what a step returns: the agent's tables, or ``router classify``'s
    dicts (the same bookkeeping, so the dry run remembers what the stream remembers)."""

    authors: Table[dict[str, Any]]
    posts: RecentPosts
    decided: Bounded
    texts: Bounded
    threads: ThreadIndex | None = None

    def keep(self, step: Triaged, now: float) -> tuple[str, str] | None:
        """Keep a new mention's records: its thread's case, the post, a repeated text's
        verdict or a text moved out, the author's record. Returns (thread, case) when the
        thread newly leads to a case (the agent tells every worker, ``router.threads``)."""
        d = step.decision
        m = d.mention
        key = author_key(m)
        lead = leads_to(m, d)
        told = (lead if lead is not None and self.threads is not None
                and self.threads.note(*lead, d.decided_at, key) else None)
        self.posts.add(step.post, d.decided_at)
        for ref, verdict in step.decided.items():
            self.decided.put(ref, verdict, now)
        for text, record in step.texts.items():
            self.texts.put(text, record, now)
        self.authors[key] = cast(dict[str, Any], step.author)  # remember's new dict
        return told


@dataclass
class Tables:
    #: author key -> {"cases", "recent", "text"} (older records: "hashes", "decided" too)
    authors: Table[dict[str, Any]]
    #: mention ref -> [verdict, case key], for a mention repeating a known text (``Bounded``)
    decided: Bounded
    #: "author key|text hash" -> {"ref", "verdict"}: the author's first mention with that
    #: text and its [verdict, case key] (``Bounded``)
    texts: Bounded
    #: mention ref -> "desk:ticket" once acted on ("pending:<case>" while being acted on)
    effects: Table[str | None]
    #: case key -> desk ticket id
    cases: Table[str | None]
    #: desk:ticket -> who to answer when it is solved (linked mentions)
    links: Table[list[dict[str, Any]]]
    #: desk:ticket -> who has been answered (and ``#solved`` while it is solved)
    replied: Table[list[str]]
    posts: RecentPosts
    #: wave key (``outage:<window>``) -> {"count", "seen", "pending", "problem"}
    waves: Table[dict[str, Any]]


#: Every table's name; its changelog topic is ``<app id>-<name>-changelog`` (``router
#: topics`` creates them, so none is found missing at start).
TABLE_NAMES = tuple(f.name for f in fields(Tables))


def create_tables(app: faust.App, partitions: int) -> Tables:
    def table(name: str, default: Any) -> Any:
        return cast(Any, app.Table(name, default=default, partitions=partitions,
                                   key_type=str, value_type=None))

    return Tables(
        authors=table("authors", dict),
        decided=Bounded(table("decided", None), MAX_DECIDED_PER_PARTITION),
        texts=Bounded(table("texts", None), MAX_TEXTS_PER_PARTITION),
        effects=table("effects", None),
        cases=table("cases", None),
        links=table("links", list),
        replied=table("replied", list),
        posts=RecentPosts(table("posts", None)),
        waves=table("waves", dict),
    )


def in_event(event: Any) -> None:
    """Make ``event`` the current one, so table writes go to its partition's changelog.

    Needed inside ``take_events`` batches, where Faust's notion of the current event is
    the last one buffered.
    """
    _current_event.set(weakref.ref(event))
