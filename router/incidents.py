"""Outage waves: the reports of one outage counted cluster-wide, and the incident they become.

Triage decides each outage report alone (keyed by author, it sees only its partition): an
``open`` verdict, urgent, category ``outage``, its own ticket. Escalate then sends each such
report (``is_report``) to the ``outages`` topic keyed by its wave (``wave_key``: one key per
``incident_window_seconds`` window, never by author), so the ``waves`` agent sees every
report of a wave, whichever partition it came from, and counts them in order. When the
count reaches ``incident_min_reports`` the wave opens its problem ticket once, and every
report, the first ones too, becomes an incident linked to it (``router.agents.waves``).

The wave's state is a small JSON dict (in the ``waves`` table, or in memory for ``router
classify``); ``count_report`` is pure and both use it, so the dry run numbers a wave as the
stream does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import faust

from connectors.social.text import epoch
from vocab.records import Decision
from vocab.verdicts import Verdict

from .settings import Settings

#: Reports remembered per wave by ref (a redelivery is not counted twice); beyond that,
#: the oldest are forgotten (a wave that big has its problem ticket long since).
MAX_SEEN = 2000


class OutageReport(faust.Record, serializer="json",
                   namespace="escalation_router.OutageReport"):
    """One report of an outage wave, sent by escalate once the report's own ticket exists
    and its ``linked`` event is in Kafka (so the wave never waits for a ticket, and what it
    writes for that ticket comes after escalate's)."""

    decision: Decision
    desk: str
    ticket_id: str  # the report's own ticket
    ticket_url: str = ""
    reply_allowed: bool = True
    schema: int = 1


def is_report(d: Decision) -> bool:
    """True for a decision that is a report of an outage wave: an outage the model judged
    actionable that opened a ticket of its own. A post that joined its author's open case
    (``link``) is not counted again, and a ``review`` stays with a person."""
    return (d.verdict is Verdict.OPEN and d.category == "outage"
            and float(d.scores.get("actionable", 0.0))
            >= float(d.scores.get("threshold", 1.0)))


def report_time(d: Decision) -> float:
    """When a report was posted: its wave's clock. The mention's ``created_at`` stays the
    same for a redelivery (decided again later) and under a backlog (decided minutes after
    the outage), so a wave's reports keep one key; the decision time when it cannot be
    read."""
    at = epoch(d.mention.created_at)
    return d.decided_at if at is None else at


def wave_key(at: float, settings: Settings) -> str:
    """The wave of a report posted at ``at`` (``report_time``; the outages topic's key)."""
    return f"outage:{int(at // settings.incident_window_seconds)}"


def problem_case(key: str) -> str:
    """The problem ticket's case key (its desk external id is ``social-router:`` + it)."""
    return f"incident:{key}"


@dataclass(frozen=True)
class Counted:
    """A report counted: the wave's state after it, and the report's place in the wave."""

    state: dict[str, Any]
    number: int  # 1 for the wave's first report
    new: bool  # False for a report counted before (a redelivery)

    @property
    def count(self) -> int:
        return int(self.state["count"])


def count_report(state: Mapping[str, Any], ref: str) -> Counted:
    """Count report ``ref`` in a wave's state (pure; a new dict). The state: ``count``,
    ``seen`` (ref -> number), ``pending`` (reports not yet linked to the problem, in order:
    the caller adds them), ``problem`` (its ticket once opened)."""
    seen = dict(state.get("seen", {}))
    if ref in seen:
        return Counted(dict(state), int(seen[ref]), new=False)
    number = int(state.get("count", 0)) + 1
    seen[ref] = number
    while len(seen) > MAX_SEEN:
        seen.pop(next(iter(seen)))
    return Counted(dict(state, count=number, seen=seen), number, new=True)


def has_incident(count: int, settings: Settings) -> bool:
    """Whether a wave of ``count`` reports is an incident (has its problem ticket)."""
    return count >= settings.incident_min_reports


def problem_reason(count: int, settings: Settings) -> str:
    """Why the problem ticket was opened (its decision's first reason)."""
    return (f"{count} outage reports within {settings.incident_window_seconds / 60:.0f} min "
            "(from every partition)")


def note(number: int, d: Decision, ticket_id: str, ticket_url: str) -> str:
    """The note a report adds to the problem ticket: its number in the wave, who, where."""
    m = d.mention
    return (f"Report {number} of this outage: @{m.author.handle} on {m.network}, ticket "
            f"{ticket_id} ({ticket_url}), now an incident of this problem:\n\n{m.text}\n\n"
            f"Link: {m.url or m.ref}")
