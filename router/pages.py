"""Pages a customer opens: HTML from Jinja2 templates (``router/templates``), autoescaped.

Templates keep the markup in one readable file and escape every value by default, so a
customer's or an agent's text can never become markup on the page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import jinja2

STATES = {"solved": "Solved", "closed": "Closed"}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("router", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True)


def _when(epoch: Any) -> str:
    try:
        return datetime.fromtimestamp(float(epoch), UTC).strftime("%d %b %Y, %H:%M UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def ticket_page(ticket: dict[str, Any], comments: list[dict[str, Any]]) -> str:
    """The status page of ``ticket``: number, status and its public updates only."""
    status = str(ticket.get("status", ""))
    updates = [{"body": str(c["body"]), "at": _when(c.get("created_at"))}
               for c in comments if c.get("public")]
    return environment().get_template("ticket_page.html").render(
        number=ticket["id"], status=status, state=STATES.get(status, "In progress"),
        done=status in STATES, updated=_when(ticket.get("updated_at")), updates=updates)
