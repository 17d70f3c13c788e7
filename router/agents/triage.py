"""Triage: every mention gets exactly one verdict, or goes to the dead-letter topic.

Mentions are read in micro-batches (scored together, which is what makes the classifier
fast), then each is decided by ``policy.decide`` with the author's state from the
``authors`` table, and the decision is written to ``decisions`` keyed by author.
"""

from __future__ import annotations

import hashlib
import logging
import time
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from faust.types import TopicT

from classifiers.api import Scores
from vocab.errors import BadInput
from vocab.records import Decision, Mention
from vocab.verdicts import Verdict

from .. import incidents
from ..policy import Case, Context, decide, never_ticket
from ..settings import Settings
from ..tables import RecentPosts, Table, in_event
from ..validate import parse_mention
from . import Sink

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)

MAX_CASES = 20
MAX_HASHES = 200
MAX_DECIDED = 500
MAX_RECENT = 10  # the author's latest posts, for the thread an agent sees on a ticket
OUTAGE_KEY = "__outage_window__"


def author_key(m: Mention) -> str:
    return f"{m.network}:{m.author.id}"


def text_hash(text: str) -> str:
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return hashlib.sha256(folded.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def context_for(m: Mention, state: dict[str, Any], now: float,
                outage: dict[str, Any]) -> Context:
    cases = [Case(**c) for c in state.get("cases", [])]
    duplicate = state.get("hashes", {}).get(text_hash(m.text))
    if duplicate == m.ref:
        duplicate = None
    return Context(now=now, cases=cases, duplicate_of=duplicate,
                   outage_reports=int(outage.get("count", 0)),
                   incident_key=incidents.incident_key(outage) if "window" in outage else None,
                   earlier_reports=outage.get("reports", ()),
                   incident_open=bool(outage.get("incident_open")))


def counts_as_outage(m: Mention, sc: Scores, s: Settings) -> bool:
    return (sc.category == "outage" and sc.actionable >= s.threshold_for("outage")
            and never_ticket(m, s) is None)


def thread_of(state: dict[str, Any], m: Mention,
              posts: RecentPosts | None = None) -> list[dict[str, Any]]:
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


def remember(state: dict[str, Any], m: Mention, d: Decision,
             posts: RecentPosts | None = None) -> dict[str, Any]:
    """The author's state after this decision (bounded in size); the post itself also
    goes to ``posts``, where another author's reply to it can find it."""
    if posts is not None:
        posts.add(m.to_json_dict(), d.decided_at)
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
                          "opened_at": d.decided_at, "solved_at": None})
        state["cases"] = cases[-MAX_CASES:]
    return state


class Triage:
    """The triage step for a batch of mentions."""

    def __init__(self, *, score: Callable[[list[str]], list[Scores]],
                 policy_settings: Callable[[], Settings],
                 authors: Table[dict[str, Any]], posts: RecentPosts, decisions: TopicT,
                 sink: Sink) -> None:
        self.score_texts = score
        self.policy_settings = policy_settings  # the worker's, with what ops set at runtime
        self.authors = authors  # author key -> state; OUTAGE_KEY -> the outage window
        self.posts = posts
        self.decisions = decisions
        self.sink = sink
        # The events of the current batch already decided or dead-lettered: if the batch
        # fails half-way, only the others become "internal error" dead letters.
        self.settled: set[int] = set()

    def score(self, mentions: list[Mention]) -> list[Scores]:
        return self.score_texts([m.text for m in mentions])

    async def handle(self, events: list[Any]) -> None:
        self.settled = set()
        s = self.policy_settings()
        parsed: list[tuple[Any, Mention]] = []
        for event in events:
            try:
                m = parse_mention(event.value, networks=s.networks,
                                  max_text_bytes=s.max_text_bytes,
                                  max_message_bytes=s.max_message_bytes)
            except BadInput as exc:
                await self.sink.dead_letter("mentions", event, exc.reason)
                self.settled.add(id(event))
                continue
            except Exception as exc:  # noqa: BLE001 - one message's bug stays its own
                log.exception("cannot read a mention (partition %s offset %s)",
                              event.message.partition, event.message.offset)
                await self.sink.dead_letter("mentions", event, f"unreadable message: "
                                          f"{type(exc).__name__}: {str(exc)[:200]}")
                self.settled.add(id(event))
                continue
            parsed.append((event, m))
        if not parsed:
            return
        try:
            scores = self.score([m for _, m in parsed])
        except Exception as exc:  # noqa: BLE001 - a model bug must not lose mentions
            log.exception("classifier failed on a batch of %d", len(parsed))
            for event, _ in parsed:
                await self.sink.dead_letter("mentions", event,
                                          f"classifier failed: {type(exc).__name__}")
            return
        for (event, m), sc in zip(parsed, scores, strict=True):
            try:
                await self.decide_one(event, m, sc, s)
            except Exception as exc:  # noqa: BLE001 - one mention's bug stays its own
                log.exception("cannot decide %s", m.ref)
                await self.sink.dead_letter("mentions", event, "internal error: "
                                          f"{type(exc).__name__}: {str(exc)[:500]}")
            self.settled.add(id(event))

    async def decide_one(self, event: Any, m: Mention, sc: Scores, s: Settings) -> None:
        in_event(event)
        now = time.time()
        key = author_key(m)
        state = self.authors[key]
        previous = state.get("decided", {}).get(m.ref)
        if previous is not None:
            d = self.redelivered(m, sc, previous, now)
        else:
            outage = incidents.window_state(self.authors[OUTAGE_KEY], now, s)
            if counts_as_outage(m, sc, s):
                outage = incidents.count_report(outage)
            d = decide(m, sc, s, context_for(m, state, now, outage))
            if d.verdict.opens:
                d.thread = thread_of(state, m, self.posts)
            self.authors[key] = remember(state, m, d, self.posts)
            if counts_as_outage(m, sc, s) or d.verdict is Verdict.INCIDENT:
                self.authors[OUTAGE_KEY] = incidents.after_decision(outage, d)
        self.sink.count(f"verdict.{d.verdict}")
        await self.sink.emit(self.decisions, key.encode(), d.dumps())

    def redelivered(self, m: Mention, sc: Scores, previous: list[Any], now: float) -> Decision:
        """The same verdict again for a mention seen before (escalation is idempotent)."""
        verdict, case_key = previous
        d = decide(m, sc, self.policy_settings(), Context(now=now))
        return Decision(mention=m, verdict=verdict, scores=d.scores,
                        reasons=["redelivered: same verdict as before", *d.reasons[1:]],
                        category=d.category, priority=d.priority, hurtful=d.hurtful,
                        sensitive=d.sensitive, case_key=case_key, decided_at=now)


def register(rt: Runtime) -> None:
    @rt.app.agent(rt.topics.mentions, name="triage", concurrency=1)
    async def triage(stream: Any) -> None:
        await rt.ready()  # done before the worker starts: the model is loaded
        step = Triage(score=rt.model.score, policy_settings=rt.policy_settings,
                      authors=rt.tables.authors, posts=rt.tables.posts,
                      decisions=rt.topics.decisions, sink=rt)
        async for events in stream.take_events(rt.settings.batch_size,
                                               within=rt.settings.batch_timeout):
            batch = list(events)
            try:
                with rt.working(rt.topics.mentions.get_topic_name()):
                    await step.handle(batch)
            except Exception as exc:  # noqa: BLE001 - never lose a batch to a bug
                log.exception("triage failed on a batch of %d", len(batch))
                for event in batch:
                    if id(event) not in step.settled:
                        await rt.dead_letter("mentions", event, "internal error: "
                                             f"{type(exc).__name__}: {str(exc)[:500]}")
