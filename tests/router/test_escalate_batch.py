"""Escalate acts on decisions in batches (issue #12), on a real embedded desk, without Kafka:
one flush for the batch's pending effects before any desk call, the desk called in the
batch's order (a case's second mention joins the ticket its first one opened), and a
failure on one decision sends that one to its retry while the rest of the batch gets its
tickets. The same on a real broker with a real worker: tests/router/test_effects.py."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

from connectors.desks.base import TicketDraft
from connectors.desks.embedded import EmbeddedDesk
from connectors.errors import RetriableError
from router.agents.escalate import PENDING, Escalate
from vocab.records import Author, Decision, Mention, TicketEvent
from vocab.verdicts import Verdict

from .test_waves import Event, Sink, Topic


def decision(i: int, case: str, verdict: Verdict = Verdict.OPEN) -> Decision:
    m = Mention(id=f"m{i}", network="generic", text=f"@acme my order {i} never arrived",
                author=Author(id=case, handle=case), created_at="2027-01-15T08:00:00Z")
    return Decision(mention=m, verdict=verdict, scores={"actionable": 0.95},
                    reasons=["word 'arrived' (+0.9)"], case_key=f"author:{case}")


class Recorder:
    """The step's Kafka and tables, logging the order of what it does."""

    def __init__(self, desk: EmbeddedDesk, concurrency: int = 1) -> None:
        self.log: list[str] = []
        self.effects: dict[str, str] = {}
        self.events = self.Logged("linked", self.log)
        self.retry = Topic()
        self.sink = Sink()

        async def flush() -> None:
            self.log.append(f"flush {sorted(self.effects.items())}")

        self.step = Escalate(desk=desk, effects=self.effects, cases={},  # type: ignore[arg-type]
                             ticket_events=self.events, decisions_retry=self.retry,  # type: ignore[arg-type]
                             retry_delays=[5.0], flush=flush, sink=self.sink,  # type: ignore[arg-type]
                             concurrency=concurrency)

    class Logged(Topic):
        def __init__(self, name: str, log: list[str]) -> None:
            super().__init__()
            self.name, self.log = name, log

        async def send(self, *, key: bytes, value: Any,
                       headers: dict[str, bytes] | None = None) -> asyncio.Future[None]:
            if isinstance(value, TicketEvent):
                self.log.append(f"{self.name} {value.mention.ref if value.mention else ''}")
            return await super().send(key=key, value=value, headers=headers)

    def run(self, *decisions: Decision) -> None:
        batch = [(Event(f"generic:{d.mention.author.id}".encode()), d, 0) for d in decisions]
        asyncio.run(self.step.handle_batch(batch))


def desk_rows(desk: EmbeddedDesk) -> list[tuple[str, str]]:
    with sqlite3.connect(desk.config.path) as db:
        return [(str(r[0]), r[1]) for r in db.execute(
            "SELECT id, external_id FROM tickets ORDER BY id")]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_batch_flushes_its_pending_effects_once_and_a_case_joins_its_own_first_ticket(
        desk: EmbeddedDesk, concurrency: int) -> None:
    r = Recorder(desk, concurrency)
    calls: list[str] = []
    opened = desk.open

    async def open_logged(draft: TicketDraft) -> Any:
        calls.append(f"open {draft.external_id}")
        r.log.append("desk open")
        return await opened(draft)

    desk.open = open_logged  # type: ignore[method-assign]
    r.run(decision(1, "ann"), decision(2, "bob"), decision(3, "ann"))

    # every pending effect is in Kafka before the first desk call, in one flush
    assert r.log[0] == ("flush [('generic:m1', 'pending:author:ann'), "
                        "('generic:m2', 'pending:author:bob'), "
                        "('generic:m3', 'pending:author:ann')]")
    assert [x for x in r.log if x.startswith("flush")] == [r.log[0]]
    assert r.log[1] == "desk open"
    # ann's second mention joined the ticket her first one opened: two tickets, not three
    assert sorted(calls) == ["open social-router:author:ann", "open social-router:author:bob"]
    assert [x for _, x in desk_rows(desk)] == ["social-router:author:ann",
                                               "social-router:author:bob"]
    # each mention is linked, in the batch's order, and only then is its effect recorded
    assert [x for x in r.log if x.startswith("linked")] == [
        "linked generic:m1", "linked generic:m2", "linked generic:m3"]
    assert r.effects == {"generic:m1": "embedded:1", "generic:m2": "embedded:2",
                         "generic:m3": "embedded:1"}
    assert r.sink.counts["desk.opened"] == 2 and r.sink.counts["desk.linked"] == 1


def test_a_desk_failure_on_one_decision_retries_it_and_the_rest_of_the_batch_is_acted_on(
        desk: EmbeddedDesk) -> None:
    r = Recorder(desk)
    opened = desk.open

    async def flaky_open(draft: TicketDraft) -> Any:
        if draft.external_id == "social-router:author:bob":
            raise RetriableError("desk busy (503)", status_code=503)
        return await opened(draft)

    desk.open = flaky_open  # type: ignore[method-assign]
    r.run(decision(1, "ann"), decision(2, "bob"), decision(3, "cid"))

    assert [x for _, x in desk_rows(desk)] == ["social-router:author:ann",
                                               "social-router:author:cid"]
    # bob's decision waits for its retry with its effect pending; nothing else does
    assert [(k, v.mention.ref, h and h["attempt"]) for k, v, h in r.retry.sent] == [
        (b"generic:bob", "generic:m2", b"1")]
    assert r.effects["generic:m2"] == f"{PENDING}author:bob"
    assert r.effects["generic:m1"] == "embedded:1" and r.effects["generic:m3"] == "embedded:2"

    # its retry (the same decision, one try later) opens bob's ticket and records it
    desk.open = opened  # type: ignore[method-assign]
    _, d, _ = r.retry.sent[0]
    asyncio.run(r.step.handle(Event(b"generic:bob"), d, attempt=1))
    assert [x for _, x in desk_rows(desk)][-1] == "social-router:author:bob"
    assert r.effects["generic:m2"] == "embedded:3"


def test_a_linked_event_kafka_refuses_leaves_only_that_decision_to_its_retry(
        desk: EmbeddedDesk) -> None:
    from aiokafka.errors import KafkaTimeoutError

    r = Recorder(desk)
    send = r.events.send

    async def refusing(*, key: bytes, value: Any,
                       headers: dict[str, bytes] | None = None) -> asyncio.Future[None]:
        if value.mention.ref == "generic:m1":
            failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            failed.set_exception(KafkaTimeoutError("no ack"))
            return failed
        return await send(key=key, value=value, headers=headers)

    r.events.send = refusing  # type: ignore[method-assign]
    r.run(decision(1, "ann"), decision(2, "bob"))

    assert r.effects == {"generic:m1": f"{PENDING}author:ann", "generic:m2": "embedded:2"}
    assert [v.mention.ref for _, v, _ in r.retry.sent] == ["generic:m1"]
    # the retry finds ann's ticket (it is hers: resumed, not a second ticket) and links it
    r.events.send = send  # type: ignore[method-assign]
    _, d, _ = r.retry.sent[0]
    asyncio.run(r.step.handle(Event(b"generic:ann"), d, attempt=1))
    assert len(desk_rows(desk)) == 2
    assert r.effects["generic:m1"] == "embedded:1"
    assert r.log[-1] == "linked generic:m1"


def test_a_slow_desk_call_for_one_case_does_not_hold_the_others(desk: EmbeddedDesk) -> None:
    """bob's ticket cannot open until cid's has (a desk answering one call slowly, as an
    HTTP desk does): with the default concurrency the batch gets through, and ann's two
    mentions still go in order."""
    r = Recorder(desk, concurrency=4)
    opened = desk.open
    cid_open = asyncio.Event()

    async def slow_for_bob(draft: TicketDraft) -> Any:
        if draft.external_id.endswith(":bob"):
            await asyncio.wait_for(cid_open.wait(), 10)
        ticket = await opened(draft)
        if draft.external_id.endswith(":cid"):
            cid_open.set()
        return ticket

    desk.open = slow_for_bob  # type: ignore[method-assign]
    r.run(decision(1, "ann"), decision(2, "bob"), decision(3, "ann"), decision(4, "cid"))
    assert sorted(r.effects.values()) == ["embedded:1", "embedded:1", "embedded:2",
                                          "embedded:3"]
    assert r.effects["generic:m2"] == "embedded:3"  # bob's opened after cid's
    assert r.effects["generic:m3"] == r.effects["generic:m1"]
    assert r.retry.sent == []
