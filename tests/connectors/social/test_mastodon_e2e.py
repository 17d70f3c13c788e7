"""The Mastodon connector against a real Mastodon-client-API server (GoToSocial) on loopback.

``scripts/mastodon-server.sh install`` builds it from the Go module proxy once; without it
these tests are skipped with that instruction.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.social.ledger import SqliteLedger
from connectors.social.mastodon import Mastodon, MastodonConfig
from vocab.records import Reply

from .conftest import never_hurtful

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "mastodon-server.sh"
GTS_HOME = Path(os.environ.get("GTS_HOME",
                               Path.home() / ".cache" / "escalation-router" / "gotosocial"))
LINK = "https://help.acme.example/hc/requests/4411"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (GTS_HOME / "installed").exists()  # written last by a complete install
        or not Path((GTS_HOME / "installed").read_text().strip()).exists(),
        reason="GoToSocial is not installed: run scripts/mastodon-server.sh install "
               "(builds it from the Go module proxy)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    where = tmp_path_factory.mktemp("gotosocial")
    env = {**os.environ, "PYTHON": sys.executable, "GTS_HOME": str(GTS_HOME)}
    subprocess.run([str(SCRIPT), "start", str(where), str(_free_port())], check=True,
                   env=env, timeout=180, capture_output=True)
    try:
        values = dict(line.split("=", 1) for line in (where / "env").read_text().split())
        yield values
    finally:
        subprocess.run([str(SCRIPT), "stop", str(where)], env=env, timeout=60, check=False)


def connector(server: dict[str, str], **overrides: object) -> Mastodon:
    settings: dict[str, object] = {"base_url": server["MASTODON_E2E_URL"],
                                   "access_token": server["MASTODON_E2E_SUPPORT_TOKEN"],
                                   "account": "acmesupport", "poll_limit": 2, "max_wait": 2.0}
    settings.update(overrides)
    return Mastodon(MastodonConfig(**settings),  # type: ignore[arg-type]
                    hurtful=never_hurtful)


async def customer_posts(server: dict[str, str], text: str) -> str:
    async with httpx.AsyncClient(base_url=server["MASTODON_E2E_URL"]) as client:
        response = await client.post(
            "/api/v1/statuses", data={"status": text, "visibility": "public"},
            headers={"Authorization": f"Bearer {server['MASTODON_E2E_CUSTOMER_TOKEN']}"})
        response.raise_for_status()
        return str(response.json()["id"])


async def our_replies(server: dict[str, str], net: Mastodon) -> list[dict[str, object]]:
    response = await net.request(
        "GET", net.url(f"/api/v1/accounts/{net._my_id}/statuses"), headers=net.headers())
    return [s for s in response.json() if s.get("in_reply_to_id")]


async def test_mention_in_reply_out_once(server: dict[str, str], tmp_path: Path) -> None:
    status_id = await customer_posts(server, "@acmesupport my order 4411 never arrived 📦")
    net = connector(server, ledger_path=str(tmp_path / "replies.sqlite"))
    await net.setup()  # verify_credentials: the corporate account
    page = await net.poll(None)
    mentions = [net.normalize(p) for p in page.payloads]
    mention = next(m for m in mentions if m.id == status_id)
    assert mention.author.handle == "ann" and "never arrived 📦" in mention.text
    reply = Reply(id="e2e-1", network="mastodon", in_reply_to=mention.id,
                  conversation_id=None, author_handle=mention.author.handle,
                  text="", ticket_url=LINK, ticket_key="zendesk:4411", lang="en")
    posted = await net.reply(reply)
    assert posted.id and await net.reply(reply) == posted
    await net.aclose()

    # A crash after the post, before the ledger heard of it: a new process must not post
    # again. GoToSocial ignores Idempotency-Key, so this is the look at our own statuses.
    ledger = SqliteLedger(tmp_path / "fresh.sqlite")
    ledger.begin("e2e-1")
    again = connector(server, ledger_path=None)
    again._ledger = ledger
    assert (await again.reply(reply)).id == posted.id
    replies = await our_replies(server, again)
    assert [s["id"] for s in replies] == [posted.id]
    assert replies[0]["in_reply_to_id"] == status_id and LINK in str(replies[0]["content"])
    await again.aclose()


async def test_poll_resumes_across_a_restart(server: dict[str, str]) -> None:
    net = connector(server)
    checkpoint = None
    while True:  # catch up on whatever is there
        page = await net.poll(checkpoint)
        checkpoint = page.checkpoint
        if not page.more:
            break
    await net.aclose()
    new = [await customer_posts(server, f"@acmesupport still waiting #{i}") for i in range(5)]
    restarted = connector(server)
    got: list[str] = []
    while True:
        page = await restarted.poll(checkpoint)
        got += [p["status"]["id"] for p in page.payloads]
        checkpoint = page.checkpoint
        if not page.more:
            break
    assert got == new  # in order, no gap, no duplicate (pages of 2)
    await restarted.aclose()
