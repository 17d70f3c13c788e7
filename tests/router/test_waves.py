"""Outage waves counted cluster-wide (issue #12), without Kafka: the pure counting, then the
waves step on a real embedded desk with the close-loop step reading what it writes. The same
on a real broker with reports on several partitions: tests/router/test_stream.py."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from classifiers.api import Scores
from connectors.desks.embedded import EmbeddedDesk
from connectors.errors import NotSupported, RetriableError
from router import incidents
from router.agents.closeloop import CloseLoop
from router.agents.escalate import external_id
from router.agents.waves import Waves
from router.drafts import draft_for
from router.incidents import OutageReport
from router.policy import Context, decide
from router.settings import Settings
from vocab.records import Author, Decision, Mention, Reply, TicketEvent

NOW = 1_800_000_000.0
S = Settings(incident_min_reports=3, incident_window_seconds=600)


def report_decision(i: int, *, category: str = "outage", actionable: float = 0.95,
                    at: float = NOW) -> Decision:
    m = Mention(id=f"o{i}", network="generic", text=f"@acme the site is down for me ({i})",
                author=Author(id=f"u{i}", handle=f"user{i}"), created_at="2027-01-15T08:00:00Z")
    sc = Scores(actionable=actionable, hurtful=0.0, sensitive=0.0, category=category,
                reasons=("word 'down' (+0.9)",))
    return decide(m, sc, S, Context(now=at + i))


# --- the pure part --------------------------------------------------------------------------

def test_a_report_is_an_outage_that_opened_its_own_ticket() -> None:
    assert incidents.is_report(report_decision(1))
    assert not incidents.is_report(report_decision(1, category="billing"))
    assert not incidents.is_report(report_decision(1, actionable=0.1))  # silent


def test_reports_are_numbered_in_order_and_a_redelivery_is_counted_once() -> None:
    state: dict[str, Any] = {}
    numbers = []
    for ref in ("generic:a", "generic:b", "generic:a", "generic:c"):
        counted = incidents.count_report(state, ref)
        state = counted.state
        numbers.append((counted.number, counted.new))
    assert numbers == [(1, True), (2, True), (1, False), (3, True)]
    assert state["count"] == 3 and incidents.has_incident(state["count"], S)
    assert not incidents.has_incident(2, S)


def test_the_wave_key_is_the_window_whoever_reports() -> None:
    assert incidents.wave_key(NOW, S) == incidents.wave_key(NOW + 1, S)
    assert incidents.wave_key(NOW, S) != incidents.wave_key(NOW + 600, S)
    assert incidents.wave_key(NOW, S).startswith("outage:")


# --- the waves step on the embedded desk ------------------------------------------------------

class Topic:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Any, dict[str, bytes] | None]] = []

    async def send(self, *, key: bytes, value: Any,
                   headers: dict[str, bytes] | None = None) -> asyncio.Future[None]:
        self.sent.append((key, value, headers))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class Sink:
    def __init__(self) -> None:
        self.counts: dict[str, int] = defaultdict(int)
        self.letters: list[str] = []

    def count(self, name: str, n: int = 1, **labels: str) -> None:
        self.counts[name] += n

    async def dead_letter_record(self, source: str, key: str, raw: bytes,
                                 reason: str) -> None:
        self.letters.append(reason)


class Message:
    def __init__(self, key: bytes) -> None:
        self.key = key
        self.headers = None


class Event:
    def __init__(self, key: bytes) -> None:
        self.message = Message(key)


class Wave:
    """A waves step on a real embedded desk, and a close-loop fed with every ticket event
    in the order Kafka would hand it over per ticket."""

    def __init__(self, desk: EmbeddedDesk) -> None:
        self.desk = desk
        self.events, self.retry, self.replies = Topic(), Topic(), Topic()
        self.sink = Sink()
        self.table: dict[str, dict[str, Any]] = defaultdict(dict)
        self.step = Waves(desk=desk, waves=self.table, ticket_events=self.events,  # type: ignore[arg-type]
                          retry=self.retry, settings=lambda: S, retry_delays=[0.0],
                          sink=self.sink)  # type: ignore[arg-type]
        self.loop = CloseLoop(links=defaultdict(list), replied=defaultdict(list),  # type: ignore[arg-type]
                              replies=self.replies, compose=lambda m, link: f"fixed: {link}",
                              sink=self.sink)  # type: ignore[arg-type]

    async def escalate(self, d: Decision) -> OutageReport:
        """What escalate does for a report: its own ticket, its linked event, the report."""
        assert d.case_key
        ticket = await self.desk.open(draft_for(d, external_id=external_id(d.case_key)))
        await self.events.send(key=f"embedded:{ticket.id}".encode(), value=TicketEvent(
            desk="embedded", ticket_id=ticket.id, kind="linked", ticket_url=ticket.url,
            mention=d.mention, verdict=str(d.verdict)))
        return OutageReport(decision=d, desk="embedded", ticket_id=ticket.id,
                            ticket_url=ticket.url)

    async def handle(self, r: OutageReport, attempt: int = 0) -> None:
        key = incidents.wave_key(incidents.report_time(r.decision), S)
        await self.step.handle(Event(key.encode()), r, attempt=attempt)

    async def solve(self, ticket_id: str) -> None:
        """An agent solves a ticket; every status event the desk writes reaches close-loop
        after what was written before it."""
        for t in self.desk.solve(ticket_id):
            await self.events.send(key=f"embedded:{t.id}".encode(), value=TicketEvent(
                desk="embedded", ticket_id=t.id, kind="status", status="solved",
                ticket_url=t.url))
        for _, ev, _ in self.events.sent:
            await self.loop.handle(Event(b""), ev)
        self.events.sent.clear()

    def problem(self) -> dict[str, Any]:
        found = [t for t in self.desk.tickets() if t["subject"].startswith("[incident]")]
        assert len(found) == 1, self.desk.tickets()
        return found[0]

    def notes(self, ticket_id: Any) -> list[str]:
        return [c["body"] for c in self.desk.comments(str(ticket_id)) if not c["public"]]


def test_the_wave_opens_one_problem_with_every_report_linked_and_answers_each_once(
        desk: EmbeddedDesk) -> None:
    w = Wave(desk)

    async def go() -> None:
        reports = [await w.escalate(report_decision(i)) for i in range(5)]
        for r in reports[:2]:
            await w.handle(r)
        assert not [t for t in desk.tickets() if t["subject"].startswith("[incident]")]
        for r in reports[2:]:
            await w.handle(r)
        for r in (reports[1], reports[4]):  # redelivered: counted once, nothing added
            await w.handle(r)
        problem = w.problem()
        children = [t for t in desk.tickets() if t["id"] != problem["id"]]
        assert len(children) == 5 and all(t["parent_id"] == problem["id"] for t in children)
        assert problem["external_id"] == external_id(
            incidents.problem_case(incidents.wave_key(NOW, S)))
        assert "3 outage reports within 10 min" in problem["body"]  # the count it opened at
        notes = w.notes(problem["id"])
        assert [n.split(":")[0] for n in notes] == [
            f"Report {i} of this outage" for i in range(1, 6)]  # in order, once each
        assert w.sink.counts["desk.incident_opened"] == 1
        await w.solve(str(problem["id"]))  # the desk solves the incidents with it

    asyncio.run(go())
    replies: list[Reply] = [v for _, v, _ in w.replies.sent]
    assert sorted(r.author_handle for r in replies) == [f"user{i}" for i in range(5)]
    assert len({r.id for r in replies}) == 5
    assert {r.ticket_url for r in replies} == {desk.ticket_url(str(w.problem()["id"]))}


def test_a_report_answered_on_its_own_ticket_first_gets_the_same_reply_id_again(
        desk: EmbeddedDesk) -> None:
    """An agent solved the first report's ticket before the wave was an incident: its
    reporter was answered; the problem's solve composes that reply again under the same
    id, which the output posts once."""
    w = Wave(desk)

    async def go() -> list[Reply]:
        reports = [await w.escalate(report_decision(i)) for i in range(3)]
        await w.handle(reports[0])
        await w.solve(reports[0].ticket_id)
        for r in reports[1:]:
            await w.handle(r)
        await w.solve(str(w.problem()["id"]))
        return [v for _, v, _ in w.replies.sent]

    replies = asyncio.run(go())
    by_handle: dict[str, set[str]] = defaultdict(set)
    for r in replies:
        by_handle[r.author_handle].add(r.id)
    assert set(by_handle) == {"user0", "user1", "user2"}
    assert all(len(ids) == 1 for ids in by_handle.values()), by_handle


def test_a_desk_without_links_names_each_report_on_the_problem(desk: EmbeddedDesk,
                                                              monkeypatch: Any) -> None:
    async def no_link(child_id: str, parent_id: str) -> None:
        raise NotSupported("no links")

    monkeypatch.setattr(desk, "link", no_link)
    w = Wave(desk)

    async def go() -> None:
        for i in range(3):
            await w.handle(await w.escalate(report_decision(i)))
        await w.solve(str(w.problem()["id"]))

    asyncio.run(go())
    notes = w.notes(w.problem()["id"])
    assert len(notes) == 3 and all(f"ticket {t['id']} (" in n for t, n in zip(
        [t for t in desk.tickets() if not t["subject"].startswith("[incident]")], notes,
        strict=True))
    assert sorted(v.author_handle for _, v, _ in w.replies.sent) == ["user0", "user1", "user2"]


def test_a_desk_that_fails_sends_the_report_to_retry_and_nothing_pending_is_lost(
        desk: EmbeddedDesk, monkeypatch: Any) -> None:
    real_open = desk.open
    fail = [True]

    async def flaky_open(draft: Any) -> Any:
        if fail[0]:
            raise RetriableError("503 from the desk")
        return await real_open(draft)

    w = Wave(desk)

    async def go() -> None:
        reports = [await w.escalate(report_decision(i)) for i in range(3)]  # opened fine
        monkeypatch.setattr(desk, "open", flaky_open)
        for r in reports:
            await w.handle(r)
        assert len(w.retry.sent) == 1  # the third, to outages-retry for another try
        key, again, headers = w.retry.sent[0]
        assert headers is not None and headers["attempt"] == b"1"
        assert len(w.table[key.decode()]["pending"]) == 3
        fail[0] = False
        await w.handle(again, attempt=1)

    asyncio.run(go())
    problem = w.problem()
    assert len([t for t in desk.tickets() if t["parent_id"] == problem["id"]]) == 3
    assert len(w.notes(problem["id"])) == 3 and not w.sink.letters


# --- escalate's part: the report goes to its wave after its own ticket's linked event ------

def test_escalate_sends_outage_reports_by_wave_after_the_linked_event_and_again_on_redelivery(
        desk: EmbeddedDesk) -> None:
    from router.agents.escalate import Escalate

    order: list[str] = []

    class Logged(Topic):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        async def send(self, *, key: bytes, value: Any,
                       headers: dict[str, bytes] | None = None) -> asyncio.Future[None]:
            order.append(f"{self.name}:{key.decode()}")
            return await super().send(key=key, value=value, headers=headers)

    events, outages = Logged("ticket-events"), Logged("outages")

    async def flush() -> None:
        return None

    step = Escalate(desk=desk, effects={}, cases={}, ticket_events=events,  # type: ignore[arg-type]
                    decisions_retry=Topic(), retry_delays=[], flush=flush,  # type: ignore[arg-type]
                    sink=Sink(), outages=outages, settings=lambda: S)  # type: ignore[arg-type]

    async def go() -> None:
        await step.handle(Event(b"generic:u1"), report_decision(1))
        await step.handle(Event(b"generic:u9"), report_decision(9, category="billing"))
        await step.handle(Event(b"generic:u1"), report_decision(1))  # redelivered

    asyncio.run(go())
    wave = incidents.wave_key(NOW + 1, S)
    assert order == ["ticket-events:embedded:1", f"outages:{wave}",  # the billing one: no report
                     "ticket-events:embedded:2", f"outages:{wave}"]
    sent = [v for _, v, _ in outages.sent]
    assert {(r.ticket_id, r.decision.mention.ref) for r in sent} == {("1", "generic:o1")}


def test_a_report_keeps_its_wave_when_decided_late_or_again() -> None:
    """A wave's clock is when its reports were posted: a backlog (decided minutes later)
    or a redelivery after a crash (decided again in the next window) must not move a
    report to another wave, where it would be counted a second time or not at all."""
    first = report_decision(1)  # posted at NOW, decided at NOW + 1
    late = report_decision(1, at=NOW + 5 * S.incident_window_seconds)
    assert incidents.wave_key(incidents.report_time(first), S) == incidents.wave_key(
        incidents.report_time(late), S) == incidents.wave_key(NOW, S)
    unreadable = report_decision(2)
    unreadable.mention.created_at = "yesterday"
    assert incidents.report_time(unreadable) == unreadable.decided_at
