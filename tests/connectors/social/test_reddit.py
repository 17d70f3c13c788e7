from __future__ import annotations

import httpx
import pytest

from connectors.errors import ConfigError, InvalidPayload, SkippableError
from connectors.social.reddit import Reddit, RedditConfig
from vocab.records import Reply

from .conftest import load, never_hurtful
from .fakes import FakeReddit

UA = "server:acme-router:1.0 (by /u/AcmeSupport)"


def make(fake: FakeReddit | None = None, **overrides: object) -> Reddit:
    fake = fake or FakeReddit()
    settings: dict[str, object] = {"client_id": fake.client_id,
                                   "client_secret": fake.client_secret,
                                   "username": fake.username, "password": fake.password,
                                   "account": "AcmeSupport", "user_agent": UA,
                                   "poll_limit": 4, "max_wait": 1.0, "overlap": 600,
                                   "employees": ["ivan_petrov"]}
    settings.update(overrides)
    return Reddit(RedditConfig(**settings),  # type: ignore[arg-type]
                  httpx.AsyncClient(transport=fake.transport()), hurtful=never_hurtful)


def reply_for(thing: str, *, rid: str = "r-1", text: str = "",
              link: str = "https://status.acme.example/incidents/77") -> Reply:
    return Reply(id=rid, network="reddit", in_reply_to=thing, conversation_id="t3_post1",
                 author_handle="throwaway_ann", text=text, ticket_url=link,
                 ticket_key="github:77", lang=None)


def test_username_mention_comment() -> None:
    m = make().normalize(load("reddit", "mention_comment"))
    assert m.id == "t1_lx2k9ab" and m.author.handle == "throwaway_ann"
    assert m.author.id == "t2_8xk2q" and m.in_reply_to == "t3_1gx7abc"
    assert m.url == "https://www.reddit.com/r/techsupport/comments/1gx7abc/acme_router_wifi/lx2k9ab/"
    assert m.created_at == "2026-11-23T02:00:00Z" and m.text.startswith("u/AcmeSupport")
    assert m.conversation_id == "t3_1gx7abc"


def test_cyrillic_reply_from_an_employee() -> None:
    m = make().normalize(load("reddit", "comment_reply_cyrillic"))
    assert m.text.startswith("Спасибо") and m.is_employee and m.in_reply_to == "t1_lx2kaaa"


def test_edited_comment_keeps_its_id() -> None:
    assert make().normalize(load("reddit", "edited_comment")).id == "t1_lx2kedt"


def test_private_message_keeps_its_subject() -> None:
    m = make().normalize(load("reddit", "private_message"))
    assert m.id == "t4_2f9xk1" and m.text.startswith("Refund for order 4411\n\nHi,")
    assert m.conversation_id == "t4_2f9xk1"


@pytest.mark.parametrize(("name", "reason"), [
    ("deleted_comment", "deleted or removed"),
    ("removed_comment", "deleted or removed"),
    ("missing_author", "'author' is missing"),
    ("wrong_kind", "neither a comment"),
])
def test_unusable_payloads_say_why(name: str, reason: str) -> None:
    with pytest.raises(InvalidPayload, match=reason):
        make().normalize(load("reddit", name))


async def drain(net: Reddit, checkpoint: str | None) -> tuple[list[str], str | None]:
    got: list[str] = []
    while True:
        page = await net.poll(checkpoint)
        got += [p["data"]["name"] for p in page.payloads]
        checkpoint = page.checkpoint
        if not page.more:
            return got, checkpoint


async def test_poll_no_gaps_no_duplicates_across_restart_and_late_mentions() -> None:
    fake = FakeReddit()
    fake.add_mention()
    _, checkpoint = await drain(make(fake), None)
    batch = [fake.add_mention(f"u/AcmeSupport n{i}")["data"]["name"] for i in range(9)]
    page = await make(fake).poll(checkpoint)  # one page, then a restart
    late = fake.add_mention("late", ts=fake.clock - 100)["data"]["name"]  # older timestamp
    rest, checkpoint = await drain(make(fake), page.checkpoint)
    got = [p["data"]["name"] for p in page.payloads] + rest
    more, checkpoint = await drain(make(fake), checkpoint)
    got += more
    assert sorted(got) == sorted([*batch, late]) and len(got) == len(set(got))
    assert (await drain(make(fake), checkpoint))[0] == []


async def test_poll_honours_429_with_reddit_headers() -> None:
    fake = FakeReddit()
    fake.add_mention()
    fake.limiter.fail = 1
    page = await make(fake).poll(None)
    assert len(page.payloads) == 1 and fake.limiter.served_429 == 1


async def test_reply_comment_once_even_after_a_lost_answer() -> None:
    fake = FakeReddit()
    thing = fake.add_mention()["data"]["name"]
    fake.lose_answer = 1
    posted = await make(fake).reply(reply_for(thing))
    assert len(fake.comments) == 1 and posted.id == "t1_r00001"
    assert posted.url.endswith("/r00001/")
    assert fake.comments[0]["data"]["parent_id"] == thing


async def test_reddit_ratelimit_error_is_waited_out() -> None:
    fake = FakeReddit()
    thing = fake.add_mention()["data"]["name"]
    fake.ratelimit_comment = 1
    await make(fake).reply(reply_for(thing))
    assert len(fake.comments) == 1


async def test_reply_to_deleted_comment_is_skippable() -> None:
    fake = FakeReddit()
    thing = fake.add_mention(deleted=True)["data"]["name"]
    with pytest.raises(SkippableError, match="DELETED_COMMENT"):
        await make(fake).reply(reply_for(thing))


async def test_refused_password_grant_names_the_settings() -> None:
    with pytest.raises(ConfigError, match="ROUTER_REDDIT_PASSWORD"):
        await make(FakeReddit(), password="wrong").setup()


async def test_user_agent_is_required() -> None:
    with pytest.raises(ConfigError, match="ROUTER_REDDIT_USER_AGENT"):
        await make(FakeReddit(), user_agent="").setup()
