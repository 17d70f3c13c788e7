"""The RT connector against a real Request Tracker 5, started for this session.

``scripts/rt.sh start`` makes a fresh RT (SQLite, in a temporary folder, on a free loopback
port) with a "Social" queue, the "Router External ID" custom field, a "router" user with only
the rights docs/rt.md lists, and auth tokens for it and for root (who plays the agent).
Skipped only when RT is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.desks.base import CommentBody
from connectors.desks.rt import RequestTracker
from connectors.errors import ConfigError, FatalError

from ...rt_live import NOT_INSTALLED, RT_SERVER, LiveRT
from .drafts import draft, mention

pytestmark = [pytest.mark.rt, pytest.mark.skipif(not RT_SERVER.exists(), reason=NOT_INSTALLED)]


@pytest.fixture
async def desk(live_rt: LiveRT) -> AsyncIterator[RequestTracker]:
    d = RequestTracker(live_rt.config())
    await d.setup()
    yield d
    await d.aclose()


async def _history(live_rt: LiveRT, ticket_id: str) -> list[dict[str, Any]]:
    async with live_rt.agent() as agent:
        r = await agent.get(f"/ticket/{ticket_id}/history",
                            params={"fields": "Type,Creator", "per_page": 100})
        r.raise_for_status()
        items: list[dict[str, Any]] = r.json()["items"]
    return items


async def _set_status(live_rt: LiveRT, ticket_id: str, status: str) -> None:
    async with live_rt.agent() as agent:
        r = await agent.put(f"/ticket/{ticket_id}", json={"Status": status})
        r.raise_for_status()
        assert "Status" in r.text, r.text


async def _drain(desk: RequestTracker, checkpoint: str | None) -> str | None:
    """Read every change so far; the checkpoint after the last one."""
    while True:
        page = await desk.changes_since(checkpoint)
        if page.checkpoint == checkpoint:
            return checkpoint
        checkpoint = page.checkpoint


def test_instance_started_quickly(live_rt: LiveRT) -> None:
    assert live_rt.start_seconds < 120


async def test_open_find_reply_comment(live_rt: LiveRT, desk: RequestTracker) -> None:
    ticket = await desk.open(draft("rt-life", handle="ann"))
    assert ticket.id.isdigit() and ticket.url.endswith(f"id={ticket.id}")

    found = await desk.find_by_external_id("rt-life")
    assert found is not None and found.id == ticket.id and found.external_id == "rt-life"
    assert await desk.find_by_external_id("rt-nothing-here") is None
    mine = await desk.find_open_for_requester("@Ann", "mastodon")
    assert mine is not None and mine.id == ticket.id
    assert await desk.find_open_for_requester("ann", "bluesky") is None

    reply = CommentBody(text="Sorry for the wait, a new parcel is on its way.")
    note = CommentBody(text="", mention=mention("Still nothing!?", id="rt-life-2"))
    await desk.comment(ticket.id, reply, public=True, idempotency_key="rt-life:reply")
    await desk.comment(ticket.id, note, public=False, idempotency_key="rt-life:note ['x']")
    await desk.comment(ticket.id, reply, public=True, idempotency_key="rt-life:reply")
    await desk.comment(ticket.id, note, public=False, idempotency_key="rt-life:note ['x']")
    types = [t["Type"] for t in await _history(live_rt, ticket.id)]
    assert types.count("Create") == 1
    assert types.count("Correspond") == 1
    assert types.count("Comment") == 1
    assert await desk.status(ticket.id) == "open"  # RT opens a ticket on its first reply


async def test_open_is_idempotent_also_concurrently(live_rt: LiveRT,
                                                    desk: RequestTracker) -> None:
    first = await desk.open(draft("rt-idem", handle="bea"))
    again = await asyncio.gather(*(desk.open(draft("rt-idem", handle="bea")) for _ in range(4)))
    assert {t.id for t in again} == {first.id}

    # Three workers at once, each with its own connector: one ticket survives.
    workers = [RequestTracker(live_rt.config()) for _ in range(3)]
    try:
        raced = await asyncio.gather(*(w.open(draft("rt-race", handle="cid")) for w in workers))
    finally:
        for w in workers:
            await w.aclose()
    assert len({t.id for t in raced}) == 1
    async with live_rt.agent() as agent:
        r = await agent.get("/tickets", params={
            "query": "'CF.{Router External ID}' = 'rt-race'", "per_page": 100})
    assert [i["id"] for i in r.json()["items"]] == [raced[0].id]


async def test_changes_since_exactly_once_across_restarts(live_rt: LiveRT,
                                                          desk: RequestTracker) -> None:
    ticket = await desk.open(draft("rt-poll", handle="dan"))
    checkpoint = await _drain(desk, None)

    await _set_status(live_rt, ticket.id, "resolved")
    page = await desk.changes_since(checkpoint)
    mine = [c for c in page.changes if c.ticket_id == ticket.id]
    assert [(c.status, c.external_id) for c in mine] == [("solved", "rt-poll")]
    assert mine[0].url == desk.ticket_url(ticket.id) and mine[0].changed_at
    assert page.checkpoint is not None and page.checkpoint != checkpoint
    again = await desk.changes_since(page.checkpoint)
    assert again.changes == [] or again.changes == ()
    assert again.checkpoint == page.checkpoint
    saved = page.checkpoint
    await desk.aclose()

    await _set_status(live_rt, ticket.id, "open")  # the customer wrote back
    restarted = RequestTracker(live_rt.config())
    await restarted.setup()
    try:
        page = await restarted.changes_since(saved)
        assert [(c.ticket_id, c.status) for c in page.changes] == [(ticket.id, "open")]
        assert list((await restarted.changes_since(page.checkpoint)).changes) == []
        assert await restarted.status(ticket.id) == "open"
    finally:
        await restarted.aclose()


async def test_poller_pages_and_skips_other_tickets(live_rt: LiveRT) -> None:
    desk = RequestTracker(live_rt.config(poll_page_size=2))
    checkpoint = await _drain(desk, None)
    ours = [await desk.open(draft(f"rt-page-{i}", handle=f"p{i}")) for i in range(3)]
    async with live_rt.agent() as agent:  # a ticket the router did not open
        r = await agent.post("/ticket", json={"Queue": "Social", "Subject": "by mail",
                                              "Requestor": "someone@example.com"})
        other = str(r.json()["id"])
    for t in [*ours, await desk.get(other)]:
        await _set_status(live_rt, t.id, "stalled")
    seen = []
    while True:
        page = await desk.changes_since(checkpoint)
        if page.checkpoint == checkpoint:
            break
        seen += page.changes
        checkpoint = page.checkpoint
    await desk.aclose()
    assert [(c.ticket_id, c.status) for c in seen] == [(t.id, "pending") for t in ours]


async def test_link_child_to_parent(live_rt: LiveRT, desk: RequestTracker) -> None:
    parent = await desk.open(draft("rt-problem", handle="eve", problem=True))
    child = await desk.open(draft("rt-child", handle="fay"))
    await desk.link(child.id, parent.id)
    await desk.link(child.id, parent.id)  # already linked: fine
    async with live_rt.agent() as agent:
        data = (await agent.get(f"/ticket/{child.id}")).json()
    parents = [h["id"] for h in data["_hyperlinks"] if h["ref"] == "parent"]
    assert parents == [parent.id]
    with pytest.raises(FatalError):
        await desk.link(child.id, "999999")


async def test_basic_auth_works(live_rt: LiveRT) -> None:
    desk = RequestTracker(live_rt.config(token=None, username="root",
                                         password=SecretStr(live_rt.password)))
    await desk.setup()
    try:
        assert await desk.find_by_external_id("rt-nobody") is None
    finally:
        await desk.aclose()


async def test_bad_password_is_fatal_and_secret_free(
        live_rt: LiveRT, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    wrong = "wrong-password-s3cr3t"
    desk = RequestTracker(live_rt.config(token=None, username="root",
                                         password=SecretStr(wrong)))
    with pytest.raises(ConfigError) as at_setup:
        await desk.setup()
    with pytest.raises(FatalError) as at_open:
        await desk.open(draft("rt-401"))
    await desk.aclose()
    for info in (at_setup, at_open):
        assert info.value.status_code == 401
        shown = f"{info.value} {info.value!r} {info.value.__cause__!r} {caplog.text}"
        assert wrong not in shown and live_rt.password not in shown
        assert live_rt.token not in shown and live_rt.root_token not in shown
    assert "ROUTER_RT_PASSWORD" in str(at_setup.value)
    good = RequestTracker(live_rt.config())
    try:
        assert await good.find_by_external_id("rt-401") is None
    finally:
        await good.aclose()


async def test_setup_names_the_setting_to_fix(live_rt: LiveRT) -> None:
    with pytest.raises(ConfigError, match="ROUTER_RT_QUEUE"):
        await RequestTracker(live_rt.config(queue="No Such Queue")).setup()
    with pytest.raises(ConfigError, match="ROUTER_RT_EXTERNAL_ID_FIELD"):
        await RequestTracker(live_rt.config(external_id_field="Nope")).setup()


async def test_an_agent_rejecting_a_ticket_comes_back_not_actionable(
        live_rt: LiveRT, desk: RequestTracker) -> None:
    ticket = await desk.open(draft("rt-reject", handle="gus"))
    checkpoint = await _drain(desk, None)
    await _set_status(live_rt, ticket.id, "rejected")  # the agent's Reject action
    await _set_status(live_rt, ticket.id, "open")  # and, thinking again, reopened
    page = await desk.changes_since(checkpoint)
    mine = [(c.status, c.not_actionable) for c in page.changes if c.ticket_id == ticket.id]
    assert mine == [("closed", True), ("open", False)]
