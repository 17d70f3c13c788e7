"""The embedded desk (a real SQLite file): the verbs every desk offers, and what agents do."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from connectors.desks.base import CommentBody, TicketDraft
from connectors.desks.embedded import EmbeddedConfig, EmbeddedDesk
from connectors.errors import FatalError
from router.records import Author, Mention


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
