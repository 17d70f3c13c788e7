"""The embedded desk (a real SQLite file): the verbs every desk offers, and what agents do."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from connectors.desks.base import CommentBody, TicketDraft
from connectors.desks.embedded import EmbeddedConfig, EmbeddedDesk
from connectors.errors import FatalError
from vocab.records import Author, Mention


def draft(ext: str = "social-router:generic:1", handle: str = "ann") -> TicketDraft:
    m = Mention(id="1", network="generic", text="charged twice <b>please</b> help",
                author=Author(id="u1", handle=handle, name="Ann", followers=12,
                              profile_url="https://social.example/@ann"),
                created_at="t", url="https://social.example/@ann/1")
    return TicketDraft(external_id=ext, subject="@ann: charged twice", mention=m,
                       verdict="open", confidence=0.93, reasons=["word 'charged' (+1.2)"],
                       category="billing", priority="high")


@pytest.fixture
async def desk(tmp_path: Path) -> EmbeddedDesk:
    d = EmbeddedDesk(EmbeddedConfig(path=tmp_path / "desk.sqlite",
                                    url="https://desk.example/t/{id}"))
    await d.setup()
    return d


async def test_open_is_idempotent_on_external_id_even_concurrently(desk: EmbeddedDesk) -> None:
    tickets = await asyncio.gather(*(desk.open(draft()) for _ in range(5)))
    assert {t.id for t in tickets} == {tickets[0].id}
    assert len(desk.tickets()) == 1
    t = tickets[0]
    assert t.url.startswith(f"https://desk.example/t/{t.id}?k=") and len(t.url) > 40
    body = desk.tickets()[0]["body"]
    for needed in ("charged twice", "https://social.example/@ann/1", "@ann", "12 followers",
                   "93%", "word 'charged'", "billing", "high", "social"):
        assert needed in body


async def test_find_by_external_id_and_open_for_requester(desk: EmbeddedDesk) -> None:
    t = await desk.open(draft())
    assert (await desk.find_by_external_id("social-router:generic:1")) == t
    assert await desk.find_by_external_id("nope") is None
    assert (await desk.find_open_for_requester("ANN", "generic")).id == t.id  # type: ignore[union-attr]
    desk.set_status(t.id, "solved")
    assert await desk.find_open_for_requester("ann", "generic") is None


async def test_comment_once_per_idempotency_key_public_and_internal(desk: EmbeddedDesk) -> None:
    t = await desk.open(draft())
    for _ in range(3):
        await desk.comment(t.id, CommentBody(text="joined"), public=False,
                           idempotency_key="mention:generic:2")
    await desk.comment(t.id, CommentBody(text="we fixed it"), public=True,
                       idempotency_key="reply:1")
    assert [(c["body"], c["public"]) for c in desk.comments(t.id)] == [
        ("joined", 0), ("we fixed it", 1)]


async def test_status_link_and_errors(desk: EmbeddedDesk) -> None:
    parent = await desk.open(draft("social-router:incident:outage:1"))
    child = await desk.open(draft("social-router:generic:9"))
    await desk.link(child.id, parent.id)
    assert desk.tickets()[1]["parent_id"] == int(parent.id)
    assert await desk.status(child.id) == "new"
    with pytest.raises(FatalError, match="no ticket"):
        await desk.status("999")
    with pytest.raises(FatalError, match="unknown status"):
        desk.set_status(child.id, "done-ish")


async def test_changes_since_resumes_without_gaps_or_repeats(desk: EmbeddedDesk,
                                                             tmp_path: Path) -> None:
    t = await desk.open(draft())
    page = await desk.changes_since(None)
    assert [(c.ticket_id, c.status) for c in page.changes] == [(t.id, "new")]
    desk.set_status(t.id, "solved")
    # A "restarted" poller: a new connector on the same file, from the saved checkpoint.
    again = EmbeddedDesk(EmbeddedConfig(path=tmp_path / "desk.sqlite"))
    page2 = await again.changes_since(page.checkpoint)
    assert [(c.ticket_id, c.status) for c in page2.changes] == [(t.id, "solved")]
    assert (await again.changes_since(page2.checkpoint)).changes == []


async def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    d = EmbeddedDesk(EmbeddedConfig(path=blocker / "desk.sqlite"))
    with pytest.raises(FatalError, match="ROUTER_EMBEDDED_DESK_PATH"):
        await d.setup()


async def test_a_lone_surrogate_in_the_post_still_opens_the_ticket(desk: EmbeddedDesk) -> None:
    m = Mention.loads(b'{"id": "7", "network": "generic", "text": "refund \\ud800 please",'
                      b' "author": {"id": "u7", "handle": "sur\\udc00"}, "created_at": "t"}')
    assert "\ud800" in m.text  # what JSON "\ud800" parses to: not encodable as UTF-8
    d = TicketDraft(external_id="social-router:generic:7", subject=f"@x: {m.text}", mention=m,
                    verdict="open", confidence=0.9, reasons=[], category="billing",
                    priority="normal")
    t = await desk.open(d)
    await desk.comment(t.id, CommentBody(text=m.text), public=False, idempotency_key="k")
    row = desk.tickets()[0]
    assert "refund \ufffd please" in row["body"] and "\ufffd" in row["subject"]
    assert row["requester"] == "generic:@sur\ufffd"
    assert desk.comments(t.id)[0]["body"] == "refund \ufffd please"


async def test_solving_writes_the_status_and_its_pending_event_together(
        desk: EmbeddedDesk) -> None:
    problem = await desk.open(draft("social-router:incident:outage:1"))
    child = await desk.open(draft("social-router:generic:9"))
    await desk.link(child.id, problem.id)
    assert desk.outbox_rows() == []  # opening a ticket is the router's own doing
    desk.solve(problem.id)
    pending = desk.outbox_rows()
    assert [(e["ticket_id"], e["status"]) for e in pending] == [
        (problem.id, "solved"), (child.id, "solved")]
    assert pending[0]["url"] == problem.url
    desk.outbox_sent([pending[0]["seq"]])
    assert [e["ticket_id"] for e in desk.outbox_rows()] == [child.id]
    with pytest.raises(FatalError, match="no ticket '99'"):
        desk.solve("99")
    assert len(desk.outbox_rows()) == 1  # nothing half-written for a bad id
    assert desk.unknown_ids([problem.id, "99", "x"]) == ["99", "x"]


async def test_the_cli_never_creates_a_desk_file(tmp_path: Path) -> None:
    path = tmp_path / "mistyped.sqlite"
    d = EmbeddedDesk(EmbeddedConfig(path=path), create=False)
    with pytest.raises(FatalError, match="ROUTER_EMBEDDED_DESK_PATH"):
        d.tickets()
    assert not path.exists()


async def test_a_locked_file_is_retriable_and_never_blocks_the_event_loop(
        tmp_path: Path) -> None:
    import sqlite3

    from connectors.errors import RetriableError

    path = tmp_path / "desk.sqlite"
    d = EmbeddedDesk(EmbeddedConfig(path=path, busy_timeout_seconds=1.0))
    await d.setup()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    ticks = 0

    async def heartbeat() -> None:  # what /health needs: the loop keeps turning
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    beat = asyncio.create_task(heartbeat())
    try:
        with pytest.raises(RetriableError, match="locked"):
            await d.open(draft())
        assert ticks > 5  # the loop ran while the desk waited for the lock
    finally:
        beat.cancel()
        holder.execute("ROLLBACK")
        holder.close()
    t = await d.open(draft())
    assert t.id == "1"
    await d.aclose()


async def test_an_agents_tag_is_written_with_its_pending_event(desk: EmbeddedDesk) -> None:
    t = await desk.open(draft())
    assert desk.tag(t.id, "Not-Actionable") is True
    assert desk.tag(t.id, "not-actionable") is False  # already on: nothing new to say
    assert desk.tag(t.id, "vip") is True
    assert desk.ticket(t.id)["tags"] == ["social", "Not-Actionable", "vip"]  # type: ignore[index]
    desk.solve(t.id)
    assert desk.tag(t.id, "not-actionable", remove=True) is True
    assert [(e["ticket_id"], e["status"], e["not_actionable"]) for e in desk.outbox_rows()] == [
        (t.id, "new", True), (t.id, "new", True), (t.id, "solved", True),
        (t.id, "solved", False)]
    assert desk.ticket(t.id)["tags"] == ["social", "vip"]  # type: ignore[index]
    with pytest.raises(FatalError, match="no ticket '99'"):
        desk.tag("99", "not-actionable")
    with pytest.raises(FatalError, match="give a tag"):
        desk.tag(t.id, "  ")
    assert len(desk.outbox_rows()) == 4


async def test_the_feedback_tag_is_a_setting(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_EMBEDDED_DESK_FEEDBACK_TAG", "misrouted")
    d = EmbeddedDesk(EmbeddedConfig(path=tmp_path / "desk.sqlite"))
    await d.setup()
    t = await d.open(draft())
    d.tag(t.id, "not-actionable")
    d.tag(t.id, "misrouted")
    assert [e["not_actionable"] for e in d.outbox_rows()] == [False, True]
    await d.aclose()


OLD_OUTBOX = """
CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id), status TEXT NOT NULL, at REAL NOT NULL,
    sent_at REAL);
"""


async def test_a_file_from_before_the_mark_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    old = EmbeddedDesk(EmbeddedConfig(path=path))
    t = await old.open(draft())
    await old.aclose()
    with sqlite3.connect(path) as db:  # the outbox as an older version made it
        db.executescript("DROP TABLE outbox;" + OLD_OUTBOX)
        db.execute("INSERT INTO outbox (ticket_id, status, at) VALUES (?, 'solved', 1.0)",
                   (int(t.id),))
    cli = EmbeddedDesk(EmbeddedConfig(path=path), create=False)  # what `router desk` opens
    cli.tag(t.id, "not-actionable")
    assert [(e["status"], e["not_actionable"]) for e in cli.outbox_rows()] == [
        ("solved", None), ("new", True)]  # the old event did not say
    await cli.aclose()
    again = EmbeddedDesk(EmbeddedConfig(path=path), create=False)  # a second open: no-op
    assert len(again.outbox_rows()) == 2
    await again.aclose()


async def test_moving_a_post_to_another_or_a_new_ticket_is_safe_to_repeat(
        desk: EmbeddedDesk) -> None:
    source = await desk.open(draft("social-router:generic:1"))
    other = await desk.open(draft("social-router:generic:2", handle="bob"))
    post = draft(handle="zoe").mention
    new = desk.move(source.id, post, to=None)
    assert desk.move(source.id, post, to=None) == new  # the same new ticket
    shown = desk.ticket(new.id)
    assert shown is not None and shown["requester"] == "generic:@zoe"
    assert "charged twice" in shown["body"] and f"from #{source.id}" in shown["subject"]
    assert desk.move(source.id, post, to=other.id).id == other.id
    desk.move(source.id, post, to=other.id)
    notes = [c["body"] for c in desk.comments(other.id)]
    assert len(notes) == 1 and "charged twice" in notes[0]
    assert [c["body"].split(" to ")[-1] for c in desk.comments(source.id)] == [
        f"ticket #{new.id}.", f"ticket #{other.id}."]
    with pytest.raises(FatalError, match="is the one the mention is on"):
        desk.move(source.id, post, to=source.id)
    assert desk.outbox_rows() == []  # telling the router is the CLI's (a linked event)
