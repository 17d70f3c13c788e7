"""Escalate: act on the desk for ``open``, ``link``, ``incident`` and ``review`` verdicts.

Idempotent per mention, in three layers: the ``effects`` table (a redelivered decision is
skipped), the desk's external id (a case's ticket is found before one is opened, and desks
refuse a second ticket with the same external id), and the comment's idempotency key.

After acting, a ``linked`` ticket event tells the close-loop agent whom to answer when the
ticket is solved. The effect is recorded only once that event is in Kafka: a failure in
between leaves the decision undone, so its redelivery (or retry) writes the event again;
the close-loop ignores a repeated ``linked`` event.

An outage report (``router.incidents.is_report``) then goes to ``outages``, keyed by its
wave, with its ticket: the ``waves`` agent counts the wave's reports from every partition
and makes them incidents of one problem ticket. It is sent after the ``linked`` event, so
the wave finds the ticket open and its own events follow escalate's; a redelivered report
is sent again (the wave counts it once), which is how ``router dlq replay decisions``
re-drives a wave that gave up.

Retries have one owner per layer and a bound: a desk connector retries one verb in-process
(bounded, with backoff); if the desk is still unavailable, the decision goes to
``decisions-retry`` and is tried again after each of ``decision_retry_delays``; after the
last try it goes to ``decisions-dlq`` with the reason (``router dlq replay decisions``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncContextManager

from aiokafka.errors import KafkaError
from faust.types import TopicT

from connectors.desks.base import DONE_STATUSES, CommentBody, Desk, Ticket
from connectors.errors import ConnectorError, NotSupported, RetriableError
from vocab.records import Decision, Mention, TicketEvent
from vocab.verdicts import Verdict

from ..drafts import draft_for
from ..incidents import OutageReport, is_report, report_time, wave_key
from ..settings import Settings
from ..tables import Table, in_event
from . import Sink

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)

# An effects value while a mention is being acted on (not done: a redelivery resumes it).
PENDING = "pending:"
MAX_RETRY_WAIT = 3600.0
# Decisions acted on together: a batch's linked events wait for its last desk call, so a
# larger batch saves little and delays the first customers' links.
MAX_BATCH = 50

Guard = Callable[[Any], AsyncContextManager[None]]


@contextlib.asynccontextmanager
async def _unguarded(event: Any) -> AsyncIterator[None]:
    yield


@dataclass
class _Item:
    """One decision of a batch, as it goes through the desk and Kafka."""

    event: Any
    d: Decision
    attempt: int
    resumed: bool  # an earlier try may have acted already (its effect was pending)
    ticket: Ticket | None = None
    linked: TicketEvent | None = None
    sent: Awaitable[Any] | None = None  # the linked event's delivery


def external_id(case_key: str) -> str:
    """The desk's external id for a case (stable, so a retry finds the same ticket)."""
    return f"social-router:{case_key}"


def comment_text(d: Decision) -> str:
    """The note a linked mention adds: who, the verdict and the rule that decided it."""
    m = d.mention
    why = d.reasons[0] if d.reasons else ""
    # Decisions written before reasons stopped starting with the verdict may still be in
    # the topic; the note says the verdict once either way.
    why = why.removeprefix(f"{d.verdict}: ")
    said = f"{d.verdict}: {why}" if why else d.verdict
    return (f"New {m.network} post by @{m.author.handle} joined this ticket "
            f"({said}):\n\n{m.text}\n\nLink: {m.url or m.ref}")


class Escalate:
    """The escalation step for one decision."""

    def __init__(self, *, desk: Desk, effects: Table[str | None], cases: Table[str | None],
                 ticket_events: TopicT, decisions_retry: TopicT,
                 retry_delays: Sequence[float], flush: Callable[[], Awaitable[None]],
                 sink: Sink, outages: TopicT | None = None,
                 settings: Callable[[], Settings] | None = None, concurrency: int = 1) -> None:
        self.desk = desk
        self.effects = effects  # mention ref -> what was done (or PENDING while doing it)
        self.cases = cases  # case key -> desk ticket id
        self.ticket_events = ticket_events
        self.decisions_retry = decisions_retry
        self.retry_delays = retry_delays
        self.flush = flush  # the worker's producer: table writes reach Kafka first
        self.sink = sink
        self.outages = outages  # where outage reports go to be counted by wave
        self.settings = settings  # the window of a wave
        self.concurrency = concurrency  # cases whose desk calls may overlap

    async def ticket_for_case(self, d: Decision) -> Ticket | None:
        assert d.case_key
        cached = self.cases.get(d.case_key)
        desk = self.desk
        if cached:
            return Ticket(id=str(cached), url=desk.ticket_url(str(cached)))
        return await desk.find_by_external_id(external_id(d.case_key))

    async def act(self, d: Decision, *, resumed: bool = False) -> Ticket:
        """Open or comment on the case's ticket; safe to repeat.

        ``resumed``: an earlier try of this same decision may have acted already. Then a
        ticket found for a case this mention opens is its own: nothing is added to it (the
        customer's post is already its body) and it is not reopened."""
        desk = self.desk
        m = d.mention
        ticket = await self.ticket_for_case(d)
        if ticket is None:
            draft = draft_for(
                d, external_id=external_id(d.case_key or m.ref),
                thread=[Mention.from_data(p) for p in d.thread])
            ticket = await desk.open(draft)
            self.sink.count("desk.opened")
            if d.verdict is Verdict.INCIDENT:
                self.sink.count("desk.incident_opened")
                await self.link_earlier_reports(d, ticket)
        elif resumed and d.verdict.opens:
            self.sink.count("desk.resumed")
            if d.verdict is Verdict.INCIDENT:
                await self.link_earlier_reports(d, ticket)
        else:
            await desk.comment(ticket.id, CommentBody(text=comment_text(d), mention=m),
                               public=False, idempotency_key=f"mention:{m.ref}")
            self.sink.count("desk.linked")
            if not resumed and await desk.status(ticket.id) in DONE_STATUSES:
                await desk.reopen(ticket.id)  # a new request reopens it (where the desk can)
                # Said before the link, so the close-loop does not take the new customer
                # as answered by the earlier solve.
                await self.write_event(TicketEvent(
                    desk=desk.key, ticket_id=ticket.id, kind="status", status="open",
                    ticket_url=ticket.url, at=time.time()))
                self.sink.count("desk.reopened")
        return ticket

    async def link_earlier_reports(self, d: Decision, problem: Ticket) -> None:
        """An ``incident`` decision that names earlier reports (``related``): make their
        tickets the problem's incidents, or say so on the problem ticket where the desk has
        no links. Triage no longer writes these (the ``waves`` agent makes outage waves
        incidents); kept for such decisions still on ``decisions`` or its dead letters."""
        desk = self.desk
        for case_key in d.related:
            child = await desk.find_by_external_id(external_id(case_key))
            if child is None or child.id == problem.id:
                continue
            try:
                await desk.link(child.id, problem.id)
                self.sink.count("desk.incident_linked")
            except NotSupported:
                await desk.comment(problem.id, CommentBody(
                    text=f"Earlier report of this outage: ticket {child.id} ({child.url})"),
                    public=False, idempotency_key=f"related:{case_key}")

    async def handle(self, event: Any, d: Decision, *, attempt: int = 0) -> None:
        """Act on one decision (``attempt``: how many tries it had before this one)."""
        await self.handle_batch([(event, d, attempt)])

    async def handle_batch(self, batch: Sequence[tuple[Any, Decision, int]],
                           guard: Guard | None = None) -> None:
        """Act on a batch of decisions ``(event, decision, attempt)``, in order.

        The Kafka round trips are the batch's: one flush for every pending effect before
        the first desk call, then every ``linked`` event sent together, each awaited before
        its own effect is recorded. The desk calls of different cases overlap
        (``act_on_cases``). Per ticket that leaves the desk's own work. ``guard(event)``
        turns an unexpected error on one decision into that decision's dead letter (the
        worker passes ``Runtime.guard``); without it, the error is raised."""
        guard = guard or _unguarded
        work: list[_Item] = []
        for event, d, attempt in batch:
            async with guard(event):
                item = await self.begin(event, d, attempt)
                if item is not None:
                    work.append(item)
        if any(not it.resumed for it in work):
            try:
                await self.flush()  # every pending effect is in Kafka before a desk call
            except KafkaError as exc:
                for it in work:
                    async with guard(it.event):
                        await self.retry_later(it, f"pending effect not written: "
                                               f"{type(exc).__name__}: {exc}", cause="kafka")
                return
        await self.act_on_cases(work, guard)
        acted = [it for it in work if it.linked is not None]
        for it in acted:  # sent together; each is awaited below, before its effect
            async with guard(it.event):
                assert it.linked is not None
                try:
                    it.sent = await self.ticket_events.send(
                        key=it.linked.ticket_key.encode(), value=it.linked)
                except KafkaError as exc:
                    await self.retry_later(it, f"ticket event not written: "
                                           f"{type(exc).__name__}: {exc}", cause="kafka")
        for it in acted:
            if it.sent is not None:
                async with guard(it.event):
                    await self.finish(it)

    async def begin(self, event: Any, d: Decision, attempt: int) -> _Item | None:
        """The decision's work, or None: it does not act on the desk, or a redelivery of a
        decision already acted on (its outage report is sent again, see the docstring).
        Writes the pending effect (flushed by the batch before any desk call), so that a
        redelivery after a crash knows that a ticket found for this case may be its own."""
        if not d.verdict.acts:
            return None
        in_event(event)
        m = d.mention
        done = self.effects.get(m.ref)
        item = _Item(event=event, d=d, attempt=attempt, resumed=bool(done))
        if done and not str(done).startswith(PENDING):
            self.sink.count("desk.skipped_redelivery")
            desk_key, _, ticket_id = str(done).partition(":")
            if desk_key == self.desk.key and ticket_id:
                try:
                    await self.report_outage(d, Ticket(id=ticket_id,
                                                       url=self.desk.ticket_url(ticket_id)))
                except KafkaError as exc:
                    await self.retry_later(item, f"outage report not written: "
                                           f"{type(exc).__name__}: {exc}", cause="kafka")
            return None
        if not done:
            self.effects[m.ref] = f"{PENDING}{d.case_key or m.ref}"
        return item

    async def act_on_cases(self, work: Sequence[_Item], guard: Guard) -> None:
        """Call the desk for every decision of the batch: each case's decisions in order
        (its second mention joins the ticket its first opened), up to ``concurrency`` cases
        at a time, so that one ticket's desk round trip does not wait for another's."""
        by_case: dict[str, list[_Item]] = {}
        for it in work:
            by_case.setdefault(it.d.case_key or it.d.mention.ref, []).append(it)
        slots = asyncio.Semaphore(self.concurrency)

        async def case(items: list[_Item]) -> None:
            async with slots:
                for it in items:
                    async with guard(it.event):
                        await self.act_on(it)

        await asyncio.gather(*(case(items) for items in by_case.values()))

    async def act_on(self, it: _Item) -> None:
        """Call the desk for one decision and make its ``linked`` event (none when the
        decision went to retry or to the dead letters instead)."""
        d, m = it.d, it.d.mention
        try:
            ticket = await self.act(d, resumed=it.resumed)
        except RetriableError as exc:
            await self.retry_later(it, f"desk unavailable: {exc}", cause=error_cause(exc))
            return
        except KafkaError as exc:
            await self.retry_later(it, f"ticket event not written: {type(exc).__name__}: "
                                   f"{exc}", cause="kafka")
            return
        except ConnectorError as exc:
            log.error("desk refused %s: %s", m.ref, exc)
            self.sink.count("desk.refused", cause=error_cause(exc))
            await self.sink.dead_letter_record("decisions", message_key(it.event, d),
                                               d.dumps(), f"desk refused: {exc}")
            return
        in_event(it.event)
        if d.case_key:
            self.cases[d.case_key] = ticket.id
        it.ticket = ticket
        it.linked = TicketEvent(desk=self.desk.key, ticket_id=ticket.id, kind="linked",
                                ticket_url=ticket.url, mention=m, verdict=str(d.verdict),
                                reply_allowed=d.verdict.may_reply and not d.sensitive
                                and not d.hurtful, at=time.time())

    async def finish(self, it: _Item) -> None:
        """Once its ``linked`` event is acknowledged: a late link's status, the outage
        report, then the effect (a failure before it leaves the decision to its retry)."""
        assert it.sent is not None and it.ticket is not None and it.linked is not None
        try:
            await it.sent  # in Kafka (acknowledged) before the effect is recorded
            if it.attempt or it.resumed:
                await self.late_status(it.linked)
            await self.report_outage(it.d, it.ticket)  # after the linked event
        except KafkaError as exc:
            await self.retry_later(it, f"ticket event not written: {type(exc).__name__}: "
                                   f"{exc}", cause="kafka")
            return
        except RetriableError as exc:
            await self.retry_later(it, f"desk unavailable: {exc}", cause=error_cause(exc))
            return
        except ConnectorError as exc:
            log.warning("no status for %s after a late link: %s", it.ticket.id, exc)
        in_event(it.event)
        self.effects[it.d.mention.ref] = f"{self.desk.key}:{it.ticket.id}"

    async def report_outage(self, d: Decision, ticket: Ticket) -> None:
        """Send an outage report, with its ticket, to be counted with its wave (acknowledged
        before the effect is recorded); anything else sends nothing."""
        if self.outages is None or self.settings is None or not is_report(d):
            return
        report = OutageReport(decision=d, desk=self.desk.key, ticket_id=ticket.id,
                              ticket_url=ticket.url,
                              reply_allowed=d.verdict.may_reply and not d.sensitive
                              and not d.hurtful)
        key = wave_key(report_time(d), self.settings())
        await (await self.outages.send(key=key.encode(), value=report))
        self.sink.count("desk.outage_reported")

    async def write_event(self, ev: TicketEvent) -> None:
        delivered = await self.ticket_events.send(
            key=ev.ticket_key.encode(), value=ev)
        await delivered

    async def late_status(self, linked: TicketEvent) -> None:
        """A link written late (after a retry) may follow the ticket's solved event, which
        found no one to answer then: say again that it is solved, so the customer is
        answered (the close-loop answers each customer of a ticket once)."""
        status = await self.desk.status(linked.ticket_id)
        if status in DONE_STATUSES:
            await self.write_event(TicketEvent(
                desk=linked.desk, ticket_id=linked.ticket_id, kind="status", status=status,
                ticket_url=linked.ticket_url, at=time.time()))
            self.sink.count("desk.late_link_solved")

    async def retry_later(self, it: _Item, reason: str, *, cause: str = "other") -> None:
        """Send the decision to ``decisions-retry`` for its next try after a delay, or, after
        the last one, to ``decisions-dlq`` with the reason (``cause``: the metrics' label,
        see ``error_cause``)."""
        d = it.d
        await send_later(self.sink, self.decisions_retry, message_key(it.event, d), d, d,
                         attempt=it.attempt, delays=self.retry_delays, who=d.mention.ref,
                         reason=reason, cause=cause)


async def send_later(sink: Sink, retry: TopicT, key: str, value: Any, d: Decision, *,
                     attempt: int, delays: Sequence[float], who: str, reason: str,
                     cause: str) -> None:
    """Send ``value`` back to ``retry`` for try ``attempt + 1`` after the next of ``delays``
    (its headers say when, and why), or, once they are spent, the decision ``d`` to
    ``decisions-dlq`` with the reason (``router dlq replay decisions`` re-drives it).
    ``who``: the mention or wave the log line and the dead letter name."""
    if attempt >= len(delays):
        sink.count("desk.gave_up", cause=cause)
        await sink.dead_letter_record(
            "decisions", key, d.dumps(),
            f"{who}: {reason} (gave up after {attempt + 1} tries; "
            "re-drive with `router dlq replay decisions`)")
        return
    wait = delays[attempt]
    log.warning("%s: %s; trying again in %.0fs (retry %d of %d)",
                who, reason, wait, attempt + 1, len(delays))
    sink.count("desk.retry_later", cause=cause)
    sent = await retry.send(
        key=key.encode(), value=value,
        headers={"attempt": str(attempt + 1).encode(),
                 "not_before": repr(time.time() + wait).encode(),
                 "reason": reason[:500].encode("utf-8", "replace")})
    await sent


def error_cause(exc: ConnectorError) -> str:
    """What made a desk call fail, as a metrics label: the desk's HTTP status, or
    ``other`` (a timeout, a refused connection, a locked file)."""
    return str(exc.status_code) if exc.status_code else "other"


def message_key(event: Any, d: Decision) -> str:
    """The decision's Kafka key (its author), so a retry or a replay lands on the same
    partition as the tables it writes."""
    key = getattr(getattr(event, "message", None), "key", None)
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    return str(key) if key else f"{d.mention.network}:{d.mention.author.id}"


async def wait_until(not_before: float) -> None:
    """Sleep until ``not_before`` (a retry's time), at most ``MAX_RETRY_WAIT``."""
    wait = not_before - time.time()
    if wait > 0:
        await asyncio.sleep(min(wait, MAX_RETRY_WAIT))


def retry_state(headers: Mapping[str, Any] | Iterable[tuple[str, Any]] | None
                ) -> tuple[int, float]:
    """(attempt, not_before) from a ``decisions-retry`` message's headers."""
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    found = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in items}
    try:
        return int(found.get("attempt", "1")), float(found.get("not_before", "0"))
    except ValueError:
        return 1, 0.0


def register(rt: Runtime) -> None:
    steps: list[Escalate] = []

    async def step() -> Escalate:
        """One step for both agents, built once the desk is set up (before the worker)."""
        if not steps:
            await rt.ready()
            steps.append(Escalate(
                desk=rt.desk, effects=rt.tables.effects, cases=rt.tables.cases,
                ticket_events=rt.topics.ticket_events,
                decisions_retry=rt.topics.decisions_retry,
                retry_delays=rt.settings.decision_retry_delays,
                flush=rt.app.producer.flush, sink=rt, outages=rt.topics.outages,
                settings=rt.policy_settings, concurrency=rt.settings.desk_concurrency))
        return steps[0]

    def guard(event: Any) -> AsyncContextManager[None]:
        return rt.guard("decisions", event)

    @rt.app.agent(rt.topics.decisions, name="escalate", concurrency=1)
    async def escalate(stream: Any) -> None:
        escalation = await step()  # outside any guard: a failure stops the worker
        topic = rt.topics.decisions.get_topic_name()
        async for events in stream.take_events(min(rt.settings.batch_size, MAX_BATCH),
                                               within=rt.settings.batch_timeout):
            # the whole batch is work (its flush, its desk calls, its acks): the stall
            # watchdog must not take a slow desk or a slow flush for an idle agent
            with rt.working(topic):
                await escalation.handle_batch([(e, e.value, 0) for e in events], guard)

    @rt.app.agent(rt.topics.decisions_retry, name="escalate_retry", concurrency=1)
    async def escalate_retry(stream: Any) -> None:
        escalation = await step()
        async for event in stream.events():
            async with rt.guard("decisions", event):
                attempt, not_before = retry_state(event.message.headers)
                await wait_until(not_before)  # later retries of the partition wait behind
                await escalation.handle(event, event.value, attempt=attempt)
