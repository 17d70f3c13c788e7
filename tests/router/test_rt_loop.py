"""The whole loop with a real Request Tracker 5 as the desk, on the real broker: a support
request opens an RT ticket, a thread reply becomes a comment on it, an agent resolves it in
RT, the worker's poller notices, and the customer gets exactly one reply with the RT link."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from connectors.desks.rt import RequestTracker

from ..rt_live import NOT_INSTALLED, RT_SERVER, LiveRT
from .stream import RouterProcess, encode, key_of, mention

pytestmark = [pytest.mark.kafka, pytest.mark.rt, pytest.mark.slow,
              pytest.mark.skipif(not RT_SERVER.exists(), reason=NOT_INSTALLED)]


async def test_rt_ticket_resolved_by_an_agent_yields_one_reply(
        kafka_bootstrap: str, live_rt: LiveRT, tmp_path: Path) -> None:
    rp = RouterProcess(kafka_bootstrap, tmp_path / "w", extra_env={
        "ROUTER_DESK": "rt", "ROUTER_RT_URL": live_rt.url, "ROUTER_RT_QUEUE": "Social",
        "ROUTER_RT_TOKEN": live_rt.token, "ROUTER_DESK_POLL_SECONDS": "1"})
    rp.create_topics()
    rp.start()
    try:
        first = mention("rt1", "@acmesupport my card was charged twice for order 7781, "
                        "please refund the second charge", "carla")
        rp.produce("mentions", [encode(first)], [key_of(first)])
        events = rp.read("ticket-events", lambda r: any(e["kind"] == "linked" for e in r))
        linked = next(e for e in events if e["kind"] == "linked")
        ticket_id = linked["ticket_id"]
        assert linked["desk"] == "rt" and linked["ticket_url"].startswith(live_rt.url)

        follow = mention("rt2", "@acmesupport any news on the refund for order 7781?", "carla",
                         in_reply_to="rt1", conversation_id="rt1")
        rp.produce("mentions", [encode(follow)], [key_of(follow)])
        rp.read("ticket-events", lambda r: len([e for e in r if e["kind"] == "linked"]) >= 2)

        desk = RequestTracker(live_rt.config())
        await desk.setup()
        try:
            ticket = await desk.find_by_external_id("social-router:generic:rt1")
            assert ticket is not None and ticket.id == ticket_id
        finally:
            await desk.aclose()
        async with live_rt.agent() as agent:  # the agent resolves it in RT
            r = await agent.put(f"/ticket/{ticket_id}", json={"Status": "resolved"})
            r.raise_for_status()
            history = (await agent.get(f"/ticket/{ticket_id}/history",
                                       params={"per_page": 100})).json()
        kinds = [item.get("type") or item.get("Type") for item in history.get("items", [])]
        assert kinds, history  # the ticket has its history, comments included

        replies = rp.read("replies", lambda r: len(r) >= 1, timeout=60)
        time.sleep(3.0)  # further polls must not repeat the reply
        replies = rp.read("replies", lambda r: True)
        assert len(replies) == 1
        assert replies[0]["author_handle"] == "carla"
        assert replies[0]["in_reply_to"] == "rt2"
        assert f"{ticket_id}" in replies[0]["ticket_url"]
        assert replies[0]["ticket_url"] in replies[0]["text"]
    finally:
        rp.stop()
    assert live_rt.token not in rp.log_text()  # secrets never reach the logs
