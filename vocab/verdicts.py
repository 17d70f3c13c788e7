"""The five verdicts a mention can get, and what each one means downstream.

A verdict is a ``StrEnum``: it is its own string on the wire (``"open"``) and compares equal
to it, so records written before it existed read the same. What a verdict *does* lives here,
in one place: the triage agent, the escalate agent, the ticket draft and the demo's tables
ask the verdict instead of spelling tuples of names.

Adding a verdict: add a member and its three properties below; ``router.policy.decide`` is
the one place that hands it out (see docs/architecture.md).
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """One mention's verdict."""

    #: Nothing support can do, or hurtful: no ticket, no reply ("if we can't help, we shut up").
    SILENT = "silent"
    #: Support can help: open (or join) the case's ticket.
    OPEN = "open"
    #: The author already has a case: add this mention to its ticket.
    LINK = "link"
    #: One report of a wave: open or join the wave's problem ticket.
    INCIDENT = "incident"
    #: Borderline or unreadable: a ticket tagged for a person to decide.
    REVIEW = "review"

    @property
    def acts(self) -> bool:
        """True if the escalate agent does something on the desk for it."""
        return self is not Verdict.SILENT

    @property
    def opens(self) -> bool:
        """True if its mention opens its case's ticket (``link`` only joins one)."""
        return self in _OPENS

    @property
    def may_reply(self) -> bool:
        """True if the customer may be answered when the ticket is solved.

        A review ticket is a person's call: the router never answers it on its own (a
        sensitive moment is held back too, whatever its verdict; see ``Decision.sensitive``).
        """
        return self is not Verdict.REVIEW and self.acts


_OPENS = frozenset({Verdict.OPEN, Verdict.INCIDENT, Verdict.REVIEW})
