"""The triage step, pure: one mention, its scores and the state it depends on, in; its
decision and the state after it, out. No Kafka, no clock, no table: the triage agent and
``router classify`` both call ``triage``, so the dry run decides what the stream decides.

The state is the author's record (their cases and latest posts), the author's texts
(``Lookup`` by ``author|hash``: the first mention with each text and its verdict, for exact
duplicates and redeliveries), the verdicts of mentions that repeated a known text (by
``network:id``), and every thread's case whoever opened it (``Threads``); ``Posts`` looks
up a post by ``network:id`` (a reply's parent, whoever wrote it), for the thread shown on a
ticket. A mention adds one small record, not a rewrite of the author's
whole history (issue #12); an author record of the older shape, which carried decided ids
and text hashes itself, is still read, and they move out with the author's next mention.
An outage report is decided alone here (``open``, urgent); its wave is counted cluster-wide
after its ticket is open (``router.incidents``, ``router.agents.waves``).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from classifiers.api import Scores
from vocab.records import Decision, Mention
from vocab.verdicts import Verdict

from .policy import Case, Context, decide
from .settings import Settings
from .wire import mention_json


class Threads(Protocol):
    """The case each thread leads to, whoever opened it (``router.threads.ThreadIndex``)."""

    def get(self, thread_key: str) -> dict[str, Any] | None: ...


class Posts(Protocol):
    """Recent posts by ``network:id`` (``router.tables.RecentPosts``, or a dict's ``get``)."""

    def get(self, ref: str) -> dict[str, Any] | None: ...


class Lookup(Protocol):
    """Remembered entries by key (``router.tables.Bounded``, or a dict's ``get``)."""

    def get(self, key: str) -> Any | None: ...


MAX_CASES = 20
MAX_RECENT = 10  # the author's latest posts, for the thread an agent sees on a ticket
#: What an author record of the older shape carried beside cases and posts (moved out)
LEGACY_KEYS = ("decided", "hashes")


def author_key(m: Mention) -> str:
    return f"{m.network}:{m.author.id}"


def text_hash(text: str) -> str:
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return hashlib.sha256(folded.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def text_key(author: str, digest: str) -> str:
    """The ``texts`` key of an author's text (``author_key`` and ``text_hash``)."""
    return f"{author}|{digest}"


def context_for(m: Mention, state: Mapping[str, Any], now: float,
                duplicate: str | None = None, threads: Threads | None = None) -> Context:
    """The policy's context; ``duplicate``: the author's first mention with this text."""
    cases = [Case(**c) for c in state.get("cases", [])]
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


def leads_to(m: Mention, d: Decision) -> tuple[str, str] | None:
    """(thread, case) when this decision makes the mention's thread lead to a case (for
    ``router.threads``): a customer's own case (``open``) or one a post joined (``link``),
    never an incident."""
    if d.case_key and (d.verdict is Verdict.OPEN or d.verdict is Verdict.LINK) \
            and not d.case_key.startswith("incident:"):
        return m.thread_key, d.case_key
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


def remember(state: Mapping[str, Any], m: Mention, d: Decision,
             post: dict[str, Any] | None = None, *, joined: bool = False) -> dict[str, Any]:
    """The author's record after this decision (bounded in size; a new dict, in the current
    shape: the older shape's decided ids and hashes are left out, see ``triage``). ``post``
    is ``mention_json(m)`` when the caller has it; ``joined``: the link joined another
    customer's case through its thread."""
    state = {k: (dict(v) if isinstance(v, dict) else list(v)) for k, v in state.items()
             if k not in LEGACY_KEYS}
    recent = state.setdefault("recent", [])
    recent.append(mention_json(m) if post is None else post)
    state["recent"] = recent[-MAX_RECENT:]
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


def memory_of(key: str, author: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                          dict[str, list[Any]]]:
    """The ``texts`` and ``decided`` records an older-shape author record's ``hashes`` and
    ``decided`` become (empty for a record of the current shape): they move out with the
    author's next mention, as the record is rewritten without them, so a redelivery of
    what the older worker decided still finds its verdict."""
    hashes: Mapping[str, str] = author.get("hashes", {})
    decided: Mapping[str, list[Any]] = author.get("decided", {})
    said = {text_key(key, h): {"ref": ref, "verdict": decided.get(ref)}
            for h, ref in hashes.items()}
    firsts = set(hashes.values())
    return said, {ref: list(v) for ref, v in decided.items() if ref not in firsts}


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
    #: The author's record after the decision: ``remember``'s new dict when ``new`` (store it
    #: as it is), the very record given for a redelivery.
    author: Mapping[str, Any]
    #: False for a redelivery: nothing new to remember (the post is known already).
    new: bool = True
    #: To put in ``texts`` (``text_key`` -> {"ref": the first mention with the text,
    #: "verdict": its [verdict, case key]}) and ``decided`` (the verdict of a mention that
    #: repeats a known text, by ref). The author's latest new text is kept in their record
    #: (``"text"``); the one it replaces moves here, so a mention writes at most one of
    #: these, plus what an older-shape author record moves out (``memory_of``).
    texts: dict[str, dict[str, Any]] = field(default_factory=dict)
    decided: dict[str, list[Any]] = field(default_factory=dict)
    #: ``mention_json(decision.mention)``, built once for the post, the record, the decision
    post: dict[str, Any] = field(default_factory=dict)
    #: What the step read from ``texts`` (a new mention), for the same step again on the
    #: same state (the shadow model's) after this one's record was written
    read: dict[str, Any] = field(default_factory=dict)


def triage(m: Mention, sc: Scores, settings: Settings, *, author: Mapping[str, Any],
           decided: Lookup, texts: Lookup, now: float, posts: Posts | None = None,
           threads: Threads | None = None, model_version: str = "") -> Triaged:
    """The one verdict for ``m`` given the author's state (pure).

    A mention already decided for this author (a redelivery after a crash) gets the same
    verdict and case again and changes no state; an exact duplicate of the author's text,
    a reply in a thread with a case (the author's, or anyone's in ``threads``), an author
    with an open case: all are the policy's (``router.policy.decide``) reading of the
    context built here. The decision records ``model_version``, the model that made ``sc``
    (for a redelivery: the one that scored it again, while the verdict is the earlier
    one's).
    """
    post = mention_json(m)
    key, digest = author_key(m), text_hash(m.text)
    latest = author.get("text")  # the author's latest new text, kept in their record
    known = (texts.get(text_key(key, digest)) if latest is None or latest["hash"] != digest
             else {"ref": latest["ref"], "verdict": latest["verdict"]})
    previous = decided.get(m.ref)
    if previous is None and known is not None and known.get("ref") == m.ref:
        previous = known.get("verdict")
    if previous is None:
        previous = author.get("decided", {}).get(m.ref)  # an older-shape record's
    if previous is not None:
        again = redelivered(m, sc, settings, previous, now)
        again.model_version = model_version
        return Triaged(again, author, new=False, post=post)
    first = known.get("ref") if known is not None else author.get("hashes", {}).get(digest)
    ctx = context_for(m, author, now, first, threads)
    d = decide(m, sc, settings, ctx)
    joined = (d.verdict is Verdict.LINK and ctx.thread_case is not None
              and d.case_key == ctx.thread_case.case_key
              and not any(c.case_key == d.case_key for c in ctx.cases))
    d.model_version = model_version
    if d.verdict.opens:
        d.thread = thread_of(author, m, posts)
    said, moved = memory_of(key, author)
    verdict = [d.verdict, d.case_key]
    record = remember(author, m, d, post, joined=joined)
    if first is None or first == m.ref:
        # A new text: its entry rides in the author's record, written anyway (most authors
        # say one thing), and the one it replaces moves to a record of its own.
        record["text"] = {"hash": digest, "ref": m.ref, "verdict": verdict}
        if latest is not None and latest["hash"] != digest:
            said[text_key(key, latest["hash"])] = {"ref": latest["ref"],
                                                  "verdict": latest["verdict"]}
    else:  # a text known under another mention: this one's verdict on its own
        moved[m.ref] = verdict
    return Triaged(d, record, decided=moved, texts=said, post=post,
                   read={text_key(key, digest): known} if known is not None else {})
