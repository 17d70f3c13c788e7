"""Triage: every mention gets exactly one verdict, or goes to the dead-letter topic.

Mentions are read in micro-batches (scored together, which is what makes the classifier
fast), then each is decided by ``policy.decide`` with the author's state from the
``authors`` table, and the decision is written to ``decisions`` keyed by author. A batch is
scored and decided by the model live when it starts (``router.live_model``: a promotion
takes effect from the next batch), and each decision names that model's version.

With a candidate shadowing (``router model shadow``), the batch is scored again by it once
every live decision is out, and what it would decide goes to the ``shadow`` topic only
(``router.shadow``); whatever the candidate does, a failure included, never changes a live
decision or dead-letters a mention.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from faust.types import TopicT

from classifiers.api import Scores
from vocab.errors import BadInput
from vocab.records import Decision, Mention

from .. import shadow as shadowing
from .. import threads
from ..audit import Sampler
from ..batch_writes import ChangelogTable, Writes
from ..live_model import LiveModel
from ..settings import Settings
from ..tables import (
    MAX_DECIDED_PER_PARTITION,
    MAX_TEXTS_PER_PARTITION,
    Bounded,
    Memory,
    RecentPosts,
    Table,
    in_event,
)
from ..threads import ThreadIndex
from ..triage_step import Triaged, author_key, triage
from ..validate import parse_mention
from ..wire import decision_bytes
from . import Sink

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)

#: How long the first batch waits for the ``threads`` topic to be read to its end.
THREADS_READY_BOUND_S = 30.0

#: A candidate model beside the live one, with the settings it would decide with.
Candidate = tuple[LiveModel, Settings]


class Decided(NamedTuple):
    """One mention decided live, and the state its decision read (the shadow reads it
    too: the candidate judges the mention in the same situation)."""

    mention: Mention
    step: Triaged
    author: Mapping[str, Any]
    event: Any


class Triage:
    """The triage step for a batch of mentions."""

    def __init__(self, *, live: Callable[[], LiveModel],
                 policy_settings: Callable[[], Settings],
                 authors: Table[dict[str, Any]], posts: RecentPosts, decisions: TopicT,
                 sink: Sink, audit: TopicT | None = None,
                 shadow: Callable[[], Candidate | None] | None = None,
                 shadows: TopicT | None = None, decided: Bounded | None = None,
                 texts: Bounded | None = None, threads: ThreadIndex | None = None,
                 thread_topic: TopicT | None = None, writes: Writes | None = None) -> None:
        self.live = live  # the model deciding now (swapped between batches)
        self.policy_settings = policy_settings  # the worker's, with what ops set at runtime
        self.authors = authors  # author key -> state
        self.posts = posts
        # the author's texts and the verdicts of repeated ones (``router.tables``; without
        # them, as in a test of the step alone, kept in this process)
        self.decided = decided if decided is not None else Bounded(
            cast(Table[dict[str, Any]], {}), MAX_DECIDED_PER_PARTITION)
        self.texts = texts if texts is not None else Bounded(
            cast(Table[dict[str, Any]], {}), MAX_TEXTS_PER_PARTITION)
        self.memory = Memory(authors, posts, self.decided,
                             self.texts, threads)
        self.decisions = decisions
        self.sink = sink
        self.audit = audit  # where sampled silent verdicts go for a person to check
        self.sampler = Sampler(policy_settings)
        self.shadow = shadow  # the candidate shadowing now, if any (router model shadow)
        self.shadows = shadows  # where its verdicts go
        self.threads = threads  # every thread's case, whoever opened it (router.threads)
        self.thread_topic = thread_topic  # where a thread newly leading to a case goes
        # where the batch's decisions, thread records and table changelog records wait to
        # go to Kafka together at its end (``router.batch_writes``); without it, as in a
        # test of the step alone, each goes to the sink when made
        self.writes = writes
        self.shadow_failing = ""  # the candidate whose failure was logged in full already
        # The events of the current batch already decided or dead-lettered: if the batch
        # fails half-way, only the others become "internal error" dead letters.
        self.settled: set[int] = set()
        # verdicts of the current batch by (verdict, network), counted once per batch
        self.verdicts: Counter[tuple[str, str]] = Counter()

    async def handle(self, events: list[Any]) -> None:
        self.settled = set()
        # Read together, before any await: the model and the thresholds its card sets
        # stay one pair for the whole batch, whatever a promotion does meanwhile.
        s = self.policy_settings()
        live = self.live()
        candidate = self.shadow() if self.shadow is not None else None
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
            scores = live.model.score([m.text for _, m in parsed])
        except Exception as exc:  # noqa: BLE001 - a model bug must not lose mentions
            log.exception("classifier failed on a batch of %d", len(parsed))
            for event, _ in parsed:
                await self.sink.dead_letter("mentions", event,
                                          f"classifier failed: {type(exc).__name__}")
            return
        decided: list[Decided] = []
        try:
            for (event, m), sc in zip(parsed, scores, strict=True):
                try:
                    decided.append(await self.decide_one(event, m, sc, s, live.version))
                except Exception as exc:  # noqa: BLE001 - one mention's bug stays its own
                    log.exception("cannot decide %s", m.ref)
                    await self.sink.dead_letter("mentions", event, "internal error: "
                                              f"{type(exc).__name__}: {str(exc)[:500]}")
                self.settled.add(id(event))
        finally:
            for (verdict, network), n in self.verdicts.items():
                self.sink.count(f"verdict.{verdict}", n, network=network)
            self.verdicts.clear()
            await self.send_writes(decided)
        if candidate is not None and self.shadows is not None:
            await self.shadow_batch(candidate, [d for d in decided if d.step.new])

    async def send_writes(self, decided: list[Decided]) -> None:
        """Send what the batch wrote. If that fails, the mentions decided are not settled
        (the agent dead-letters them: their decisions may not have gone out)."""
        if self.writes is None:
            return
        try:
            await self.writes.send()
        except Exception:
            log.exception("cannot send the decisions of a batch of %d", len(decided))
            for d in decided:
                self.settled.discard(id(d.event))
            raise

    async def shadow_batch(self, candidate: Candidate, decided: list[Decided]) -> None:
        """What ``candidate`` would decide for the mentions just decided live, to the shadow
        topic. Redeliveries are left out (the first delivery's record stands). Never raises:
        a failure is logged (in full once per candidate, then one line in the debug log, so
        a broken candidate cannot flood the log), and the live decisions stand as they are."""
        if not decided or self.shadows is None:
            return
        model, s = candidate
        try:
            scores = model.model.score([d.mention.text for d in decided])
        except Exception:  # noqa: BLE001 - the candidate's bug is never the live path's
            self._shadow_failed(model, f"cannot score a batch of {len(decided)}")
            return
        for d, sc in zip(decided, scores, strict=True):
            live = d.step.decision
            try:  # the pure step against the state the live decision read; nothing kept
                # (only new mentions are shadowed: none was decided before)
                would = triage(d.mention, sc, s, author=d.author, decided={},
                               texts=d.step.read, now=live.decided_at, threads=self.threads,
                               model_version=model.version).decision
                await self.sink.emit(self.shadows, d.mention.ref.encode(),
                                     shadowing.record(live, would, time.time()).dumps())
            except Exception:  # noqa: BLE001 - see the docstring
                self._shadow_failed(model, f"cannot record {d.mention.ref}")

    def _shadow_failed(self, model: LiveModel, what: str) -> None:
        """Count and log the current exception of the shadow path (the live path is not
        affected)."""
        self.sink.count("shadow.failed")
        if self.shadow_failing != model.version:
            self.shadow_failing = model.version
            log.exception("shadow model %s: %s; the live decisions stand (further failures "
                          "of this candidate go to the debug log)", model.version, what)
        else:
            log.debug("shadow model %s: %s", model.version, what, exc_info=True)

    async def decide_one(self, event: Any, m: Mention, sc: Scores, s: Settings,
                         model_version: str = "") -> Decided:
        in_event(event)
        key = author_key(m)
        now = time.time()
        author = self.authors[key]
        step = triage(m, sc, s, author=author, decided=self.decided, texts=self.texts,
                      now=now, posts=self.posts, threads=self.threads,
                      model_version=model_version)
        d = step.decision
        out = self.writes if self.writes is not None else self.sink
        if step.new:  # small records: the post, its verdict, a new text, the author's
            told = self.memory.keep(step, now)
            if told is not None and self.thread_topic is not None:
                # before the decision: a reply decided after it, anywhere, finds the case
                thread, case = told
                await out.emit(self.thread_topic, thread.encode(),
                               threads.record(case, d.decided_at, key))
        self.verdicts[(d.verdict, m.network)] += 1
        await out.emit(self.decisions, key.encode(), decision_bytes(d, step.post))
        item = self.sampler.take(d, now) if step.new and self.audit is not None else None
        if item is not None and self.audit is not None:
            await self.sink.emit(self.audit, m.ref.encode(), item.dumps())
            self.sink.count("audit.sampled")
        self.sink.decided(getattr(event.message, "timestamp", None))
        if log.isEnabledFor(logging.DEBUG):
            log.debug("decided %s", decision_line(d))
        return Decided(m, step, author, event)


def decision_line(d: Decision) -> str:
    """One decision for the debug log: mention ref, verdict, case, first reason (never
    the mention's text, which may carry anything the author wrote)."""
    why = d.reasons[0] if d.reasons else ""
    return f"{d.mention.ref} verdict={d.verdict} case={d.case_key or '-'} reason={why!r}"


def register(rt: Runtime) -> None:
    @rt.app.agent(rt.topics.mentions, name="triage", concurrency=1)
    async def triage(stream: Any) -> None:
        await rt.ready()  # done before the worker starts: the model is loaded

        def candidate() -> Candidate | None:  # read with the live model, once per batch
            model = rt.follower.shadow if rt.follower is not None else None
            if model is None:
                return None
            return model, shadowing.settings_for(rt.own_settings, rt.control.overrides(),
                                                 model)

        writes = Writes(rt.app.producer)
        tables = rt.tables

        def batched(kept: Bounded) -> Any:
            return ChangelogTable(kept.table, writes)

        step = Triage(live=lambda: rt.live, policy_settings=rt.policy_settings,
                      authors=ChangelogTable(tables.authors, writes),
                      posts=RecentPosts(batched(tables.posts), tables.posts.limit),
                      decisions=rt.topics.decisions, sink=rt, audit=rt.topics.audit,
                      shadow=candidate, shadows=rt.topics.shadow,
                      decided=Bounded(batched(tables.decided), tables.decided.limit),
                      texts=Bounded(batched(tables.texts), tables.texts.limit),
                      threads=rt.threads, thread_topic=rt.topics.threads, writes=writes)
        # Waited for inside the loop, never before it: Faust registers the stream when the
        # agent first iterates it, and a mention fetched before that never reached triage
        # (seen with a wait here: a redelivery after a restart was never decided).
        settle = rt.follower.wait_settled if rt.follower is not None else None
        first = True
        async for events in stream.take_events(rt.settings.batch_size,
                                               within=rt.settings.batch_timeout):
            batch = list(events)
            try:
                with rt.working(rt.topics.mentions.get_topic_name()):
                    if settle is not None:  # first batch: a model promoted before the start
                        await settle()
                        settle = None
                    if first:  # and every thread's case known so far
                        await rt.threads.wait_ready(THREADS_READY_BOUND_S)
                        first = False
                    await step.handle(batch)
            except Exception as exc:  # noqa: BLE001 - never lose a batch to a bug
                log.exception("triage failed on a batch of %d", len(batch))
                for event in batch:
                    if id(event) not in step.settled:
                        await rt.dead_letter("mentions", event, "internal error: "
                                             f"{type(exc).__name__}: {str(exc)[:500]}")
