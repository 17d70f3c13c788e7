"""Pages a customer opens: HTML from Jinja2 templates (``router/templates``), autoescaped.

Templates keep the markup in one readable file and escape every value by default, so a
customer's or an agent's text can never become markup on the page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import jinja2

from connectors.desks.base import PublicView

STATES = {"solved": "Solved", "closed": "Closed"}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("router", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True)


def when(epoch: Any, fmt: str = "%Y-%m-%d %H:%M UTC", unknown: str = "?") -> str:
    """An epoch time as UTC text (``unknown`` when it is none), for pages and commands."""
    try:
        return datetime.fromtimestamp(float(epoch), UTC).strftime(fmt)
    except (TypeError, ValueError, OverflowError, OSError):
        return unknown


def _when(epoch: Any) -> str:
    return when(epoch, "%d %b %Y, %H:%M UTC", "")


def ticket_page(view: PublicView) -> str:
    """The status page of a ticket: number, status and its public updates only (what the
    link in a reply opens; the desk's ``public_view`` holds nothing internal)."""
    updates = [{"body": u.body, "at": _when(u.at)} for u in view.updates]
    return environment().get_template("ticket_page.html").render(
        number=view.ticket_id, status=view.status, state=STATES.get(view.status, "In progress"),
        done=view.status in STATES, updated=_when(view.updated_at), updates=updates)
