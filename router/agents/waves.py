"""Waves: one problem ticket per outage wave, every report of it an incident of that ticket.

Reads ``outages`` (keyed by wave, see ``router.incidents``): every report of a wave reaches
this one agent, whichever partition its author's mentions go to. Each report is counted in
the ``waves`` table in the order it arrives; the reports before the wave is an incident wait
there (``pending``). The report that makes the count reach ``incident_min_reports`` opens
the problem ticket (once: the table, and the desk's external id
``social-router:incident:outage:<window>``), and from then on every pending report, the
first ones included, and each later one as it comes, is attached to it:

- its own ticket is linked to the problem (``Desk.link``; a desk without links gets the
  note only);
- a note on the problem says its number in the wave ("Report 4 of this outage"), in order,
  with an idempotency key per report (a redelivery adds no second note);
- a ``linked`` event puts the reporter on the problem ticket, then an ``unlinked`` event
  takes them off their own: solving the problem answers every reporter once, with the
  problem's link, and a desk that solves the incidents with their problem (Zendesk, the
  embedded desk) answers no one twice. Escalate wrote the report's own ``linked`` event
  before it sent the report here, so the ``unlinked`` always comes after it.

Every step is safe to repeat. A desk that is unavailable sends the report to
``outages-retry`` for another try after each of ``decision_retry_delays``; ``waves_retry``
waits there, so the reports on ``outages`` are never held back behind one that waits (what
is pending is attached by whichever comes first); after the last try, to
``decisions-dlq``, from where ``router dlq replay decisions`` sends the decision to
escalate, which sends the report here again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aiokafka.errors import KafkaError
from faust.types import TopicT

from connectors.desks.base import CommentBody, Desk, Ticket
from connectors.errors import ConnectorError, NotSupported, RetriableError
from vocab.records import Decision, TicketEvent
from vocab.verdicts import Verdict

from .. import incidents
from ..drafts import draft_for
from ..incidents import OutageReport
from ..settings import Settings
from ..tables import Table, in_event
from . import Sink
from .escalate import error_cause, external_id, retry_state, send_later, wait_until

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)


def problem_decision(key: str, count: int, d: Decision, settings: Settings) -> Decision:
    """The decision the problem ticket is drafted from: the report that made the wave an
    incident, as an ``incident`` with the wave's case and count."""
    return Decision(mention=d.mention, verdict=Verdict.INCIDENT, scores=dict(d.scores),
                    reasons=[incidents.problem_reason(count, settings), *d.reasons[1:]][:8],
                    category=d.category, priority="urgent", hurtful=d.hurtful,
                    sensitive=d.sensitive, case_key=incidents.problem_case(key),
                    decided_at=d.decided_at, model_version=d.model_version)


def kept(report: OutageReport) -> dict[str, Any]:
    """A pending report as the table keeps it (JSON; without the thread, which only the
    report's own ticket shows)."""
    data: dict[str, Any] = json.loads(report.dumps())
    data["decision"]["thread"] = []
    return data


class Waves:
    """The wave step for one outage report."""

    def __init__(self, *, desk: Desk, waves: Table[dict[str, Any]], ticket_events: TopicT,
                 retry: TopicT, settings: Callable[[], Settings],
                 retry_delays: Sequence[float], sink: Sink) -> None:
        self.desk = desk
        self.waves = waves  # wave key -> {"count", "seen", "pending", "problem"}
        self.ticket_events = ticket_events
        self.retry = retry  # where a report waits for another try (outages-retry)
        self.settings = settings
        self.retry_delays = retry_delays
        self.sink = sink

    async def handle(self, event: Any, report: OutageReport, *, attempt: int = 0) -> None:
        """Count one report and, once the wave is an incident, attach what is pending."""
        in_event(event)
        key = message_key(event, report, self.settings())
        counted = incidents.count_report(self.waves[key], report.decision.mention.ref)
        if counted.new:
            state = counted.state
            state["pending"] = [*state.get("pending", []),
                                {"number": counted.number, "report": kept(report)}]
            self.waves[key] = state
            self.sink.count("desk.wave_report")
        if not incidents.has_incident(counted.count, self.settings()):
            return
        try:
            await self.attach_pending(key, report)
        except RetriableError as exc:
            await self.retry_later(event, key, report, attempt, f"desk unavailable: {exc}",
                                   cause=error_cause(exc))
        except KafkaError as exc:
            await self.retry_later(event, key, report, attempt,
                                   f"ticket event not written: {type(exc).__name__}: {exc}",
                                   cause="kafka")
        except ConnectorError as exc:
            log.error("desk refused outage wave %s: %s", key, exc)
            self.sink.count("desk.refused", cause=error_cause(exc))
            await self.sink.dead_letter_record(
                "decisions", key, report.decision.dumps(),
                f"outage wave {key}: desk refused: {exc} (re-drive with `router dlq replay "
                "decisions`)")

    async def problem_ticket(self, key: str, report: OutageReport) -> Ticket:
        """The wave's problem ticket: the one in the table, the one the desk has under the
        wave's external id, or a new one (opened once)."""
        known = self.waves[key].get("problem")
        if known:
            return Ticket(id=str(known["id"]), url=str(known["url"]))
        desk = self.desk
        case = incidents.problem_case(key)
        ticket = await desk.find_by_external_id(external_id(case))
        if ticket is None:
            count = int(self.waves[key].get("count", 0))
            d = problem_decision(key, count, report.decision, self.settings())
            ticket = await desk.open(draft_for(d, external_id=external_id(case)))
            self.sink.count("desk.incident_opened")
        self.waves[key] = dict(self.waves[key], problem={"id": ticket.id, "url": ticket.url})
        return ticket

    async def attach_pending(self, key: str, report: OutageReport) -> None:
        """Attach every pending report to the problem, in their order, each taken off the
        pending list once attached (a failure leaves the rest for the next try)."""
        problem = await self.problem_ticket(key, report)
        for entry in list(self.waves[key].get("pending", [])):
            await self.attach(problem, int(entry["number"]),
                              OutageReport.from_data(entry["report"]))
            state = self.waves[key]
            self.waves[key] = dict(state, pending=[
                e for e in state.get("pending", []) if e["number"] != entry["number"]])

    async def attach(self, problem: Ticket, number: int, r: OutageReport) -> None:
        """Make one report an incident of the problem (each step safe to repeat)."""
        desk = self.desk
        m = r.decision.mention
        if r.ticket_id != problem.id:
            try:
                await desk.link(r.ticket_id, problem.id)
            except NotSupported:
                pass  # the note below says which ticket it is
        await desk.comment(problem.id, CommentBody(
            text=incidents.note(number, r.decision, r.ticket_id, r.ticket_url), mention=m),
            public=False, idempotency_key=f"wave-report:{m.ref}")
        self.sink.count("desk.incident_linked")
        # onto the problem first, then off its own ticket: never on neither
        await self.write(TicketEvent(
            desk=desk.key, ticket_id=problem.id, kind="linked", ticket_url=problem.url,
            mention=m, verdict=str(Verdict.INCIDENT), reply_allowed=r.reply_allowed,
            at=time.time()))
        if r.ticket_id != problem.id:
            await self.write(TicketEvent(desk=r.desk, ticket_id=r.ticket_id, kind="unlinked",
                                         mention=m, at=time.time()))

    async def write(self, ev: TicketEvent) -> None:
        delivered = await self.ticket_events.send(key=ev.ticket_key.encode(), value=ev)
        await delivered

    async def retry_later(self, event: Any, key: str, report: OutageReport, attempt: int,
                          reason: str, *, cause: str) -> None:
        """Send the report to ``outages-retry`` for another try after a delay, or after the
        last one its decision to ``decisions-dlq`` with the reason."""
        await send_later(self.sink, self.retry, key, report, report.decision,
                         attempt=attempt, delays=self.retry_delays, who=f"outage wave {key}",
                         reason=reason, cause=cause)


def message_key(event: Any, report: OutageReport, settings: Settings) -> str:
    """The report's wave: its message key (the table's partition is the key's)."""
    key = getattr(getattr(event, "message", None), "key", None)
    if isinstance(key, bytes) and key:
        return key.decode("utf-8", "replace")
    return incidents.wave_key(incidents.report_time(report.decision), settings)


def attempt_of(headers: Any) -> tuple[int, float]:
    """(attempt, not_before) of a report sent for another try; (0, 0) the first time."""
    items = headers.items() if isinstance(headers, dict) else (headers or ())
    if not any(k == "attempt" for k, _ in items):
        return 0, 0.0
    return retry_state(headers)


def register(rt: Runtime) -> None:
    steps: list[Waves] = []

    async def step() -> Waves:
        """One step for both agents, built once the desk is set up (before the worker)."""
        if not steps:
            await rt.ready()
            steps.append(Waves(desk=rt.desk, waves=rt.tables.waves,
                               ticket_events=rt.topics.ticket_events,
                               retry=rt.topics.outages_retry, settings=rt.policy_settings,
                               retry_delays=rt.settings.decision_retry_delays, sink=rt))
        return steps[0]

    async def one(wave: Waves, event: Any, *, wait: bool) -> None:
        """Handle one report (``wait``: first until its ``not_before``, on the retry topic,
        whose later reports may wait behind it; an earlier worker's report sent back to
        ``outages`` itself is tried at once)."""
        report: OutageReport = event.value
        with rt.working(event.message.topic):
            try:
                attempt, not_before = attempt_of(event.message.headers)
                if wait:
                    await wait_until(not_before)
                await wave.handle(event, report, attempt=attempt)
            except Exception as exc:  # noqa: BLE001 - one report's bug stays its own
                log.exception("waves: unexpected error")
                # the decision, not the report: `router dlq replay decisions` re-drives it
                await rt.dead_letter_record(
                    "decisions", message_key(event, report, rt.settings),
                    report.decision.dumps(), f"outage wave: internal error: "
                    f"{type(exc).__name__}: {exc}")

    @rt.app.agent(rt.topics.outages, name="waves", concurrency=1)
    async def waves(stream: Any) -> None:
        wave = await step()  # outside any guard: a desk that cannot start stops the worker
        async for event in stream.events():
            await one(wave, event, wait=False)

    @rt.app.agent(rt.topics.outages_retry, name="waves_retry", concurrency=1)
    async def waves_retry(stream: Any) -> None:
        wave = await step()
        async for event in stream.events():
            await one(wave, event, wait=True)
