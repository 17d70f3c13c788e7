"""What a support agent sees on a social ticket: the note a linked mention adds, and (on the
real broker) the thread, which shows the post the customer replied to whoever wrote it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from router.agents.escalate import comment_text
from vocab.records import Author, Decision, Mention

from .stream import RouterProcess, encode, key_of, mention, running, tickets


def decision(verdict: str, reason: str) -> Decision:
    m = Mention(id="7", network="mastodon", text="still no refund",
                author=Author(id="u-ann", handle="ann"), created_at="t",
                url="https://social.example/@ann/7")
    return Decision(mention=m, verdict=verdict, scores={}, reasons=[reason],
                    category="billing", priority="high")


@pytest.mark.parametrize("reason", ["replies in the thread of an existing ticket",
                                    "link: replies in the thread of an existing ticket"])
def test_a_linked_note_names_the_verdict_once(reason: str) -> None:
    """A decision written before the fix (its reason starting with 'link:') still reads
    right: the note used to say '(link: link: replies in the thread...)'."""
    text = comment_text(decision("link", reason))
    assert "(link: replies in the thread of an existing ticket)" in text
    assert "link: link" not in text
    assert "https://social.example/@ann/7" in text


def test_a_linked_note_without_reasons_says_the_verdict() -> None:
    text = comment_text(decision("link", ""))
    assert "(link)" in text and "still no refund" in text


# --- on the real broker --------------------------------------------------------------------


@pytest.fixture(scope="module")
def router(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[RouterProcess]:
    rp = RouterProcess(kafka_bootstrap, tmp_path_factory.mktemp("agentview"))
    with running(rp):
        yield rp


@pytest.mark.kafka
@pytest.mark.slow
def test_the_ticket_shows_the_post_replied_to_from_another_author(router: RouterProcess
                                                                  ) -> None:
    parent = mention("av1", "Love the new dashboard from @acmecorp, so much faster than "
                     "before!", "olga", lang="en")  # praise: silent, no ticket of its own
    router.produce("mentions", [encode(parent)], [key_of(parent)])
    ds = router.read("decisions", lambda r: any(d["mention"]["id"] == "av1" for d in r))
    assert next(x for x in ds if x["mention"]["id"] == "av1")["verdict"] == "silent"
    reply = mention("av2", "@olga yes! @acmesupport I was charged twice for my subscription, "
                    "order 5521. Please refund the duplicate charge.", "pat",
                    in_reply_to="av1", conversation_id="av1", lang="de")
    router.produce("mentions", [encode(reply)], [key_of(reply)])
    ds = router.read("decisions", lambda r: any(d["mention"]["id"] == "av2" for d in r))
    d = next(x for x in ds if x["mention"]["id"] == "av2")
    assert d["verdict"] == "open", d["reasons"]
    deadline = time.monotonic() + 60
    mine: list[dict[str, Any]] = []
    while not mine and time.monotonic() < deadline:
        mine = [t for t in tickets(router) if t["requester"] == "generic:@pat"]
        time.sleep(0.3)
    assert mine, router.log_text()[-3000:]
    body = mine[0]["body"]
    assert "The thread" in body
    assert "@olga" in body and "so much faster than before" in body
    assert "Language: de" in body
    assert "P(actionable)" in body and "confidence" not in body


async def test_the_status_page_is_readable_and_shows_nothing_internal(tmp_path: Path) -> None:
    """What the link in a reply opens: number, status, public updates, styled; never the
    agent's view (verdict, scores, notes) and never markup from a comment."""
    from connectors.desks.base import CommentBody
    from connectors.desks.embedded import EmbeddedConfig, EmbeddedDesk
    from router.pages import ticket_page

    from ..connectors.desks.drafts import draft

    desk = EmbeddedDesk(EmbeddedConfig(path=tmp_path / "desk.sqlite",
                                       url="https://desk.example/t/{id}"))
    await desk.setup()
    t = await desk.open(draft("case-page"))
    await desk.comment(t.id, CommentBody(text="internal: VIP, refund approved"), public=False,
                       idempotency_key="n1")
    await desk.comment(t.id, CommentBody(text="Refunded <b>today</b> & sorry!"), public=True,
                       idempotency_key="r1")
    desk.set_status(t.id, "solved")
    view = await desk.public_view(t.id, desk.page_key(t.id))
    assert view is not None
    page = ticket_page(view)
    assert f"Ticket #{t.id}" in page and "Solved" in page and "<style>" in page
    assert "Refunded &lt;b&gt;today&lt;/b&gt; &amp; sorry!" in page
    for hidden in ("VIP", "internal", "Verdict", "P(actionable)", "My order #123"):
        assert hidden not in page
    assert await desk.public_view("999", desk.page_key("999")) is None
    assert await desk.public_view(t.id, desk.page_key("999")) is None  # another ticket's key
