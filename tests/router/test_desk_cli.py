"""The embedded desk as an agent uses it from the command line: the whole ticket, a public
update the customer then reads on the status page, and the review queue."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.desks.base import CommentBody
from connectors.desks.embedded import EmbeddedConfig, EmbeddedDesk
from router.cli import main
from router.drafts import REVIEW_TAG
from router.outbox import event_of
from router.pages import ticket_page

from ..connectors.desks.drafts import draft
from .stream import RouterProcess, encode, mention, tickets


async def desk_with_tickets(path: Path) -> tuple[EmbeddedDesk, str, str]:
    desk = EmbeddedDesk(EmbeddedConfig(path=path, url="https://status.example/t/{id}"))
    await desk.setup()
    plain = await desk.open(draft("case-1"))
    review = await desk.open(dataclasses.replace(
        draft("case-2", handle="bob"), tags=["social", REVIEW_TAG]))
    await desk.comment(plain.id, CommentBody(text="New post by @ann joined this ticket"),
                       public=False, idempotency_key="note-1")
    return desk, plain.id, review.id


async def test_show_reply_and_the_review_queue(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    desk, plain, review = await desk_with_tickets(path)
    env = {"ROUTER_EMBEDDED_DESK_PATH": str(path), "ROUTER_DESK": "embedded",
           "ROUTER_EMBEDDED_DESK_URL": "https://status.example/t/{id}"}
    run = CliRunner(env=env).invoke

    shown = run(main, ["desk", "show", plain])
    assert shown.exit_code == 0, shown.output
    assert "My order #123 never arrived" in shown.output  # the agent's view of the mention
    assert "internal note" in shown.output and "joined this ticket" in shown.output
    assert "tags: social, social-mastodon, verdict-open" in shown.output
    assert f"https://status.example/t/{plain}?k=" in shown.output

    out = run(main, ["desk", "reply", plain, "Refunded today, sorry for the wait."])
    assert out.exit_code == 0, out.output
    view = await desk.public_view(plain, desk.page_key(plain))
    assert view is not None
    assert "Refunded today, sorry for the wait." in ticket_page(view)  # what the link shows
    assert "joined this ticket" not in ticket_page(view)  # the note stays internal
    as_json = json.loads(run(main, ["desk", "show", plain, "--json"]).output)
    assert [c["public"] for c in as_json["comments"]] == [0, 1]

    queue = run(main, ["desk", "list", "--review", "--json"]).output.splitlines()
    assert [json.loads(line)["id"] for line in queue] == [int(review)]
    tagged = run(main, ["desk", "list", "--tag", "social", "--json"]).output.splitlines()
    assert len(tagged) == 2

    missing = run(main, ["desk", "show", "99"])
    assert missing.exit_code == 1 and "no ticket 99" in missing.output
    assert "Traceback" not in missing.output
    await desk.aclose()


async def test_the_outbox_event_carries_the_agents_mark(tmp_path: Path) -> None:
    """From the desk's own rows: tagging (in any case), solving, untagging, each event
    saying whether the mark is on."""
    desk = EmbeddedDesk(EmbeddedConfig(path=tmp_path / "desk.sqlite", url="http://x/{id}"))
    await desk.setup()
    ticket = await desk.open(draft("case-mark"))
    desk.tag(ticket.id, "Not-Actionable")
    desk.solve(ticket.id)
    desk.tag(ticket.id, "Not-Actionable", remove=True)
    events = [event_of("embedded", row) for row in desk.outbox_rows()]
    assert [(e.status, e.not_actionable) for e in events] == [
        ("new", True), ("solved", True), ("solved", False)]
    await desk.aclose()


@pytest.mark.kafka
async def test_an_agents_tag_and_move_reach_the_router(kafka_bootstrap: str,
                                                       tmp_path: Path) -> None:
    rp = RouterProcess(kafka_bootstrap, tmp_path)  # no worker: what the CLI writes
    rp.create_topics()
    desk = EmbeddedDesk(EmbeddedConfig(path=tmp_path / "desk.sqlite",
                                       url=rp.env["ROUTER_EMBEDDED_DESK_URL"]))
    await desk.setup()
    wrong = await desk.open(draft("case-w", handle="wes"))
    first = await desk.open(draft("case-a", handle="amy"))
    joined = mention("mv1", "@acmesupport and my parcel is lost too", "zoe")
    linked = [{"desk": "embedded", "ticket_id": wrong.id, "kind": "linked", "mention": m,
               "ticket_url": wrong.url, "verdict": "link", "reply_allowed": True, "at": 1.0}
              for m in (mention("w1", "@acmesupport nice ad", "wes"), joined)]
    rp.produce("ticket-events", [encode(x) for x in linked], [f"embedded:{wrong.id}".encode()] * 2)
    await desk.aclose()

    tagged = rp.cli("desk", "tag", wrong.id, "not-actionable")
    assert tagged.returncode == 0, tagged.stderr
    assert "marked not actionable" in tagged.stdout
    events = rp.read("ticket-events", lambda r: any(x["kind"] == "status" for x in r))
    assert [(x["ticket_id"], x["status"], x["not_actionable"]) for x in events
            if x["kind"] == "status"] == [(wrong.id, "new", True)]

    for _ in range(2):  # an agent who runs it twice moves it once
        moved = rp.cli("desk", "move", wrong.id, "https://social.example/@zoe/mv1", "--new")
        assert moved.returncode == 0, moved.stderr
    assert "already moved" in moved.stdout
    new_ids = {t["id"] for t in tickets(rp)} - {int(wrong.id), int(first.id)}
    assert len(new_ids) == 1
    new_id = str(new_ids.pop())
    # moved off the wrong ticket already: moving it from there again would leave it on two
    again = rp.cli("desk", "move", wrong.id, "generic:mv1", "--to", first.id)
    assert again.returncode == 1 and f"it is on #{new_id}" in again.stderr
    assert rp.cli("desk", "move", new_id, "generic:mv1", "--to", first.id).returncode == 0

    events = rp.read("ticket-events", lambda r: sum(x["kind"] == "linked" for x in r) >= 4
                     and sum(x["kind"] == "unlinked" for x in r) >= 2)
    moves = [(x["ticket_id"], x["mention"]["id"], x["verdict"]) for x in events
             if x["kind"] == "linked" and x["ticket_id"] != wrong.id]
    assert sorted(moves) == sorted([(new_id, "mv1", "link"), (first.id, "mv1", "link")])
    # and off the ticket it left, each time: its solve no longer answers or judges the post
    off = [(x["ticket_id"], x["mention"]["id"]) for x in events if x["kind"] == "unlinked"]
    assert sorted(off) == sorted([(wrong.id, "mv1"), (new_id, "mv1")])
    labels = rp.read("feedback", lambda r: len(r) >= 2)
    assert {(x["mention_ref"], x["actionable"], x["source"], x["by"]) for x in labels} == {
        ("generic:mv1", True, "embedded", "router desk move")}
    assert labels[0]["text"] == joined["text"]
    shown = json.loads(rp.cli("desk", "show", first.id, "--json").stdout)
    assert "and my parcel is lost too" in shown["comments"][-1]["body"]

    missing = rp.cli("desk", "move", first.id, "generic:nope", "--new")
    assert missing.returncode == 1 and "put no post generic:nope" in missing.stderr
    both = rp.cli("desk", "move", wrong.id, "generic:mv1")
    assert both.returncode == 2 and "--to OTHER_ID or --new" in both.stderr
