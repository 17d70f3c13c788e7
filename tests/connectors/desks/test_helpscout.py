"""Help Scout specifics: the OAuth2 token is cached, renewed after a 401, never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from connectors.desks.base import CommentBody

from .drafts import draft
from .harnesses.helpscout import HelpScoutHarness


async def test_token_is_cached_and_renewed(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = HelpScoutHarness(tmp_path)
    desk = h.make_desk()
    try:
        ticket = await desk.open(draft("hs-1"))
        await desk.comment(ticket.id, CommentBody(text="On it"), public=True,
                           idempotency_key="k1")
        assert h.hs.token_requests == 1
        h.hs.revoke_tokens()  # expired or revoked on Help Scout's side
        assert await desk.status(ticket.id) == "open"
        assert h.hs.token_requests == 2
    finally:
        await desk.aclose()
    for token in h.hs.tokens:
        assert token not in caplog.text


async def test_rate_limit_header_of_help_scout_is_honoured(tmp_path: Path) -> None:
    h = HelpScoutHarness(tmp_path)
    desk = h.make_desk()
    h.hs.fail_next(1, 429, {"X-RateLimit-Retry-After": "1"})
    try:
        assert (await desk.open(draft("hs-429"))).id
    finally:
        await desk.aclose()
    seen = h.requests()
    assert seen[0].status == 429 and seen[1].at - seen[0].at >= 0.95
