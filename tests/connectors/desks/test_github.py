"""GitHub specifics: its two rate limits, notes, and markers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from connectors.desks.base import CommentBody
from connectors.errors import FatalError, NotSupported

from .drafts import HOSTILE, draft
from .harnesses.github import GitHubHarness


async def test_secondary_rate_limit_403_with_retry_after_is_retried(tmp_path: Path) -> None:
    h = GitHubHarness(tmp_path)
    desk = h.make_desk()
    h.fail_next(1, 403, {"retry-after": "1"})
    try:
        ticket = await desk.open(draft("gh-403"))
    finally:
        await desk.aclose()
    assert ticket.id and h.count_tickets() == 1
    seen = h.requests()
    assert seen[0].status == 403 and seen[1].at - seen[0].at >= 0.95


async def test_primary_rate_limit_waits_for_reset(tmp_path: Path) -> None:
    h = GitHubHarness(tmp_path)
    desk = h.make_desk()
    reset = str(int(time.time()) + 1)
    h.fail_next(1, 403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})
    try:
        assert (await desk.open(draft("gh-primary"))).id
    finally:
        await desk.aclose()
    assert h.requests()[0].status == 403


async def test_plain_403_is_fatal(tmp_path: Path) -> None:
    h = GitHubHarness(tmp_path)
    desk = h.make_desk()
    h.gh.fail_next(1, 403, body={"message": "Resource not accessible by integration",
                                 "documentation_url": "https://docs.github.com/rest"})
    try:
        with pytest.raises(FatalError) as info:
            await desk.open(draft("gh-forbidden"))
    finally:
        await desk.aclose()
    assert info.value.status_code == 403


async def test_internal_notes_can_be_refused(tmp_path: Path) -> None:
    h = GitHubHarness(tmp_path)
    desk = h.make_desk(internal_notes="refuse")
    try:
        ticket = await desk.open(draft("gh-notes"))
        with pytest.raises(NotSupported):
            await desk.comment(ticket.id, CommentBody(text="secret"), public=False,
                               idempotency_key="n1")
    finally:
        await desk.aclose()
    assert h.comments(ticket.id) == []


async def test_issue_body_is_escaped_markdown_with_markers(tmp_path: Path) -> None:
    h = GitHubHarness(tmp_path)
    desk = h.make_desk()
    try:
        ticket = await desk.open(draft("gh-body", text=HOSTILE))
        got = await desk.get(ticket.id)
    finally:
        await desk.aclose()
    body = h.gh.issues[int(ticket.id)]["body"]
    assert "<script>" not in body and "@octocat" not in body
    assert got.external_id == "gh-body"
    assert got.requester == "mastodon:ann"
    assert got.url == "https://github.com/acme/support/issues/1"
