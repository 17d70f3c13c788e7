"""Escalate: act on the desk for ``open``, ``link``, ``incident`` and ``review`` verdicts.

Idempotent per mention, in three layers: the ``effects`` table (a redelivered decision is
skipped), the desk's external id (a case's ticket is found before one is opened, and desks
refuse a second ticket with the same external id), and the comment's idempotency key.

After acting, a ``linked`` ticket event tells the close-loop agent whom to answer when the
ticket is solved.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from connectors.desks.base import DONE_STATUSES, CommentBody, Ticket, TicketDraft
from connectors.errors import ConnectorError, NotSupported, RetriableError

from ..records import Decision, Mention, TicketEvent
from ..tables import in_event

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)

ACTS = ("open", "link", "incident", "review")
MAX_RETRY_WAIT = 60.0


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

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def ticket_for_case(self, d: Decision) -> Ticket | None:
        assert d.case_key
        cached = self.rt.tables.cases.get(d.case_key)
        desk = self.rt.desk
        if cached:
            return Ticket(id=str(cached), url=desk.ticket_url(str(cached)))
        return await desk.find_by_external_id(external_id(d.case_key))

    async def act(self, d: Decision) -> Ticket:
        """Open or comment on the case's ticket; safe to repeat."""
        desk = self.rt.desk
        m = d.mention
        ticket = await self.ticket_for_case(d)
        if ticket is None:
            draft = TicketDraft.from_decision(
                d, external_id=external_id(d.case_key or m.ref),
                thread=[Mention.from_data(p) for p in d.thread])
            ticket = await desk.open(draft)
            self.rt.count("desk.opened")
            if d.verdict == "incident":
                self.rt.count("desk.incident_opened")
                await self.link_earlier_reports(d, ticket)
        else:
            await desk.comment(ticket.id, CommentBody(text=comment_text(d), mention=m),
                               public=False, idempotency_key=f"mention:{m.ref}")
            self.rt.count("desk.linked")
            status = await desk.status(ticket.id)
            if status in DONE_STATUSES and hasattr(desk, "set_status"):
                desk.set_status(ticket.id, "open")  # a new request reopens it
        return ticket

    async def link_earlier_reports(self, d: Decision, problem: Ticket) -> None:
        """The wave's first reports opened their own tickets: make them the problem's
        incidents (so solving the problem answers them too), or say so on the problem
        ticket where the desk has no links."""
        desk = self.rt.desk
        for case_key in d.related:
            child = await desk.find_by_external_id(external_id(case_key))
            if child is None or child.id == problem.id:
                continue
            try:
                await desk.link(child.id, problem.id)
                self.rt.count("desk.incident_linked")
            except NotSupported:
                await desk.comment(problem.id, CommentBody(
                    text=f"Earlier report of this outage: ticket {child.id} ({child.url})"),
                    public=False, idempotency_key=f"related:{case_key}")

    async def handle(self, event: Any, d: Decision) -> None:
        if d.verdict not in ACTS:
            return
        in_event(event)
        m = d.mention
        if self.rt.tables.effects.get(m.ref):
            self.rt.count("desk.skipped_redelivery")
            return
        ticket = await self.with_retries(d)
        if ticket is None:
            return
        in_event(event)
        if d.case_key:
            self.rt.tables.cases[d.case_key] = ticket.id
        self.rt.tables.effects[m.ref] = f"{self.rt.desk.key}:{ticket.id}"
        ev = TicketEvent(desk=self.rt.desk.key, ticket_id=ticket.id, kind="linked",
                         ticket_url=ticket.url, mention=m,
                         reply_allowed=d.verdict != "review" and not d.sensitive
                         and not d.hurtful, at=time.time())
        await self.rt.topics["ticket_events"].send(key=ev.ticket_key.encode(), value=ev)

    async def with_retries(self, d: Decision) -> Ticket | None:
        """Act, waiting out a desk outage (bounded per wait); fatal errors go to the DLQ."""
        delay = 1.0
        while True:
            try:
                return await self.act(d)
            except RetriableError as exc:
                wait = min(MAX_RETRY_WAIT, exc.retry_after or delay)
                log.warning("desk unavailable (%s); retrying in %.1fs", exc, wait)
                self.rt.count("desk.retry")
                await asyncio.sleep(wait)
                delay = min(MAX_RETRY_WAIT, delay * 2)
            except ConnectorError as exc:
                log.error("desk refused %s: %s", d.mention.ref, exc)
                await self.rt.dead_letter_record("decisions", d.mention.author.id,
                                                 d.dumps(), f"desk refused: {exc}")
                return None


def register(rt: Runtime) -> None:
    step = Escalate(rt)

    @rt.app.agent(rt.topics["decisions"], name="escalate", concurrency=1)
    async def escalate(stream: Any) -> None:
        async for event in stream.events():
            await rt.ready()
            async with rt.guard("decisions", event):
                await step.handle(event, event.value)
