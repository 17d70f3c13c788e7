"""Outage waves: counting reports in a time window, and the incident they become.

The first reports of an outage open their own tickets; once ``incident_min_reports`` arrive
within ``incident_window_seconds``, the next is an ``incident``: one problem ticket that the
rest of the wave joins. The incident's first decision names the earlier reports' cases
(``related``) so that escalation links their tickets to the problem ticket, and solving
the problem answers everyone.

The state is a small JSON dict (kept in the triage agent's table, or in memory by
``router classify``); these functions are pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vocab.records import Decision
from vocab.verdicts import Verdict

from .settings import Settings

MAX_REPORTS = 100


def window_state(state: dict[str, Any], now: float, settings: Settings) -> dict[str, Any]:
    """The state of the current window (a fresh one when the window has moved on)."""
    window = str(int(now // settings.incident_window_seconds))
    if state.get("window") == window:
        return dict(state, reports=list(state.get("reports", [])))
    return {"window": window, "count": 0, "reports": [], "incident_open": False}


def count_report(state: dict[str, Any]) -> dict[str, Any]:
    return dict(state, count=int(state.get("count", 0)) + 1)


def incident_key(state: Mapping[str, Any]) -> str:
    return f"incident:outage:{state['window']}"


def after_decision(state: dict[str, Any], d: Decision) -> dict[str, Any]:
    """Remember an outage report's own case, or that the incident is now open."""
    state = dict(state, reports=list(state.get("reports", [])))
    if d.verdict is Verdict.OPEN and d.category == "outage" and d.case_key:
        state["reports"] = (state["reports"] + [d.case_key])[-MAX_REPORTS:]
    elif d.verdict is Verdict.INCIDENT:
        state["incident_open"] = True
    return state
