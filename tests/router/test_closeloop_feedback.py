"""Agents' judgement from the desk becomes labels (issue #10), in the close-loop step alone:
a ticket an agent marks not actionable labels its mentions "support could not help" and its
customers get no reply; a ticket solved unmarked labels them "could help"; one label per
mention, whatever is redelivered."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from router.agents.closeloop import CloseLoop
from vocab.records import Author, Label, Mention, Reply, TicketEvent


class Topic:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Any]] = []

    async def send(self, *, key: bytes, value: Any) -> None:
        self.sent.append((key, value))


class Sink:
    def __init__(self) -> None:
        self.counts: dict[str, int] = defaultdict(int)

    def count(self, name: str, n: int = 1, **labels: str) -> None:
        self.counts[name] += n


class Event:  # what in_event needs: something to point at
    pass


def mention(mid: str, handle: str) -> Mention:
    return Mention(id=mid, network="generic", text=f"@acme my order {mid} never came",
                   author=Author(id=f"u-{handle}", handle=handle), created_at="2026-12-07")


def linked(ticket: str, m: Mention, verdict: str = "open") -> TicketEvent:
    return TicketEvent(desk="zendesk", ticket_id=ticket, kind="linked", mention=m,
                       ticket_url=f"https://acme.zendesk.com/agent/tickets/{ticket}",
                       verdict=verdict)


def status(ticket: str, value: str, not_actionable: bool | None = None) -> TicketEvent:
    return TicketEvent(desk="zendesk", ticket_id=ticket, kind="status", status=value,
                       not_actionable=not_actionable)


def loop() -> tuple[CloseLoop, Topic, Topic, Sink]:
    replies, feedback, sink = Topic(), Topic(), Sink()
    step = CloseLoop(links=defaultdict(list), replied=defaultdict(list), replies=replies,
                     compose=lambda m, link: f"@{m.author.handle} solved: {link}", sink=sink,
                     feedback=feedback)
    return step, replies, feedback, sink


def run(step: CloseLoop, *events: TicketEvent) -> None:
    async def go() -> None:
        for ev in events:
            await step.handle(Event(), ev)

    asyncio.run(go())


def labels(feedback: Topic) -> dict[str, Label]:
    """The compacted topic as a reader sees it: the latest label per key."""
    return {key.decode(): value for key, value in feedback.sent}


def test_a_ticket_marked_not_actionable_labels_its_mentions_and_answers_nobody() -> None:
    step, replies, feedback, sink = loop()
    a, b = mention("1", "ann"), mention("2", "bob")
    run(step, linked("7", a), linked("7", b, verdict="link"),
        status("7", "open", not_actionable=True), status("7", "solved", not_actionable=True))
    got = labels(feedback)
    assert set(got) == {"generic:1", "generic:2"}
    assert all(not lab.actionable and lab.source == "zendesk" for lab in got.values())
    assert got["generic:2"].verdict == "link" and "order 2" in got["generic:2"].text
    assert replies.sent == []  # if we can't help, we shut up
    assert sink.counts["closeloop.not_actionable_no_reply"] == 1


def test_a_ticket_solved_unmarked_labels_its_mentions_helpful_and_answers_once() -> None:
    step, replies, feedback, sink = loop()
    a, late = mention("1", "ann"), mention("3", "cy")
    run(step, linked("8", a), status("8", "solved", not_actionable=False),
        status("8", "solved", not_actionable=False),  # redelivered, or a comment on it
        linked("8", late))  # linked after the solve: labelled (and answered) on its own
    assert {ref: lab.actionable for ref, lab in labels(feedback).items()} == {
        "generic:1": True, "generic:3": True}
    assert sink.counts["feedback.labels"] == 2  # each mention once
    assert [r.author_handle for _, r in replies.sent] == ["ann", "cy"]
    assert isinstance(replies.sent[0][1], Reply)


def test_a_late_mark_replaces_the_label_and_a_removed_mark_lets_the_reply_go() -> None:
    step, replies, feedback, _ = loop()
    a = mention("1", "ann")
    run(step, linked("9", a), status("9", "solved"))  # a status-only event: no tags said
    assert labels(feedback)["generic:1"].actionable is True
    run(step, status("9", "solved", not_actionable=True))  # the agent tags it afterwards
    assert labels(feedback)["generic:1"].actionable is False  # replaced, not added
    run(step, status("9", "solved", not_actionable=False))  # and takes the tag off again
    assert labels(feedback)["generic:1"].actionable is True
    step2, replies2, feedback2, _ = loop()
    run(step2, linked("10", a), status("10", "open", not_actionable=True),
        status("10", "open", not_actionable=False),  # tag taken off again
        status("10", "solved", not_actionable=False))
    assert len(replies2.sent) == 1
    assert labels(feedback2)["generic:1"].actionable is True


def test_a_post_that_joins_a_ticket_already_marked_is_labelled_too() -> None:
    step, replies, feedback, _ = loop()
    run(step, linked("14", mention("1", "ann")), status("14", "open", not_actionable=True),
        linked("14", mention("2", "bob")),  # joins after the mark, before the solve
        status("14", "solved"), linked("14", mention("3", "cy")))  # and after both
    assert {ref: lab.actionable for ref, lab in labels(feedback).items()} == {
        "generic:1": False, "generic:2": False, "generic:3": False}
    assert replies.sent == []


def test_a_status_event_that_does_not_say_keeps_the_mark() -> None:
    step, replies, _, _ = loop()
    run(step, linked("11", mention("1", "ann")), status("11", "open", not_actionable=True),
        status("11", "solved"))  # a poller that reads no tags: None, the mark stays
    assert replies.sent == []


def test_a_mention_moved_to_another_ticket_is_answered_and_judged_there_only() -> None:
    step, replies, feedback, _ = loop()
    a, b = mention("1", "ann"), mention("2", "bob")
    unlinked = TicketEvent(desk="zendesk", ticket_id="12", kind="unlinked", mention=b)
    run(step, linked("12", a), linked("12", b), unlinked, linked("13", b),
        status("12", "solved", not_actionable=True),  # ann's ticket: not for support
        status("13", "solved"))
    assert [r.author_handle for _, r in replies.sent] == ["bob"]  # once, from ticket 13
    assert {ref: lab.actionable for ref, lab in labels(feedback).items()} == {
        "generic:1": False, "generic:2": True}
