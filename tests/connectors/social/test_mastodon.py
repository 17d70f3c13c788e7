from __future__ import annotations

import httpx
import pytest

from connectors.errors import ConfigError, FatalError, InvalidPayload, SkippableError
from connectors.social.common import ReplyRefused
from connectors.social.ledger import MemoryLedger
from connectors.social.mastodon import Mastodon, MastodonConfig
from vocab.records import Reply

from .conftest import load, never_hurtful
from .fakes import FakeMastodon, sse


def make(fake: FakeMastodon | None = None, **overrides: object) -> Mastodon:
    fake = fake or FakeMastodon()
    settings: dict[str, object] = {"base_url": "https://mastodon.social",
                                   "access_token": fake.token, "account": "acmesupport",
                                   "max_wait": 2.0, "poll_limit": 5,
                                   "own_accounts": ["acmecorp"], "personas": ["acme_ceo"],
                                   "employees": ["jonas@social.example.de"]}
    settings.update(overrides)
    return Mastodon(MastodonConfig(**settings),  # type: ignore[arg-type]
                    httpx.AsyncClient(transport=fake.transport()), hurtful=never_hurtful)


def reply_for(in_reply_to: str, *, rid: str = "r-1", text: str = "",
              link: str = "https://help.acme.example/hc/requests/4411") -> Reply:
    return Reply(id=rid, network="mastodon", in_reply_to=in_reply_to, conversation_id=None,
                 author_handle="ann@fosstodon.org", text=text, ticket_url=link,
                 ticket_key="zendesk:4411", lang="en")


# --- normalize ------------------------------------------------------------------------


def test_mention_notification_becomes_a_mention() -> None:
    m = make().normalize(load("mastodon", "notification_mention"))
    assert m.id == "113526112345678901" and m.network == "mastodon"
    assert m.text == ('@acmesupport my order 4411 never arrived & tracking says "delivered".'
                      "\nCan you check? https://status.acme.example/incidents/77")
    assert m.author.handle == "ann@fosstodon.org" and m.author.followers == 412
    assert m.author.profile_url == "https://fosstodon.org/@ann"
    assert m.created_at == "2026-11-23T10:00:00Z" and m.lang == "en"
    assert m.url == "https://fosstodon.org/@ann/113526112345678901"
    assert not (m.is_repost or m.is_quote or m.is_own_account or m.is_employee)


def test_non_latin_reply_with_content_warning() -> None:
    m = make().normalize(load("mastodon", "notification_mention_arabic_reply"))
    assert m.text.startswith("CW: فاتورة\n\n@acmesupport تم خصم المبلغ مرتين")
    assert m.text.endswith("😞") and m.lang == "ar"
    assert m.in_reply_to == "113526100000000001" and m.thread_key.endswith("113526100000000001")


def test_edited_status_keeps_its_id_and_marks_employee() -> None:
    m = make().normalize(load("mastodon", "status_edited"))
    assert m.id == "113526300000000002" and "Version 4.2" in m.text
    assert m.is_employee  # configured as jonas@social.example.de


def test_reblog_is_a_repost_with_the_boosted_text() -> None:
    m = make().normalize(load("mastodon", "status_reblog"))
    assert m.is_repost and m.author.handle == "bob"
    assert "never arrived" in m.text and m.lang == "en"


def test_quote_is_marked() -> None:
    m = make().normalize(load("mastodon", "status_quote"))
    assert m.is_quote and not m.is_repost and "still down" in m.text


def test_media_only_status_keeps_media_descriptions() -> None:
    m = make().normalize(load("mastodon", "status_media_only"))
    assert m.text == "[image: A phone with a cracked screen next to an Acme box]\n\n[video]"
    assert m.author.name == ""


def test_own_account_is_marked() -> None:
    m = make().normalize(load("mastodon", "status_own_account"))
    assert m.is_own_account


@pytest.mark.parametrize(("name", "reason"), [
    ("notification_deleted_status", "status is gone"),
    ("notification_favourite", "not a mention"),
    ("status_missing_account", "'account' is missing"),
])
def test_unusable_payloads_say_why(name: str, reason: str) -> None:
    with pytest.raises(InvalidPayload, match=reason):
        make().normalize(load("mastodon", name))


# --- poll -----------------------------------------------------------------------------


async def drain(network: Mastodon, checkpoint: str | None) -> tuple[list[str], str | None]:
    ids: list[str] = []
    while True:
        page = await network.poll(checkpoint)
        ids += [p["id"] for p in page.payloads]
        checkpoint = page.checkpoint
        if not page.more:
            return ids, checkpoint


async def test_poll_pages_forward_and_resumes_after_restart_without_gaps() -> None:
    fake = FakeMastodon()
    first = [fake.add_mention(f"m{i}")["id"] for i in range(3)]
    net = make(fake)
    ids, checkpoint = await drain(net, None)
    assert ids == first
    later = [fake.add_mention(f"n{i}")["id"] for i in range(12)]  # more than 2 pages
    await net.aclose()
    restarted = make(fake)  # a new process with the saved checkpoint
    ids, checkpoint = await drain(restarted, checkpoint)
    assert ids == later  # no gap, no duplicate, oldest first
    assert all("min_id" in str(r.url) for r in fake.requests[-3:])
    ids, _ = await drain(restarted, checkpoint)
    assert ids == []


async def test_poll_waits_out_a_429_with_mastodon_headers() -> None:
    fake = FakeMastodon()
    fake.add_mention()
    fake.limiter.fail = 1
    page = await make(fake).poll(None)
    assert len(page.payloads) == 1 and fake.limiter.served_429 == 1


async def test_corrupt_checkpoint_is_fatal() -> None:
    with pytest.raises(FatalError, match="checkpoint"):
        await make().poll("{not json")


async def test_follow_catches_up_then_streams_and_skips_duplicates() -> None:
    fake = FakeMastodon()
    old = fake.add_mention("before")
    net = make(fake)
    _, checkpoint = await drain(net, None)
    missed = fake.add_mention("while offline")
    live = fake.add_mention("live")
    fake.stream_events = [
        ":thump\n",
        sse("notification", missed),  # already caught up: dropped
        sse("update", {"id": "1"}),
        sse("notification", live),
        sse("notification", {"id": "999999999", "type": "favourite"}),
    ]
    fake.notifications.remove(live)  # only the stream knows it yet
    pages = [p async for p in net.follow(checkpoint, max_connections=1, reconnect_delay=0)]
    got = [p["id"] for page in pages for p in page.payloads]
    assert got == [missed["id"], live["id"]] and old["id"] not in got
    assert live["id"] in str(pages[-1].checkpoint)


async def test_the_stream_is_read_as_the_sse_spec_says() -> None:
    """CRLF line ends, fields without the optional space, a JSON notification split over
    two data lines, and comments; each notification arrives once."""
    import json

    fake = FakeMastodon()
    net = make(fake)
    _, checkpoint = await drain(net, None)
    first, second = fake.add_mention("crlf"), fake.add_mention("split")
    for note in (first, second):
        fake.notifications.remove(note)
    body = json.dumps(second)
    cut = body.index(", ")
    fake.stream_events = [
        ": heartbeat\r\n",
        f"event:notification\r\ndata:{json.dumps(first)}\r\n\r\n",
        f"event: notification\ndata: {body[:cut]},\ndata: {body[cut + 2:]}\n\n",
    ]
    pages = [p async for p in net.follow(checkpoint, max_connections=1, reconnect_delay=0)]
    assert [p["id"] for page in pages for p in page.payloads] == [first["id"], second["id"]]


async def test_a_stream_url_that_is_not_an_event_stream_is_retried_not_fatal() -> None:
    fake = FakeMastodon()
    inner = fake.transport()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/streaming/user/notification"):
            return httpx.Response(200, text="<html>proxy login</html>",
                                  headers={"content-type": "text/html"})
        return await inner.handle_async_request(request)

    net = Mastodon(make(fake).cfg, httpx.AsyncClient(transport=httpx.MockTransport(handler)),
                   hurtful=never_hurtful)
    fake.add_mention("still polled")
    pages = [p async for p in net.follow(None, max_connections=2, reconnect_delay=0)]
    assert [len(p.payloads) for p in pages] == [1]


# --- reply ----------------------------------------------------------------------------


async def test_reply_posts_once_with_idempotency_key_in_the_thread() -> None:
    fake = FakeMastodon()
    parent = fake.add_mention()["status"]["id"]
    net = make(fake)
    await net.setup()
    posted = await net.reply(reply_for(parent))
    again = await net.reply(reply_for(parent))
    assert posted == again and len(fake.posted) == 1
    sent = [r for r in fake.requests if r.method == "POST"]
    assert len(sent) == 1 and sent[0].headers["idempotency-key"] == "r-1"
    status = fake.posted[0]
    assert status["in_reply_to_id"] == parent
    assert "https://help.acme.example/hc/requests/4411" in status["content"]
    assert "@ann@fosstodon.org" in status["content"]


async def test_same_customer_same_ticket_new_reply_id_is_not_posted_again() -> None:
    fake = FakeMastodon()
    parent = fake.add_mention()["status"]["id"]
    net = make(fake)
    first = await net.reply(reply_for(parent, rid="a"))
    second = await net.reply(reply_for(parent, rid="b"))
    assert first == second and len(fake.posted) == 1


async def test_retry_after_a_lost_answer_uses_the_idempotency_key() -> None:
    fake = FakeMastodon()
    parent = fake.add_mention()["status"]["id"]
    ledger = MemoryLedger()
    net = make(fake)
    net._ledger = ledger
    ledger.begin("r-1")  # an attempt started, its answer never recorded
    fake.idempotency["r-1"] = fake.statuses[parent]  # the server did store something
    posted = await net.reply(reply_for(parent))
    assert len(fake.posted) == 0 and posted.id == parent


async def test_long_reply_is_shortened_but_the_link_is_whole() -> None:
    fake = FakeMastodon(max_chars=120)
    parent = fake.add_mention()["status"]["id"]
    link = "https://help.acme.example/hc/requests/4411?" + "x" * 200  # counts as 23
    net = make(fake)
    await net.reply(reply_for(parent, text="We replaced the part, refunded shipping and "
                              "checked every other order of yours. " * 5, link=link))
    content = fake.posted[0]["content"]
    assert link in content and "…" in content


async def test_hurtful_reply_is_refused_and_nothing_is_posted() -> None:
    fake = FakeMastodon()
    parent = fake.add_mention()["status"]["id"]
    net = make(fake)
    net.set_gate(lambda text: 0.97 if "idiot" in text else 0.0, 0.5)
    with pytest.raises(ReplyRefused, match="hurtful"):
        await net.reply(reply_for(parent, text="Fixed, you idiot"))
    net.set_gate(None)
    with pytest.raises(ReplyRefused, match="no hurtful gate"):
        await net.reply(reply_for(parent, rid="r-2"))
    assert fake.posted == []


async def test_batch_gate_from_a_model_is_accepted() -> None:
    class Model:
        def score(self, texts: list[str]) -> list[object]:
            return []

        def hurtful(self, texts: list[str]) -> list[float]:
            assert isinstance(texts, list)
            return [0.1 for _ in texts]

    fake = FakeMastodon()
    parent = fake.add_mention()["status"]["id"]
    net = make(fake)
    net.set_gate(Model().hurtful)
    await net.reply(reply_for(parent))
    assert len(fake.posted) == 1


async def test_wrong_account_is_refused_at_setup() -> None:
    net = make(FakeMastodon(username="someone_else"))
    with pytest.raises(ConfigError, match="ROUTER_MASTODON_ACCOUNT"):
        await net.setup()


async def test_missing_settings_name_the_variable() -> None:
    net = Mastodon(MastodonConfig(), httpx.AsyncClient(transport=FakeMastodon().transport()))
    with pytest.raises(ConfigError, match="ROUTER_MASTODON_BASE_URL"):
        await net.setup()


async def test_reply_to_a_deleted_post_is_skippable() -> None:
    net = make()
    with pytest.raises(SkippableError, match="gone"):
        await net.reply(reply_for("113526000000000404"))


async def test_bad_token_is_fatal_and_leaks_nothing() -> None:
    net = make(FakeMastodon(), access_token="wrong-secret")
    with pytest.raises(FatalError) as info:
        await net.setup()
    assert "wrong-secret" not in str(info.value) and "401" in str(info.value)


async def test_429_on_post_is_waited_out_and_posts_once() -> None:
    fake = FakeMastodon()
    parent = fake.add_mention()["status"]["id"]
    net = make(fake)
    await net.setup()
    fake.limiter.fail = 1
    await net.reply(reply_for(parent))
    assert len(fake.posted) == 1 and fake.limiter.served_429 == 1
