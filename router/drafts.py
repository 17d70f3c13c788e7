"""What a decision puts on a desk ticket: the router's policy for subjects, tags and problem
tickets, kept here so that a desk connector only formats and files a ``TicketDraft``."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.desks.base import SOCIAL_TAG, TicketDraft
from vocab.records import Decision, Mention
from vocab.verdicts import Verdict

#: The tag a review ticket carries, for the desk's "needs a person" view.
REVIEW_TAG = "needs-human-review"


def model_tag(version: str) -> str:
    """The ticket tag of the model that decided: ``model-`` and its sha256 prefix."""
    return f"model-{version.split()[0]}"


def draft_for(decision: Decision, *, external_id: str,
              thread: Sequence[Mention] = ()) -> TicketDraft:
    """The ticket a decision opens: an incident opens the wave's problem ticket, a review
    is tagged for a person, every ticket is tagged by network, verdict and category."""
    m = decision.mention
    first_line = " ".join(m.text.split())[:80] or "(no text)"
    problem = decision.verdict is Verdict.INCIDENT
    subject = (
        f"[incident] {decision.category}: {first_line}"
        if problem
        else f"@{m.author.handle} on {m.network}: {first_line}"
    )
    tags = [SOCIAL_TAG, f"social-{m.network}", f"verdict-{decision.verdict}",
            f"category-{decision.category}"]
    if decision.verdict is Verdict.REVIEW:
        tags.append(REVIEW_TAG)
    if decision.model_version:  # which model's tickets these are, after a promotion
        tags.append(model_tag(decision.model_version))
    return TicketDraft(
        external_id=external_id,
        subject=subject,
        mention=m,
        verdict=str(decision.verdict),
        confidence=float(decision.scores.get("actionable", 0.0)),
        reasons=list(decision.reasons),
        category=decision.category,
        priority=decision.priority,
        tags=tags,
        thread=thread,
        problem=problem,
        hurtful=float(decision.scores.get("hurtful", 0.0)),
        sensitive=bool(decision.sensitive),
        language=(m.lang or "").strip() or "unknown",
    )
