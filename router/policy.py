"""The decision, as plain code: one mention + its scores + what we know -> one verdict.

"Is it hurtful?" (if so, stop) and "Is it helpful?" (if not, why do it?). Every branch
returns a ``Decision`` whose first reason says which rule decided it (in words that do not
repeat the verdict: the verdict is its own field, and a ticket shows both side by side).

The state this needs (the author's cases, duplicates, the outage count) is passed in by the
triage agent, which keeps it in Faust tables; nothing here touches Kafka or a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from classifiers.api import Scores
from vocab.records import Decision, Mention
from vocab.verdicts import Verdict

from .settings import Settings

HOUR = 3600.0


@dataclass
class Case:
    """A case this author opened or joined, as the triage agent remembers it."""

    case_key: str
    thread_key: str
    opened_at: float
    solved_at: float | None = None
    #: Joined by replying in another customer's thread: that thread's replies lead here,
    #: but the author's next request is not "the author's open ticket".
    joined: bool = False


@dataclass
class Context:
    """What the triage agent knows about a mention beyond its text."""

    now: float
    cases: Sequence[Case] = ()
    duplicate_of: str | None = None  # ref of an earlier mention with the same text
    #: The case of the thread this mention replies in when another author opened it
    #: (``router.threads``); the author's own cases come first.
    thread_case: Case | None = None
    notes: list[str] = field(default_factory=list)


def _listed(m: Mention, names: Sequence[str]) -> bool:
    wanted = {n.lower().lstrip("@") for n in names}
    return m.author.handle.lower().lstrip("@") in wanted or m.author.id.lower() in wanted


def never_ticket(m: Mention, settings: Settings) -> str | None:
    """Why this mention can never open a ticket, or None (flags set by the network's
    normalizer, or the handle is on one of the configured lists)."""
    if m.is_own_account or _listed(m, settings.own_accounts):
        return "the company's own account"
    if m.is_persona or _listed(m, settings.personas):
        return "a corporate persona's account"
    if m.is_employee or _listed(m, settings.employees):
        return "an employee's personal account"
    if m.is_repost:
        return "a repost"
    return None


def priority_for(m: Mention, category: str, verdict: Verdict, *, sensitive: bool = False) -> str:
    """The suggested priority; a sensitive moment (a death, a disaster) is never below high:
    a grieving customer closing a relative's account must not wait behind feature requests."""
    if verdict is Verdict.INCIDENT or category == "outage":
        return "urgent"
    if sensitive or m.author.followers >= 10_000 or category in ("account_access", "billing"):
        return "high"
    if category in ("feature_request", "how_to", "praise"):
        return "low"
    return "normal"


def _thread_case(m: Mention, ctx: Context) -> Case | None:
    """The case whose thread this mention replies in, if any."""
    replied = f"{m.network}:{m.in_reply_to}" if m.in_reply_to else None
    for case in ctx.cases:
        if case.thread_key in (m.thread_key, replied):
            return case
    return ctx.thread_case


def _author_case(m: Mention, ctx: Context, settings: Settings) -> tuple[Case, str] | None:
    """The author's open (or recently solved) case a new request joins, and why."""
    best: tuple[Case, str] | None = None
    for case in ctx.cases:
        if case.case_key.startswith("incident:") or case.joined:
            continue
        if case.solved_at is None:
            if ctx.now - case.opened_at <= settings.author_link_hours * HOUR:
                best = (case, "the author has an open ticket")
        elif ctx.now - case.solved_at <= settings.reopen_hours * HOUR:
            best = best or (case, "the author's ticket was solved recently (reopen window)")
    return best


def _versus(score: float, cut: float) -> tuple[str, str]:
    """Both numbers with as many decimals (2 to 4) as it takes to tell them apart, so that
    a reason never reads "0.50 just under 0.50"."""
    for digits in (2, 3, 4):
        a, b = f"{score:.{digits}f}", f"{cut:.{digits}f}"
        if a != b:
            break
    return a, b


#: How the reasons of a silent verdict the model's judgement made begin (not a rule's: own
#: accounts, reposts, duplicates): what an audit of the silence samples.
JUDGED_SILENT = ("not actionable:", "hurtful (")


def judged_silent(d: Decision) -> bool:
    """True for a silent verdict the model's scores made (one a person can second-guess)."""
    return (d.verdict is Verdict.SILENT and bool(d.reasons)
            and d.reasons[0].startswith(JUDGED_SILENT))


def decide(m: Mention, s: Scores, settings: Settings, ctx: Context) -> Decision:
    """The one verdict for this mention, with its reasons (pure; no I/O)."""
    threshold = settings.threshold_for(s.category)
    scores = {
        "actionable": round(float(s.actionable), 4),
        "hurtful": round(float(s.hurtful), 4),
        "sensitive": round(float(s.sensitive), 4),
        "coverage": round(float(s.coverage), 4),
        "threshold": threshold,
    }
    hurtful = s.hurtful >= settings.hurtful_cut
    sensitive = s.sensitive >= settings.sensitive_threshold
    model_reasons = list(s.reasons)

    def out(verdict: Verdict, first: str, case_key: str | None = None) -> Decision:
        return Decision(
            mention=m,
            verdict=verdict,
            scores=scores,
            reasons=[first, *ctx.notes, *model_reasons][:8],
            category=s.category,
            priority=priority_for(m, s.category, verdict, sensitive=sensitive),
            hurtful=hurtful,
            sensitive=sensitive,
            case_key=case_key,
            decided_at=ctx.now,
        )

    blocked = never_ticket(m, settings)
    if blocked:
        return out(Verdict.SILENT, f"never a ticket: {blocked}")
    if ctx.duplicate_of:
        return out(Verdict.SILENT, f"exact duplicate of {ctx.duplicate_of}")

    thread_case = _thread_case(m, ctx)
    if thread_case is not None and not hurtful:
        whose = "" if thread_case is not ctx.thread_case else " (another customer's)"
        return out(Verdict.LINK, f"replies in the thread of an existing ticket{whose}",
                   thread_case.case_key)

    if s.coverage < settings.min_coverage:
        # the model cannot read it, so neither judgement means anything: a person reads it
        unread = (f"the model knows {s.coverage:.0%} of its words (under "
                  f"{settings.min_coverage:.0%}): another language or jargon")
        joined = _author_case(m, ctx, settings)
        if joined is not None:
            return out(Verdict.LINK, f"{joined[1]}; {unread}", joined[0].case_key)
        return out(Verdict.REVIEW, f"{unread}: a human decides, no automatic reply", m.thread_key)

    actionable = s.actionable >= threshold
    borderline = not actionable and s.actionable >= threshold - settings.review_band
    if hurtful:
        if actionable or borderline:
            return out(Verdict.REVIEW, f"hurtful ({s.hurtful:.2f}) but support may help "
                       f"({s.actionable:.2f}): a human decides, no automatic reply",
                       m.thread_key)
        return out(Verdict.SILENT, f"hurtful ({s.hurtful:.2f}) and nothing support can do: "
                   "we stay out")
    if not actionable:
        if borderline and s.category != "praise":
            score, cut = _versus(s.actionable, threshold)
            return out(Verdict.REVIEW, f"borderline: actionable {score} just under {cut}",
                       m.thread_key)
        score, cut = _versus(s.actionable, threshold)
        return out(Verdict.SILENT, f"not actionable: {score} < {cut}")

    joined = _author_case(m, ctx, settings)
    if joined is not None:
        case, why = joined
        return out(Verdict.LINK, why, case.case_key)
    score, cut = _versus(s.actionable, threshold)
    return out(Verdict.OPEN, f"support can help ({score} >= {cut})", m.thread_key)
