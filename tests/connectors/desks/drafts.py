"""Mentions and drafts for the desk tests."""

from __future__ import annotations

from connectors.desks.base import TicketDraft
from vocab.records import Author, Mention

HOSTILE = '<script>alert("x")</script> **bold** [click](javascript:alert(1)) @octocat & co'


def mention(text: str = "My order #123 never arrived, can you help?", *, id: str = "1",
            handle: str = "ann", network: str = "mastodon") -> Mention:
    return Mention(
        id=id, network=network, text=text,
        author=Author(id=f"u-{handle}", handle=handle, name="Ann Example",
                      profile_url=f"https://social.example/@{handle}", followers=1234),
        created_at="2026-11-23T10:00:00Z", url=f"https://social.example/@{handle}/{id}")


def draft(external_id: str = "case-1", *, subject: str | None = None, text: str | None = None,
          handle: str = "ann", problem: bool = False) -> TicketDraft:
    m = mention(text or "My order #123 never arrived, can you help?", id=external_id,
                handle=handle)
    return TicketDraft(
        external_id=external_id,
        subject=f"@{handle} on mastodon: order never arrived" if subject is None else subject,
        mention=m, verdict="incident" if problem else "open", confidence=0.87,
        reasons=["mentions an order number", "asks for help"], category="delivery",
        priority="high", tags=["social", "social-mastodon", "verdict-open"],
        thread=[mention("Anyone else?", id="0", handle="bob")], problem=problem)
