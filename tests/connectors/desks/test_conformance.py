"""The contract every desk connector keeps, run against every harness in ``harnesses/``.

Adding a desk to this suite is one file: ``harnesses/<name>.py`` exposing ``HARNESS``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from connectors.desks.base import STATUSES, CommentBody, Desk
from connectors.errors import ConfigError, FatalError, NotSupported, RetriableError

from .drafts import draft, mention
from .harness import Harness, discover

HARNESSES = discover()


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    h = HARNESSES[request.param](tmp_path)
    assert isinstance(h, Harness)
    return h


@pytest.fixture
async def desk(harness: Harness) -> AsyncIterator[Desk]:
    d = harness.make_desk()
    await d.setup()
    yield d
    await d.aclose()


async def test_lifecycle(harness: Harness, desk: Desk) -> None:
    d = draft("case-life")
    ticket = await desk.open(d)
    assert ticket.id
    assert harness.count_tickets() == 1

    found = await desk.find_by_external_id("case-life")
    assert found is not None and found.id == ticket.id
    assert await desk.find_by_external_id("case-unknown") is None

    assert (await desk.open(d)).id == ticket.id
    assert harness.count_tickets() == 1

    mine = await desk.find_open_for_requester("ann", "mastodon")
    assert mine is not None and mine.id == ticket.id
    assert await desk.find_open_for_requester("nobody", "mastodon") is None

    assert await desk.status(ticket.id) in ("new", "open")


async def test_comments_public_internal_and_idempotent(harness: Harness, desk: Desk) -> None:
    ticket = await desk.open(draft("case-comments"))
    reply = CommentBody(text="We are on it, sorry for the wait.")
    note = CommentBody(text="", mention=mention("Still waiting!", id="2"))
    await desk.comment(ticket.id, reply, public=True, idempotency_key="k-reply")
    await desk.comment(ticket.id, note, public=False, idempotency_key="k-note")
    await desk.comment(ticket.id, reply, public=True, idempotency_key="k-reply")
    comments = harness.comments(ticket.id)
    assert len(comments) == 2, comments
    assert comments[0].public is True and "We are on it" in comments[0].text
    assert "Still waiting" in comments[1].text
    if harness.internal_notes == "internal":
        assert comments[1].public is False
    else:
        assert comments[1].text.lower().lstrip("*_ ").startswith("internal note")


async def test_comment_not_duplicated_when_answer_is_lost(harness: Harness,
                                                          desk: Desk) -> None:
    ticket = await desk.open(draft("case-lost-comment"))
    harness.fail_next(1, 503, after_commit=True, method="comment")
    await desk.comment(ticket.id, CommentBody(text="Fixed now."), public=True,
                       idempotency_key="k-lost")
    assert len(harness.comments(ticket.id)) == 1


async def test_status_follows_the_desk(harness: Harness, desk: Desk) -> None:
    ticket = await desk.open(draft("case-status"))
    harness.set_status(ticket.id, "pending")
    assert await desk.status(ticket.id) == "pending"
    harness.set_status(ticket.id, "solved")
    assert await desk.status(ticket.id) in ("solved", "closed")
    got = await desk.get(ticket.id)
    assert got.status in STATUSES and got.id == ticket.id and got.url
    assert await desk.find_open_for_requester("ann", "mastodon") is None


async def test_retry_storm_never_creates_a_second_ticket(harness: Harness,
                                                         desk: Desk) -> None:
    harness.set_search_lag(0.2)
    harness.fail_next(2, 429, {"Retry-After": "0"})
    harness.fail_next(1, 503, after_commit=True, method="create")
    harness.timeout_next(1, after_commit=True, method="create")
    harness.fail_next(2, 503)
    d = draft("case-storm")
    tickets = await asyncio.gather(*(desk.open(d) for _ in range(4)))
    for _ in range(2):
        tickets.append(await desk.open(d))
    assert len({t.id for t in tickets}) == 1
    assert harness.count_tickets() == 1


async def test_retry_storm_across_restarts(harness: Harness) -> None:
    """A second desk instance (a restarted worker, same state file) does not duplicate."""
    harness.set_search_lag(0.2)
    first = harness.make_desk(max_attempts=1)
    await first.setup()
    harness.fail_next(1, 503, after_commit=True, method="create")
    with pytest.raises(RetriableError):  # the create went through; its answer was lost
        await first.open(draft("case-restart"))
    await first.aclose()
    second = harness.make_desk()
    await second.setup()
    try:
        ticket = await second.open(draft("case-restart"))
    finally:
        await second.aclose()
    assert ticket.id
    assert harness.count_tickets() == 1


async def test_bad_credentials_are_fatal_and_secret_free(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad = harness.make_desk(bad_credentials=True)
    try:
        with pytest.raises(FatalError) as info:
            await bad.setup()  # a desk may check the credentials here already
            await bad.open(draft("case-401"))
    finally:
        await bad.aclose()
    assert info.value.status_code == 401 or isinstance(info.value, ConfigError)
    shown = f"{info.value} {info.value!r} {caplog.text}"
    assert harness.secret not in shown
    assert "wrong-" not in shown  # the bad secret every harness uses starts with "wrong-"
    assert harness.count_tickets() == 0


async def test_retry_after_is_honoured(harness: Harness, desk: Desk) -> None:
    harness.fail_next(1, 429, {"Retry-After": "1"})
    await desk.open(draft("case-429"))
    seen = harness.requests()
    first = next(i for i, r in enumerate(seen) if r.status == 429)
    again = next(r for r in seen[first + 1:]
                 if (r.method, r.path) == (seen[first].method, seen[first].path))
    assert again.at - seen[first].at >= 0.95
    assert harness.count_tickets() == 1


async def test_validation_error_is_fatal(harness: Harness, desk: Desk) -> None:
    if not getattr(harness, "validates_subject", True):
        pytest.skip("this desk accepts a ticket without a subject")
    with pytest.raises(FatalError) as info:
        await desk.open(draft("case-invalid", subject=""))
    assert info.value.status_code is not None and 400 <= info.value.status_code < 500
    assert harness.count_tickets() == 0
    assert (await desk.open(draft("case-invalid"))).id
    assert harness.count_tickets() == 1


async def test_timeout_is_retried(harness: Harness, desk: Desk) -> None:
    harness.timeout_next(2)
    assert (await desk.open(draft("case-timeout"))).id
    assert harness.count_tickets() == 1


async def test_link_or_not_supported(harness: Harness, desk: Desk) -> None:
    parent = await desk.open(draft("case-problem", problem=True))
    child = await desk.open(draft("case-child", handle="carol"))
    if not harness.supports_link:
        with pytest.raises(NotSupported):
            await desk.link(child.id, parent.id)
        return
    await desk.link(child.id, parent.id)
    assert harness.linked(child.id, parent.id)
