"""Polling a network for mentions: every new mention produced once, bad payloads
dead-lettered with a reason, and a restart resumes from the saved checkpoint with no gap
and no repeat (Mastodon's notifications API, faked as documented)."""

from __future__ import annotations

import json

import httpx

from connectors.social.mastodon import Mastodon, MastodonConfig
from router.social_poller import poll_network
from vocab.records import Mention

from ..connectors.social.fakes import FakeMastodon


def mastodon(fake: FakeMastodon) -> Mastodon:
    return Mastodon(MastodonConfig(base_url="https://mastodon.social", access_token=fake.token,
                                   account="acmesupport", max_wait=1.0, poll_limit=2),
                    httpx.AsyncClient(transport=fake.transport()))


class Sink:
    def __init__(self) -> None:
        self.mentions: list[Mention] = []
        self.letters: list[tuple[bytes, str]] = []
        self.checkpoint: str | None = None

    async def send(self, key: bytes, value: bytes) -> None:
        self.mentions.append(Mention.loads(value))
        assert key == f"mastodon:{self.mentions[-1].author.id}".encode()

    async def dead_letter(self, raw: bytes, reason: str) -> None:
        self.letters.append((raw, reason))

    async def save(self, checkpoint: str) -> None:
        self.checkpoint = checkpoint


async def test_new_mentions_once_and_resume_after_restart_without_gaps() -> None:
    fake = FakeMastodon()
    fake.add_mention("hello from before the router existed")
    sink = Sink()
    # First start: no backfill of history; the newest page sets the checkpoint.
    await poll_network(mastodon(fake), None, send=sink.send, dead_letter=sink.dead_letter,
                       save=sink.save)
    sink.mentions.clear()
    for i in range(3):  # more than one page (poll_limit=2)
        fake.add_mention(f"my order {i} never arrived")
    n, _ = await poll_network(mastodon(fake), sink.checkpoint, send=sink.send,
                              dead_letter=sink.dead_letter, save=sink.save)
    assert n == 3 and [m.text.split()[-3] for m in sink.mentions] == ["0", "1", "2"]

    fake.add_mention("order 3 never arrived")  # arrives while the worker is down
    restarted, again = mastodon(fake), Sink()
    n, _ = await poll_network(restarted, sink.checkpoint, send=again.send,
                              dead_letter=again.dead_letter, save=again.save)
    assert n == 1 and "order 3" in again.mentions[0].text
    n, _ = await poll_network(restarted, again.checkpoint, send=again.send,
                              dead_letter=again.dead_letter, save=again.save)
    assert n == 0


async def test_a_payload_that_cannot_be_a_mention_is_dead_lettered() -> None:
    fake = FakeMastodon()
    broken = fake.add_mention("help")
    broken["status"] = None  # a mention notification whose post was deleted
    fake.add_mention("still locked out of my account")
    sink = Sink()
    n, _ = await poll_network(mastodon(fake), None, send=sink.send,
                              dead_letter=sink.dead_letter, save=sink.save)
    assert n == 1 and len(sink.letters) == 1
    raw, reason = sink.letters[0]
    assert json.loads(raw)["id"] == broken["id"] and reason.startswith("mastodon:")


async def test_a_normalizer_bug_on_one_payload_is_its_dead_letter_not_the_rounds_end() -> None:
    """Polled payloads come through the same guarded door as pushed ones: a shape the
    normalizer never foresaw (here it raises IndexError) dead-letters that payload, and the
    mentions after it on the page are still produced."""
    fake = FakeMastodon()
    fake.add_mention("from before the router existed")
    sink = Sink()
    await poll_network(mastodon(fake), None, send=sink.send, dead_letter=sink.dead_letter,
                       save=sink.save)
    sink.mentions.clear()
    for text in ("first order lost", "BOOM", "third order lost"):
        fake.add_mention(text)

    class Fragile(Mastodon):
        def normalize(self, payload: dict) -> Mention:  # type: ignore[override]
            if "BOOM" in json.dumps(payload):
                raise IndexError("list index out of range")
            return super().normalize(payload)

    net = Fragile(mastodon(fake).config, httpx.AsyncClient(transport=fake.transport()))
    n, _ = await poll_network(net, sink.checkpoint, send=sink.send,
                              dead_letter=sink.dead_letter, save=sink.save)
    assert n == 2
    assert [m.text.split(" ", 1)[1] for m in sink.mentions] == ["first order lost",
                                                                 "third order lost"]
    assert len(sink.letters) == 1 and "could not be read (IndexError)" in sink.letters[0][1]
