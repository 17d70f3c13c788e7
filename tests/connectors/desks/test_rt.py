"""The RT connector's own rules, against the REST2 fake (the real RT: test_rt_real.py)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from connectors.desks.rt import (
    RequestTracker,
    RTConfig,
    comment_marker,
    map_status,
    requester_email,
    tsql_quote,
)
from connectors.errors import ConfigError, FatalError
from connectors.registry import desk_class, settings_of

from .drafts import draft
from .harnesses.rt import RTHarness


@pytest.fixture
def h(tmp_path: Path) -> RTHarness:
    return RTHarness(tmp_path)


def test_registered_and_every_setting_documented() -> None:
    assert desk_class("rt") is RequestTracker
    assert RequestTracker.events == "poll"
    infos = settings_of(RequestTracker)
    assert all(i.env.startswith("ROUTER_RT_") and i.description for i in infos)
    assert {i.name for i in infos if i.secret} == {"token", "password"}


@pytest.mark.parametrize(("settings", "env"), [
    ({}, "ROUTER_RT_URL"),
    ({"url": "ftp://rt.example.com", "token": "t"}, "ROUTER_RT_URL"),
    ({"url": "https://root:pw@rt.example.com", "token": "t"}, "ROUTER_RT_TOKEN"),
    ({"url": "https://rt.example.com"}, "ROUTER_RT_TOKEN"),
    ({"url": "https://rt.example.com", "username": "bot"}, "ROUTER_RT_PASSWORD"),
    ({"url": "https://rt.example.com", "token": "t", "queue": " "}, "ROUTER_RT_QUEUE"),
    ({"url": "https://rt.example.com", "token": "t", "ticket_url_template": "{nope}"},
     "ROUTER_RT_TICKET_URL_TEMPLATE"),
])
async def test_config_errors_name_the_variable(settings: dict[str, str], env: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("URL", "TOKEN", "USERNAME", "PASSWORD", "QUEUE"):
        monkeypatch.delenv(f"ROUTER_RT_{name}", raising=False)
    desk = RequestTracker(RTConfig(**settings))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=env) as info:
        await desk.setup()
    assert "pw" not in str(info.value)
    await desk.aclose()


def test_config_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_RT_URL", "https://rt.example.com/")
    monkeypatch.setenv("ROUTER_RT_TOKEN", "1-2-abc")
    desk = RequestTracker()
    assert desk.ticket_url("7") == "https://rt.example.com/Ticket/Display.html?id=7"
    assert "1-2-abc" not in repr(desk.config)


def test_requester_addresses_are_stable_and_valid() -> None:
    assert requester_email("@Ann", "mastodon", "social.invalid") == \
        "ann@mastodon.social.invalid"
    assert requester_email("ann@mastodon.social", "mastodon", "social.invalid") == \
        "ann+mastodon.social@mastodon.social.invalid"
    odd = requester_email("Zoë 'the' <x>", "generic", "social.invalid")
    assert odd.endswith("@generic.social.invalid") and " " not in odd and "'" not in odd
    long = requester_email("a" * 200, "x", "social.invalid")
    assert len(long.split("@")[0]) <= 64


def test_sql_quoting_and_markers() -> None:
    assert tsql_quote("it's a \\ test") == "'it\\'s a \\\\ test'"
    assert comment_marker("case-1:reply") == "router-ref case-1:reply"
    # RT 5.0.3 takes any query holding "[" for a JSON search: such keys are hashed.
    hashed = comment_marker("note ['x']")
    assert hashed.startswith("router-ref sha256:") and "[" not in hashed
    assert comment_marker("note ['x']") == hashed


def test_status_mapping() -> None:
    assert [map_status(s) for s in ("new", "open", "stalled", "resolved", "rejected",
                                    "deleted", "Custom-Waiting")] == \
        ["new", "open", "pending", "solved", "closed", "closed", "open"]


async def test_bad_credentials_fail_setup_and_verbs_without_the_secret(
        h: RTHarness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad = h.make_desk(bad_credentials=True)
    with pytest.raises(ConfigError, match="ROUTER_RT_TOKEN") as at_setup:
        await bad.setup()
    with pytest.raises(FatalError) as at_open:
        await bad.open(draft("case-401"))
    await bad.aclose()
    for info in (at_setup, at_open):
        assert info.value.status_code == 401
        shown = f"{info.value} {info.value!r} {caplog.text}"
        assert "wrong-" not in shown and h.secret not in shown
    assert h.count_tickets() == 0


async def test_a_refused_create_is_fatal_and_creates_nothing(h: RTHarness) -> None:
    desk = h.make_desk()
    await desk.setup()
    h.rt.fail_next(1, 400, method="create",
                   body={"message": "Status 'x' isn't a valid status for tickets in this queue."})
    with pytest.raises(FatalError, match="valid status") as info:
        await desk.open(draft("case-400"))
    assert info.value.status_code == 400 and h.count_tickets() == 0
    assert (await desk.open(draft("case-400"))).id
    await desk.aclose()


async def test_blank_subject_names_the_author(h: RTHarness) -> None:
    desk = h.make_desk()
    ticket = await desk.open(draft("case-blank", subject="  "))
    assert h.rt.tickets[int(ticket.id)]["Subject"] == "@ann on mastodon"
    await desk.aclose()


async def test_racing_workers_keep_the_oldest_ticket(h: RTHarness) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)  # let the workers interleave, as over a network
        return h.rt(request)

    def worker() -> RequestTracker:
        return RequestTracker(h.make_desk().config,
                              httpx.AsyncClient(transport=httpx.MockTransport(slow)))

    workers = [worker() for _ in range(3)]
    tickets = await asyncio.gather(*(w.open(draft("case-race")) for w in workers))
    assert len({t.id for t in tickets}) == 1
    assert h.count_tickets() == 1
    retired = [t for t in h.rt.tickets.values() if t["Status"] == "deleted"]
    assert len(retired) == 2  # all three created: the race really happened
    assert all(not t["CustomFields"] for t in retired)  # invisible to lookups and the poller
    for w in workers:
        await w.aclose()


async def test_poller_pages_without_gaps_or_repeats(h: RTHarness) -> None:
    desk = h.make_desk(poll_page_size=2)
    ids = [(await desk.open(draft(f"case-p{i}", handle=f"p{i}"))).id for i in range(3)]
    page = await desk.changes_since(None)
    assert page.changes == () and page.checkpoint is None
    for tid in ids:
        h.set_status(tid, "solved")
    h.set_status(ids[0], "open")
    other = h.rt.tickets[int(ids[1])]
    other["CustomFields"].clear()  # not the router's any more: skipped, checkpoint moves on
    seen, checkpoint = [], None
    for _ in range(10):
        page = await desk.changes_since(checkpoint)
        if page.checkpoint == checkpoint:
            break
        assert len(page.changes) <= 2
        seen += [(c.ticket_id, c.status, c.external_id) for c in page.changes]
        checkpoint = page.checkpoint
    assert seen == [(ids[0], "solved", "case-p0"), (ids[2], "solved", "case-p2"),
                    (ids[0], "open", "case-p0")]
    restarted = h.make_desk()
    assert list((await restarted.changes_since(checkpoint)).changes) == []
    with pytest.raises(FatalError, match="checkpoint"):
        await restarted.changes_since("not-a-number")
    await desk.aclose()
    await restarted.aclose()


async def test_deleted_ticket_is_reported_closed(h: RTHarness) -> None:
    desk = h.make_desk()
    ticket = await desk.open(draft("case-del"))
    h.rt.tickets[int(ticket.id)]["Status"] = "open"
    h.rt._set_status(h.rt.tickets[int(ticket.id)], "deleted")
    page = await desk.changes_since(None)
    assert [(c.ticket_id, c.status, c.external_id) for c in page.changes] == \
        [(ticket.id, "closed", "case-del")]
    await desk.aclose()


async def test_a_rejected_ticket_comes_back_marked_not_actionable(h: RTHarness) -> None:
    desk = h.make_desk()
    ticket = await desk.open(draft("case-rej"))
    t = h.rt.tickets[int(ticket.id)]
    for status in ("open", "rejected", "open", "resolved"):  # rejected, then reopened
        h.rt._set_status(t, status)
    page = await desk.changes_since(None)
    assert [(c.status, c.not_actionable) for c in page.changes] == [
        ("open", False), ("closed", True), ("open", False), ("solved", False)]
    await desk.aclose()


async def test_a_site_status_as_the_feedback_mark(h: RTHarness,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_RT_FEEDBACK_TAG", "Misrouted")
    assert RTConfig().feedback_tag == "Misrouted"
    desk = h.make_desk(feedback_tag="misrouted")
    ticket = await desk.open(draft("case-mis"))
    h.rt.tickets[int(ticket.id)]["Status"] = "misrouted"  # a custom lifecycle's status
    h.rt._txn(int(ticket.id), "Status", Field="Status", OldValue="new", NewValue="misrouted")
    h.rt._set_status(h.rt.tickets[int(ticket.id)], "rejected")
    page = await desk.changes_since(None)
    assert [(c.status, c.not_actionable) for c in page.changes] == [
        ("open", True), ("closed", False)]
    await desk.aclose()
    # an empty mark is refused as the desk's settings are read (every desk's, in DeskConfig;
    # test_feedback.py checks the one line naming ROUTER_RT_FEEDBACK_TAG)
    with pytest.raises(ValidationError, match="feedback tag is empty"):
        h.make_desk(feedback_tag=" ")
