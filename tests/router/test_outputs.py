"""The last gate before a reply is public, and posting on a real network's API (faked as
Mastodon documents it): once, from the corporate account, never when hurtful or switched off."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

from connectors.social.mastodon import Mastodon, MastodonConfig
from router.agents.publish import Publish
from router.control import KILL_SWITCH, Control
from router.network_output import NetworkOutput
from router.outputs import FileOutput
from router.settings import Settings
from vocab.records import Reply

from ..connectors.social.fakes import FakeMastodon


class Model:
    """Scores a reply hurtful when it contains a slur-like word (stands in for the gate)."""

    def hurtful(self, texts: list[str]) -> list[float]:
        return [0.97 if "idiot" in t else 0.01 for t in texts]


def reply(rid: str = "r1", text: str = "Hi @ann, sorted: https://desk.example/t/1",
          in_reply_to: str = "1") -> Reply:
    return Reply(id=rid, network="mastodon", in_reply_to=in_reply_to, conversation_id=None,
                 author_handle="ann", text=text, ticket_url="https://desk.example/t/1",
                 ticket_key="embedded:1")


def runtime(output: Any, settings: Settings | None = None) -> Any:
    settings = settings or Settings()
    letters: list[tuple[str, str]] = []

    async def dead_letter_record(source: str, key: str, raw: bytes, reason: str) -> None:
        letters.append((key, reason))

    counters: Counter[str] = Counter()
    return SimpleNamespace(settings=settings, control=Control(settings), model=Model(),
                           policy_settings=lambda: settings,
                           output=output, letters=letters, counters=counters,
                           count=lambda name, n=1: counters.update({name: n}),
                           dead_letter_record=dead_letter_record)


def publish_step(rt: Any) -> Publish:
    """The step with only what it uses: the control state, the gate, the output, a sink."""
    return Publish(control=rt.control, hurtful=rt.model.hurtful,
                   hurtful_cut=lambda: rt.policy_settings().hurtful_cut, output=rt.output,
                   sink=rt)


def mastodon_output(fake: FakeMastodon) -> NetworkOutput:
    net = Mastodon(MastodonConfig(base_url="https://mastodon.social", access_token=fake.token,
                                  account="acmesupport", max_wait=1.0),
                   httpx.AsyncClient(transport=fake.transport()))
    return NetworkOutput(Settings(), hurtful=Model().hurtful, networks={"mastodon": net})


async def test_reply_is_posted_once_in_the_customers_thread() -> None:
    fake = FakeMastodon()
    status = fake.add_mention("my order never arrived")["status"]
    rt = runtime(mastodon_output(fake))
    step = publish_step(rt)
    await step.handle(reply(in_reply_to=status["id"]))
    await step.handle(reply(in_reply_to=status["id"]))  # redelivered
    assert len(fake.posted) == 1
    assert fake.posted[0]["in_reply_to_id"] == status["id"]
    assert "https://desk.example/t/1" in fake.posted[0]["content"]
    assert rt.letters == []


async def test_kill_switch_stops_a_reply_already_queued(tmp_path: Path) -> None:
    fake = FakeMastodon()
    status = fake.add_mention("help")["status"]
    rt = runtime(mastodon_output(fake))
    rt.control.apply(KILL_SWITCH.encode(), b'{"value": false}')  # ops: `router killswitch on`
    await publish_step(rt).handle(reply(in_reply_to=status["id"]))
    assert fake.posted == []
    assert rt.letters == [("r1", "kill switch: replies are turned off")]
    rt.control.apply(KILL_SWITCH.encode(), b'{"value": true}')
    await publish_step(rt).handle(reply(in_reply_to=status["id"]))
    assert len(fake.posted) == 1


async def test_hurtful_reply_text_is_never_posted() -> None:
    fake = FakeMastodon()
    status = fake.add_mention("help")["status"]
    rt = runtime(mastodon_output(fake))
    await publish_step(rt).handle(reply(text="Sorted, idiot: https://desk.example/t/1",
                                   in_reply_to=status["id"]))
    assert fake.posted == []
    assert "hurtful" in rt.letters[0][1]


async def test_quiet_hours_hold_replies() -> None:
    hour = time.gmtime().tm_hour
    rt = runtime(FileOutput(Path("/nonexistent/never-written.jsonl")))
    rt.control.values["quiet_hours"] = f"{hour}-{(hour + 1) % 24}"  # `router set quiet_hours`
    await publish_step(rt).handle(reply())
    assert rt.letters[0][1] == "quiet hours"


async def test_file_output_posts_each_reply_id_once_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "replies.jsonl"
    out = FileOutput(path, echo=False)
    await out.setup()
    assert await out.post(reply()) is not None
    again = FileOutput(path, echo=False)
    await again.setup()
    assert await again.post(reply()) is None
    assert len(path.read_text().splitlines()) == 1


class Borderline:
    """Scores every reply 0.6 hurtful: over the shipped cut, under a looser one."""

    def hurtful(self, texts: list[str]) -> list[float]:
        return [0.6 for _ in texts]


async def test_the_networks_own_gate_follows_the_threshold_ops_set_at_runtime() -> None:
    """`router set hurtful_threshold` (or a promoted model's card) moves the last gate too:
    the network's re-check before posting reads the threshold the publisher reads."""
    fake = FakeMastodon()
    status = fake.add_mention("help")["status"]
    net = Mastodon(MastodonConfig(base_url="https://mastodon.social", access_token=fake.token,
                                  account="acmesupport", max_wait=1.0),
                   httpx.AsyncClient(transport=fake.transport()))
    settings = Settings(hurtful_threshold=0.5)
    rt = runtime(None, settings)
    rt.output = NetworkOutput(settings, hurtful=Borderline().hurtful,
                              hurtful_cut=lambda: rt.policy_settings().hurtful_cut,
                              networks={"mastodon": net})
    step = Publish(control=rt.control, hurtful=Borderline().hurtful,
                   hurtful_cut=lambda: rt.policy_settings().hurtful_cut, output=rt.output,
                   sink=rt)
    await step.handle(reply("r1", in_reply_to=status["id"]))
    assert fake.posted == [] and "hurtful" in rt.letters[0][1]  # 0.6 >= 0.5: held
    looser = Settings(hurtful_threshold=0.8)  # ops: `router set hurtful_threshold 0.8`
    rt.policy_settings = lambda: looser
    await step.handle(reply("r2", in_reply_to=status["id"]))
    assert len(fake.posted) == 1, rt.letters  # the network's gate agrees: posted
