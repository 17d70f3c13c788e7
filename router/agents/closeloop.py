"""Close the loop: when a ticket linked to mentions is solved, one reply per customer.

Ticket events are keyed by desk ticket. ``linked`` events (from escalate) add whom to answer
to the ``links`` table; a ``status`` event to solved or closed composes one reply per
customer, in the thread they wrote in, with the ticket's link, and sends it to ``replies``.
The ``replied`` table makes a second solved event (or a redelivery) send nothing more, and a
reply's id is its mention's (``reply_id``): the output posts an id once, so a mention answered
through two tickets is answered once. That is the case of an outage report: the ``waves``
agent moves its reporter onto the wave's problem ticket (``linked`` there, ``unlinked`` off
their own), and a desk that solves the incidents with their problem, or an agent who solved
the report's own ticket first, must not answer them twice.

A ``linked`` event can arrive after the ticket's solved event (an agent solved the ticket
before the router's link was written, or while it was retried): ``replied`` also remembers
that the ticket's latest status is done (``SOLVED``), so the late customer is answered then;
a later non-done status (reopened) clears it.

Agents' judgement comes back here too, as labels on the compacted ``feedback`` topic keyed
by mention (one per mention: a later judgement replaces an earlier one, never adds to it):

- a ticket an agent marked not actionable (the desk's feedback tag or field, carried by the
  status event as ``not_actionable``) labels every mention linked to it "support could not
  help", and its customers get no reply when it is solved ("if we can't help, we shut up");
  ``replied`` remembers the mark (``NOT_ACTIONABLE``) until the tag is taken off;
- a ticket solved without that mark labels every mention linked to it "support could help"
  (the router's reply is the public answer), a mention linked after the solve too;
- an ``unlinked`` event (an agent moved the mention to the ticket it belongs on) takes it
  off this ticket's list: it is answered, and judged, with the other ticket.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from faust.types import TopicT

from connectors.desks.base import DONE_STATUSES
from vocab.records import Label, Mention, Reply, TicketEvent

from ..tables import Table, in_event
from . import Sink

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)

SOLVED = "#solved"  # in ``replied[ticket]``: its latest status is solved or closed
NOT_ACTIONABLE = "#not-actionable"  # in ``replied[ticket]``: an agent marked it so


def reply_id(mention_ref: str) -> str:
    """One id per mention answered: the output posts an id once, so a mention is never
    answered twice, whichever ticket's solve answers it (an outage report is on its own
    ticket, then on the wave's problem ticket, and a desk may solve both)."""
    return hashlib.sha256(f"reply|{mention_ref}".encode()).hexdigest()[:32]


class CloseLoop:
    """Who to answer per ticket, and one reply per customer when it is solved."""

    def __init__(self, *, links: Table[list[dict[str, Any]]], replied: Table[list[str]],
                 replies: TopicT, compose: Callable[[Mention, str], str], sink: Sink,
                 feedback: TopicT | None = None) -> None:
        self.links = links
        self.replied = replied
        self.replies = replies
        self.feedback = feedback
        self.compose = compose
        self.sink = sink

    async def handle(self, event: Any, ev: TicketEvent) -> None:
        in_event(event)
        key = ev.ticket_key
        if ev.kind == "linked" and ev.mention is not None:
            targets = list(self.links[key])
            if not any(t["mention"]["id"] == ev.mention.id
                       and t["mention"]["network"] == ev.mention.network for t in targets):
                targets.append({"mention": ev.mention.to_json_dict(),
                                "reply_allowed": ev.reply_allowed,
                                "ticket_url": ev.ticket_url, "verdict": ev.verdict})
                self.links[key] = targets
                if NOT_ACTIONABLE in self.replied[key]:  # joined a ticket marked so
                    await self.label(key, targets[-1:], actionable=False)
                if SOLVED in self.replied[key]:  # linked after it was solved
                    self.sink.count("closeloop.linked_after_solved")
                    await self.solved(key, ev)
            return
        if ev.kind == "unlinked" and ev.mention is not None:  # moved to another ticket
            targets = self.links[key]
            kept = [t for t in targets if not (t["mention"]["id"] == ev.mention.id
                                               and t["mention"]["network"] == ev.mention.network)]
            if len(kept) != len(targets):
                self.links[key] = kept
                self.sink.count("closeloop.unlinked")
            return
        if ev.kind != "status":
            return
        marks = set(self.replied[key])
        if ev.not_actionable is not None and (NOT_ACTIONABLE in marks) != ev.not_actionable:
            marks ^= {NOT_ACTIONABLE}  # an agent put the mark on, or took it off
            self.replied[key] = sorted(marks)
            if ev.not_actionable:
                self.sink.count("closeloop.marked_not_actionable")
                await self.label(key, self.links[key], actionable=False)
            elif SOLVED in marks and ev.status in DONE_STATUSES:  # unmarked once solved
                await self.label(key, self.links[key], actionable=True)
        if ev.status not in DONE_STATUSES:
            if SOLVED in marks:  # reopened: the next link waits for the next solve
                self.replied[key] = sorted(marks - {SOLVED})
            return
        await self.solved(key, ev)

    async def label(self, key: str, targets: list[dict[str, Any]], *,
                    actionable: bool) -> None:
        """An agent's judgement of the mentions on ticket ``key``, one label per mention."""
        if self.feedback is None:
            return
        desk = key.split(":", 1)[0]
        for t in targets:
            m = t["mention"]
            ref = f"{m['network']}:{m['id']}"
            label = Label(mention_ref=ref, actionable=actionable, source=desk,
                          text=str(m.get("text", "")), verdict=str(t.get("verdict", "")),
                          by=f"{key} (desk)", at=time.time())
            await self.feedback.send(key=ref.encode(), value=label)
            self.sink.count("feedback.labels", source=desk,
                            actionable="yes" if actionable else "no")

    async def solved(self, key: str, ev: TicketEvent) -> None:
        targets = self.links[key]
        done = set(self.replied[key])
        fresh = SOLVED not in done  # the first done status since it was opened or reopened
        done.add(SOLVED)
        if NOT_ACTIONABLE in done:  # an agent said support cannot help: no reply
            if targets:
                self.sink.count("closeloop.not_actionable_no_reply")
            self.replied[key] = sorted(done)
            return
        # "Support could help": every mention on it when it is solved, a mention linked
        # after that on its own; another event of a solved ticket (a comment) labels nothing.
        if ev.kind == "linked" and ev.mention is not None:
            await self.label(key, [t for t in targets if t["mention"]["id"] == ev.mention.id
                                   and t["mention"]["network"] == ev.mention.network],
                             actionable=True)
        elif fresh:
            await self.label(key, targets, actionable=True)
        if not targets:
            self.sink.count("closeloop.solved_without_mentions")
            self.replied[key] = sorted(done)
            return
        # One reply per customer: to their latest mention on this ticket.
        latest: dict[str, dict[str, Any]] = {}
        for t in targets:
            m = t["mention"]
            latest[f"{m['network']}:{m['author']['id']}"] = t
        for customer, t in latest.items():
            if customer in done:
                continue
            m = Mention.from_data(t["mention"])
            if not any(x["reply_allowed"] for x in targets
                       if f"{x['mention']['network']}:{x['mention']['author']['id']}"
                       == customer):
                log.info("no automatic reply to %s on %s (review or sensitive)", customer, key)
                self.sink.count("closeloop.reply_not_allowed")
                done.add(customer)
                continue
            link = ev.ticket_url or t.get("ticket_url") or ""
            text = self.compose(m, link)
            reply = Reply(id=reply_id(m.ref), network=m.network,
                          in_reply_to=m.id, conversation_id=m.conversation_id,
                          author_handle=m.author.handle, text=text, ticket_url=link,
                          ticket_key=key, lang=m.lang, created_at=time.time())
            await self.replies.send(key=reply.id.encode(), value=reply)
            self.sink.count("closeloop.reply_queued")
            done.add(customer)
        self.replied[key] = sorted(done)


def register(rt: Runtime) -> None:
    step = CloseLoop(links=rt.tables.links, replied=rt.tables.replied,
                     replies=rt.topics.replies, compose=rt.compose, sink=rt,
                     feedback=rt.topics.feedback)

    @rt.app.agent(rt.topics.ticket_events, name="closeloop", concurrency=1)
    async def closeloop(stream: Any) -> None:
        async for event in stream.events():
            async with rt.guard("ticket_events", event):
                await step.handle(event, event.value)
