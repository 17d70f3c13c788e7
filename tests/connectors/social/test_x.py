from __future__ import annotations

import json

import httpx
import pytest

from connectors.errors import ConfigError, InvalidPayload, SkippableError
from connectors.social.ledger import MemoryLedger
from connectors.social.text import x_length
from connectors.social.x import X, XConfig, snowflake_time
from vocab.records import Reply

from .conftest import load, never_hurtful
from .fakes import FakeX


def make(fake: FakeX | None = None, **overrides: object) -> X:
    fake = fake or FakeX()
    settings: dict[str, object] = {"user_token": fake.token, "account": "acmesupport",
                                   "poll_limit": 5, "max_wait": 1.0,
                                   "employees": ["bobby"]}
    settings.update(overrides)
    return X(XConfig(**settings),  # type: ignore[arg-type]
             httpx.AsyncClient(transport=fake.transport()), hurtful=never_hurtful)


def reply_for(post_id: str, *, rid: str = "r-1", text: str = "",
              link: str = "https://help.acme.example/hc/requests/4411") -> Reply:
    return Reply(id=rid, network="x", in_reply_to=post_id, conversation_id=post_id,
                 author_handle="ann_example", text=text, ticket_url=link,
                 ticket_key="zendesk:4411", lang="en")


# --- normalize ------------------------------------------------------------------------


def test_reply_mention_with_includes_and_unwound_link() -> None:
    m = make().normalize(load("x", "mention_reply"))
    assert m.id == "1861234567890123456" and m.author.handle == "ann_example"
    assert m.text == ("@AcmeSupport my card was charged twice for order 4411 "
                      "https://shop.acme.example/orders/4411")
    assert m.in_reply_to == "1861230000000000000"
    assert m.conversation_id == "1861230000000000000" and m.lang == "en"
    assert m.author.followers == 512 and not m.author.verified
    assert m.url == "https://x.com/ann_example/status/1861234567890123456"


def test_quote_in_japanese() -> None:
    m = make().normalize(load("x", "quote_japanese"))
    assert m.is_quote and not m.is_repost and m.lang == "ja"
    assert m.text.startswith("@AcmeSupport 同じ問題です。")


def test_retweet_is_a_repost_and_marks_the_employee() -> None:
    m = make().normalize(load("x", "retweet"))
    assert m.is_repost and m.is_employee and m.text.startswith("RT @ann_example: ")


def test_edited_post_is_its_latest_id_in_the_same_conversation() -> None:
    m = make().normalize(load("x", "edited"))
    assert m.id == "1861234567890125002"
    assert m.conversation_id == "1861234567890125001"


def test_media_only_post_keeps_alt_text_and_drops_the_media_link() -> None:
    m = make().normalize(load("x", "media_only"))
    assert m.text == "@AcmeSupport\n\n[image: Screenshot: error 0x80070005 at checkout]"
    assert m.lang is None  # zxx: no linguistic content


def test_missing_created_at_comes_from_the_snowflake() -> None:
    m = make().normalize(load("x", "no_created_at"))
    assert m.created_at == snowflake_time("1861234567890129000") and m.lang == "ru"


@pytest.mark.parametrize(("name", "reason"), [
    ("deleted", "deleted"),
    ("missing_author", "not in includes.users"),
])
def test_unusable_payloads_say_why(name: str, reason: str) -> None:
    with pytest.raises(InvalidPayload, match=reason):
        make().normalize(load("x", name))


def test_own_account_is_marked() -> None:
    payload = load("x", "mention_reply")
    payload["data"]["author_id"] = "783214"
    assert make().normalize(payload).is_own_account


# --- poll -----------------------------------------------------------------------------


async def drain(net: X, checkpoint: str | None) -> tuple[list[str], str | None]:
    got: list[str] = []
    while True:
        page = await net.poll(checkpoint)
        got += [p["data"]["id"] for p in page.payloads]
        checkpoint = page.checkpoint
        if not page.more:
            return got, checkpoint


async def test_poll_walks_pages_under_since_id_and_resumes_after_restart() -> None:
    fake = FakeX()
    fake.add_mention("@AcmeSupport first")
    first, checkpoint = await drain(make(fake), None)
    assert len(first) == 1
    batch = [fake.add_mention(f"@AcmeSupport n{i}")["id"] for i in range(12)]
    page = await make(fake).poll(checkpoint)  # one page, then a "crash"
    assert page.more and len(page.payloads) == 5
    during = fake.add_mention("@AcmeSupport arrived mid-walk")["id"]
    rest, checkpoint = await drain(make(fake), page.checkpoint)
    got = [p["data"]["id"] for p in page.payloads] + rest
    later, checkpoint = await drain(make(fake), checkpoint)
    got += later
    assert sorted(got) == sorted([*batch, during]) and len(got) == len(set(got))
    assert (await drain(make(fake), checkpoint))[0] == []
    walked = [r for r in fake.requests if "pagination_token" in r.url.params]
    assert walked and all("since_id" in r.url.params for r in walked)


async def test_empty_first_poll_starts_from_now() -> None:
    fake = FakeX()
    _, checkpoint = await drain(make(fake), None)
    new = [fake.add_mention()["id"] for _ in range(7)]
    got, _ = await drain(make(fake), checkpoint)
    assert sorted(got) == sorted(new)


async def test_429_is_waited_out_with_x_headers() -> None:
    fake = FakeX()
    fake.add_mention()
    fake.limiter.fail = 2
    page = await make(fake).poll(None)
    assert len(page.payloads) == 1 and fake.limiter.served_429 == 2


# --- reply ----------------------------------------------------------------------------


async def test_reply_in_thread_within_280_weighted() -> None:
    fake = FakeX()
    parent = fake.add_mention()["id"]
    link = "https://help.acme.example/hc/requests/4411?" + "q" * 300  # t.co: 23
    text = "お待たせしました。二重請求を取り消し、返金手続きを完了しました。" * 4
    posted = await make(fake).reply(reply_for(parent, text=text, link=link))
    (sent,) = [json.loads(r.content) for r in fake.requests if r.method == "POST"]
    assert sent["reply"] == {"in_reply_to_tweet_id": parent}
    assert sent["text"].endswith(link) and x_length(sent["text"]) <= 280
    assert posted.url == f"https://x.com/AcmeSupport/status/{posted.id}"


async def test_lost_answer_is_found_not_reposted() -> None:
    fake = FakeX()
    parent = fake.add_mention()["id"]
    fake.lose_answer = 1  # the post is made, the answer times out
    posted = await make(fake).reply(reply_for(parent))
    assert len(fake.posted) == 1 and posted.id == fake.posted[0]["id"]
    assert len([r for r in fake.requests if r.method == "POST"]) == 1


async def test_in_doubt_after_a_crash_finds_the_earlier_post() -> None:
    fake = FakeX()
    parent = fake.add_mention()["id"]
    ledger = MemoryLedger()
    await make(fake, ledger_path=None).reply(reply_for(parent))  # posted; ledger lost
    ledger.begin("r-1")  # the new process's ledger only saw the attempt start
    net = make(fake)
    net._ledger = ledger
    again = await net.reply(reply_for(parent))
    assert len(fake.posted) == 1 and again.id == fake.posted[0]["id"]


async def test_reply_to_deleted_post_is_skippable() -> None:
    with pytest.raises(SkippableError, match="gone"):
        await make().reply(reply_for("1861234567890000404"))


async def test_token_of_another_account_is_refused() -> None:
    with pytest.raises(ConfigError, match="@AcmeSupport.*ROUTER_X_ACCOUNT"):
        await make(FakeX(), account="acme_sales").setup()
