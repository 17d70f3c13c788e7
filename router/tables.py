"""The router's state, in Faust tables backed by Kafka changelogs.

Each table is written only while handling a message of a topic keyed the same way, so its
changelog partitions line up with the source topic's (same partition count everywhere):

- ``authors`` (triage, keyed by author): the author's cases and recent mentions, for links
  and exact-duplicate detection; plus the current outage window's report count.
- ``effects`` and ``cases`` (escalate, keyed by author): what was done for each mention, and
  the desk ticket of each case; they make redelivered decisions harmless.
- ``links`` and ``replied`` (close-loop, keyed by desk ticket): who to answer when a ticket
  is solved, and who has been answered.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import faust
from faust.streams import _current_event

#: Every table's name; its changelog topic is ``<app id>-<name>-changelog``.
TABLE_NAMES = ("authors", "effects", "cases", "links", "replied")


@dataclass
class Tables:
    authors: Any
    effects: Any
    cases: Any
    links: Any
    replied: Any


def create_tables(app: faust.App, partitions: int) -> Tables:
    def table(name: str, default: Any) -> Any:
        return app.Table(name, default=default, partitions=partitions,
                         key_type=str, value_type=None)

    return Tables(
        authors=table("authors", dict),
        effects=table("effects", None),
        cases=table("cases", None),
        links=table("links", list),
        replied=table("replied", list),
    )


def in_event(event: Any) -> None:
    """Make ``event`` the current one, so table writes go to its partition's changelog.

    Needed inside ``take_events`` batches, where Faust's notion of the current event is
    the last one buffered.
    """
    _current_event.set(weakref.ref(event))
