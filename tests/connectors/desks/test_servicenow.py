"""ServiceNow polling: no gaps and no repeats across pages, ties and restarts."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from connectors.desks.servicenow import ServiceNow
from connectors.errors import ConfigError

from .drafts import draft
from .fakes.servicenow import BASE
from .harnesses.servicenow import ServiceNowHarness


async def drain(desk: ServiceNow, checkpoint: str | None) -> tuple[list[tuple[str, str]],
                                                                  str | None]:
    seen: list[tuple[str, str]] = []
    for _ in range(100):
        page = await desk.changes_since(checkpoint)
        if not page.changes:
            return seen, checkpoint
        seen += [(c.ticket_id, c.changed_at) for c in page.changes]
        checkpoint = page.checkpoint
    raise AssertionError("never drained")


async def test_changes_since_has_no_gaps_and_no_repeats(tmp_path: Path) -> None:
    h = ServiceNowHarness(tmp_path)
    sn = h.sn
    desk = h.make_desk(page_size=2)
    ids = [(await desk.open(draft(f"sn-{i}", handle=f"u{i}"))).id for i in range(7)]
    # An incident nobody asked the router about is not reported.
    sn.tables["incident"]["other"] = {"sys_id": "other", "state": "6",
                                      "correlation_display": "someone-else",
                                      "sys_updated_on": sn.stamp()}
    sn.now += timedelta(seconds=2)  # the second they were written in is over
    seen, checkpoint = await drain(desk, None)
    assert sorted(t for t, _ in seen) == sorted(ids)  # all seven, all in the same second
    await desk.aclose()

    rng = random.Random(7)
    for round_ in range(5):
        sn.now += timedelta(seconds=rng.choice([0, 1]))
        touched = rng.sample(ids, 3)
        for sid in touched:
            sn.set_state(sid, rng.choice(["2", "3", "6"]))
        early, _ = await drain(h.make_desk(page_size=2), checkpoint)
        assert early == []  # this second is not over: nothing is handed out yet
        sn.now += timedelta(seconds=2)
        restarted = h.make_desk(page_size=2)  # a new worker resumes from the checkpoint
        got, checkpoint = await drain(restarted, checkpoint)
        await restarted.aclose()
        got_ids = [t for t, _ in got]
        assert len(got_ids) == len(set(got_ids)), f"repeat in round {round_}"
        assert set(touched) <= set(got_ids), f"gap in round {round_}"
        # Anything else returned was updated in the same second after the checkpoint.


async def test_status_of_a_polled_change_is_mapped(tmp_path: Path) -> None:
    h = ServiceNowHarness(tmp_path)
    desk = h.make_desk()
    ticket = await desk.open(draft("sn-status"))
    h.sn.now += timedelta(seconds=2)
    page = await desk.changes_since(None)
    h.sn.now += timedelta(seconds=1)
    h.set_status(ticket.id, "solved")
    h.sn.now += timedelta(seconds=2)
    page = await desk.changes_since(page.checkpoint)
    await desk.aclose()
    [change] = page.changes
    assert (change.ticket_id, change.status, change.external_id) == (ticket.id, "solved",
                                                                     "sn-status")
    assert change.url.startswith("https://acme.service-now.com/")


async def test_empty_poll_keeps_the_checkpoint(tmp_path: Path) -> None:
    h = ServiceNowHarness(tmp_path)
    desk = h.make_desk()
    page = await desk.changes_since("2030-01-01 00:00:00|zzz")
    await desk.aclose()
    assert page.changes == [] and page.checkpoint == "2030-01-01 00:00:00|zzz"


async def resolve(h: ServiceNowHarness, sid: str, close_code: str) -> None:
    """What an agent's Resolve does: state Resolved with a Resolution code and notes."""
    async with httpx.AsyncClient(transport=h.sn.transport(), base_url=BASE,
                                 auth=("router.integration", h.secret)) as agent:
        r = await agent.patch(f"/api/now/table/incident/{sid}", json={
            "state": "6", "close_code": close_code, "close_notes": "Not for support."})
        r.raise_for_status()


async def test_the_resolution_code_carries_the_agents_mark(tmp_path: Path) -> None:
    h = ServiceNowHarness(tmp_path)
    desk = h.make_desk()
    wrong, right, open_ = [(await desk.open(draft(f"sn-fb{i}", handle=f"f{i}"))).id
                           for i in range(3)]
    h.sn.now += timedelta(seconds=2)
    checkpoint = (await desk.changes_since(None)).checkpoint
    await resolve(h, wrong, "Not-Actionable")  # the choice an admin added (any case)
    await resolve(h, right, "Solution provided")
    h.sn.set_state(open_, "2")
    h.sn.now += timedelta(seconds=2)
    page = await desk.changes_since(checkpoint)
    assert {c.ticket_id: (c.status, c.not_actionable) for c in page.changes} == {
        wrong: ("solved", True), right: ("solved", False), open_: ("open", False)}
    await desk.aclose()

    # Another field, named in the settings; one the instance does not have says nothing.
    h.sn.tables["incident"][right]["u_router_feedback"] = "misrouted"
    h.sn.set_state(right, "7")
    h.sn.now += timedelta(seconds=2)
    custom = h.make_desk(feedback_field="u_router_feedback", feedback_tag="misrouted")
    assert [c.not_actionable for c in (await custom.changes_since(page.checkpoint)).changes
            ] == [True]
    missing = h.make_desk(feedback_field="u_no_such_field")
    assert [c.not_actionable for c in (await missing.changes_since(page.checkpoint)).changes
            ] == [None]
    await custom.aclose()
    await missing.aclose()


async def test_a_feedback_field_that_is_no_column_name_is_refused(tmp_path: Path) -> None:
    h = ServiceNowHarness(tmp_path)
    with pytest.raises(ConfigError, match="ROUTER_SERVICENOW_FEEDBACK_FIELD"):
        await h.make_desk(feedback_field="close_code,sys_password").setup()
