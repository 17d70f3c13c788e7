"""The triage step, pure: one mention, its scores and the state it depends on, in; its
decision and the state after it, out. No Kafka, no clock, no table: the triage agent and
``router classify`` both call ``triage``, so the dry run decides what the stream decides.

The state is the author's (their cases, recent posts, the text hashes and mention ids
already decided: duplicates and redeliveries); ``Posts`` looks up a post by ``network:id``
(a reply's parent, whoever wrote it), for the thread shown on a ticket. An outage report is
decided alone here (``open``, urgent); its wave is counted cluster-wide after its ticket is
open (``router.incidents``, ``router.agents.waves``).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from classifiers.api import Scores
from vocab.records import Decision, Mention
from vocab.verdicts import Verdict

from .policy import Case, Context, decide
from .settings import Settings


class Threads(Protocol):
    """The case each thread leads to, whoever opened it (``router.threads.ThreadIndex``)."""

    def get(self, thread_key: str) -> dict[str, Any] | None: ...


class Posts(Protocol):
    """Recent posts by ``network:id`` (``router.tables.RecentPosts``, or a dict's ``get``)."""

    def get(self, ref: str) -> dict[str, Any] | None: ...


MAX_CASES = 20
MAX_HASHES = 200
MAX_DECIDED = 500
MAX_RECENT = 10  # the author's latest posts, for the thread an agent sees on a ticket


def author_key(m: Mention) -> str:
    return f"{m.network}:{m.author.id}"


def text_hash(text: str) -> str:
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return hashlib.sha256(folded.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def context_for(m: Mention, state: Mapping[str, Any], now: float,
                threads: Threads | None = None) -> Context:
    cases = [Case(**c) for c in state.get("cases", [])]
    duplicate = state.get("hashes", {}).get(text_hash(m.text))
    if duplicate == m.ref:
        duplicate = None
    return Context(now=now, cases=cases, duplicate_of=duplicate,
                   thread_case=thread_case(m, threads) if threads is not None else None)


def thread_case(m: Mention, threads: Threads) -> Case | None:
    """The case of the thread ``m`` is in (or replies to) that another author's post led
    to (the author's own cases are in their state)."""
    for key in (m.thread_key, f"{m.network}:{m.in_reply_to}" if m.in_reply_to else None):
        found = threads.get(key) if key else None
        if found is not None and found.get("by") != author_key(m):
            return Case(case_key=str(found["case_key"]), thread_key=key or "",
                        opened_at=float(found.get("opened_at", 0.0)))
    return None


def leads_to(m: Mention, d: Decision) -> str | None:
    """The thread this decision makes lead to a case (for ``router.threads``), if any:
    a customer's own case (``open``) or one a post joined (``link``), never an incident."""
    if d.case_key and (d.verdict is Verdict.OPEN or d.verdict is Verdict.LINK) \
            and not d.case_key.startswith("incident:"):
        return m.thread_key
    return None


def thread_of(state: Mapping[str, Any], m: Mention,
              posts: Posts | None = None) -> list[dict[str, Any]]:
    """The thread an agent sees on this mention's ticket (oldest first): the post it
    replies to, whoever wrote it, when the router has seen it, then the author's earlier
    posts in the same thread."""
    replied = f"{m.network}:{m.in_reply_to}" if m.in_reply_to else None
    own = [p for p in state.get("recent", [])
           if p.get("id") != m.id and (
               Mention.from_data(p).thread_key in (m.thread_key, replied)
               or f"{p.get('network')}:{p.get('id')}" == replied)]
    parent = posts.get(replied) if posts is not None and replied else None
    if parent is None or any(p.get("id") == parent.get("id") for p in own):
        return own
    return [parent, *own]


def remember(state: Mapping[str, Any], m: Mention, d: Decision, *,
             joined: bool = False) -> dict[str, Any]:
    """The author's state after this decision (bounded in size; a new dict); ``joined``:
    the link joined another customer's case through its thread."""
    state = {k: (dict(v) if isinstance(v, dict) else list(v)) for k, v in state.items()}
    hashes = state.setdefault("hashes", {})
    hashes.setdefault(text_hash(m.text), m.ref)
    while len(hashes) > MAX_HASHES:
        hashes.pop(next(iter(hashes)))
    recent = state.setdefault("recent", [])
    recent.append(m.to_json_dict())
    state["recent"] = recent[-MAX_RECENT:]
    decided = state.setdefault("decided", {})
    decided[m.ref] = [d.verdict, d.case_key]
    while len(decided) > MAX_DECIDED:
        decided.pop(next(iter(decided)))
    if d.verdict.opens and d.case_key:
        cases = state.setdefault("cases", [])
        if not any(c["case_key"] == d.case_key for c in cases):
            cases.append({"case_key": d.case_key, "thread_key": m.thread_key,
                          "opened_at": d.decided_at, "solved_at": None})
        state["cases"] = cases[-MAX_CASES:]
    elif d.verdict is Verdict.LINK and d.case_key:
        # A reply in another thread that joined the case: its thread now leads there too.
        cases = state.setdefault("cases", [])
        if not any(c["thread_key"] == m.thread_key for c in cases):
            cases.append({"case_key": d.case_key, "thread_key": m.thread_key,
                          "opened_at": d.decided_at, "solved_at": None,
                          **({"joined": True} if joined else {})})
        state["cases"] = cases[-MAX_CASES:]
    return state


def redelivered(m: Mention, sc: Scores, settings: Settings, previous: list[Any],
                now: float) -> Decision:
    """The same verdict again for a mention decided before (escalation is idempotent)."""
    verdict, case_key = previous
    d = decide(m, sc, settings, Context(now=now))
    return Decision(mention=m, verdict=verdict, scores=d.scores,
                    reasons=["redelivered: same verdict as before", *d.reasons[1:]],
                    category=d.category, priority=d.priority, hurtful=d.hurtful,
                    sensitive=d.sensitive, case_key=case_key, decided_at=now)


@dataclass(frozen=True)
class Triaged:
    """One step's outcome: the decision, and the state to keep after it."""

    decision: Decision
    #: The author's state after the decision: ``remember``'s new dict when ``new`` (store it
    #: as it is), the very state given for a redelivery.
    author: Mapping[str, Any]
    #: False for a redelivery: nothing new to remember (the post is known already).
    new: bool = True


def triage(m: Mention, sc: Scores, settings: Settings, *, author: Mapping[str, Any],
           now: float, posts: Posts | None = None, threads: Threads | None = None,
           model_version: str = "") -> Triaged:
    """The one verdict for ``m`` given the author's state (pure).

    A mention already decided for this author (a redelivery after a crash) gets the same
    verdict and case again and changes no state; an exact duplicate of the author's text,
    a reply in a thread with a case (the author's, or anyone's in ``threads``), an author
    with an open case: all are the policy's (``router.policy.decide``) reading of the
    context built here. The decision records ``model_version``, the model that made ``sc``
    (for a redelivery: the one that scored it again, while the verdict is the earlier
    one's).
    """
    previous = author.get("decided", {}).get(m.ref)
    if previous is not None:
        again = redelivered(m, sc, settings, previous, now)
        again.model_version = model_version
        return Triaged(again, author, new=False)
    ctx = context_for(m, author, now, threads)
    d = decide(m, sc, settings, ctx)
    joined = (d.verdict is Verdict.LINK and ctx.thread_case is not None
              and d.case_key == ctx.thread_case.case_key
              and not any(c.case_key == d.case_key for c in ctx.cases))
    d.model_version = model_version
    if d.verdict.opens:
        d.thread = thread_of(author, m, posts)
    return Triaged(d, remember(author, m, d, joined=joined))
