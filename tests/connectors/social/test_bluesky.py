from __future__ import annotations

import json

import httpx
import pytest

from connectors.errors import ConfigError, InvalidPayload, SkippableError
from connectors.social.bluesky import Bluesky, BlueskyConfig, expand_links, tid_for
from vocab.records import Reply

from .conftest import load, never_hurtful
from .fakes import TID_RE, FakeBluesky


def make(fake: FakeBluesky | None = None, **overrides: object) -> Bluesky:
    fake = fake or FakeBluesky()
    settings: dict[str, object] = {"identifier": fake.handle, "app_password": fake.password,
                                   "account": fake.handle, "poll_limit": 3, "max_wait": 1.0,
                                   "overlap": 60, "personas": ["carol.example.org"]}
    settings.update(overrides)
    return Bluesky(BlueskyConfig(**settings),  # type: ignore[arg-type]
                   httpx.AsyncClient(transport=fake.transport()), hurtful=never_hurtful)


def reply_for(uri: str, *, rid: str = "r-1", text: str = "", created_at: float = 0.0,
              link: str = "https://status.acme.example/t/4411") -> Reply:
    return Reply(id=rid, network="bluesky", in_reply_to=uri, conversation_id=None,
                 author_handle="ann.bsky.social", text=text, ticket_url=link,
                 ticket_key="rt:4411", lang="en", created_at=created_at)


# --- normalize ------------------------------------------------------------------------


def test_mention_restores_the_shortened_link_from_byte_offsets() -> None:
    m = make().normalize(load("bluesky", "notification_mention"))
    assert m.id == "at://did:plc:ann4yq2xjxwbx7ijkhvsvlqc/app.bsky.feed.post/3lbq2hxyz2k2a"
    assert m.text == ("@acme.example.com mon colis 📦 est bloqué depuis 5 jours, voir "
                      "https://example.com/track/AB1234567890")
    assert m.url == "https://bsky.app/profile/ann.bsky.social/post/3lbq2hxyz2k2a"
    assert m.author.id.startswith("did:plc:") and m.author.name == "Ann 🌱"
    assert m.lang == "fr" and m.created_at == "2026-11-23T10:00:00Z"


def test_reply_carries_parent_and_root() -> None:
    m = make().normalize(load("bluesky", "notification_reply_japanese"))
    assert m.in_reply_to.endswith("/3lbq1parentpp")
    assert m.conversation_id.endswith("/3lbq1rootroot") and m.lang == "ja"
    assert m.text.startswith("まだ届いていません")


def test_quote_with_image_is_a_quote_with_alt_text_and_persona_flag() -> None:
    m = make().normalize(load("bluesky", "notification_quote_with_image"))
    assert m.is_quote and m.is_persona
    assert m.text == "this is still broken for me\n\n[image: Error 503 on the checkout page]"


def test_media_only_post_view() -> None:
    m = make().normalize(load("bluesky", "post_view_media_only"))
    assert m.text == "[image]" and not m.is_quote


def test_repost_is_marked() -> None:
    m = make().normalize(load("bluesky", "notification_repost"))
    assert m.is_repost and m.text == ""


def test_bad_facets_are_ignored_not_fatal() -> None:
    m = make().normalize(load("bluesky", "notification_bad_facets"))
    assert m.text == "héllo @acme.example.com ✨ https://acme.example/x"


@pytest.mark.parametrize(("name", "reason"), [
    ("not_found_post", "deleted"),
    ("notification_like", "not a mention"),
    ("notification_missing_author", "'author' is missing"),
])
def test_unusable_payloads_say_why(name: str, reason: str) -> None:
    with pytest.raises(InvalidPayload, match=reason):
        make().normalize(load("bluesky", name))


def test_expand_links_counts_bytes_not_characters() -> None:
    text = "日本 ex.com/a…"
    start = len("日本 ".encode())
    facets = [{"index": {"byteStart": start, "byteEnd": start + len("ex.com/a…".encode())},
               "features": [{"$type": "app.bsky.richtext.facet#link",
                             "uri": "https://ex.com/abc"}]}]
    assert expand_links(text, facets) == "日本 https://ex.com/abc"


def test_tid_is_deterministic_and_valid() -> None:
    assert tid_for("r-1") == tid_for("r-1") != tid_for("r-2")
    assert TID_RE.match(tid_for("r-1")) and TID_RE.match(tid_for("x", 1_795_400_000.5))


# --- poll -----------------------------------------------------------------------------


async def drain(net: Bluesky, checkpoint: str | None) -> tuple[list[str], str | None]:
    got: list[str] = []
    while True:
        page = await net.poll(checkpoint)
        got += [p["uri"] for p in page.payloads]
        checkpoint = page.checkpoint
        if not page.more:
            return got, checkpoint


async def test_poll_catches_up_over_pages_and_across_a_restart() -> None:
    fake = FakeBluesky()
    for i in range(2):
        fake.add_post(f"old {i}")
    net = make(fake)
    first, checkpoint = await drain(net, None)
    assert len(first) == 2
    fresh = [fake.add_post(f"new {i}")["uri"] for i in range(7)]  # > 2 pages of 3
    fake.add_post("a like", reason="like")
    got, checkpoint = await drain(make(fake), checkpoint)  # restarted process
    assert sorted(got) == sorted(fresh) and len(got) == len(set(got))
    again, _ = await drain(make(fake), checkpoint)
    assert again == []


async def test_poll_mid_catch_up_restart_and_late_arrivals() -> None:
    fake = FakeBluesky()
    fake.add_post("seed")
    _, checkpoint = await drain(make(fake), None)
    batch = [fake.add_post(f"b{i}")["uri"] for i in range(5)]
    page = await make(fake).poll(checkpoint)  # first page only, then "crash"
    assert page.more
    newer = fake.add_post("arrived during the catch-up")["uri"]
    late = fake.add_post("indexed late", ts=fake.clock - 3)["uri"]  # within the overlap
    got, checkpoint = await drain(make(fake), page.checkpoint)
    everything = [p["uri"] for p in page.payloads] + got
    more, _ = await drain(make(fake), checkpoint)
    everything += more
    assert sorted(everything) == sorted([*batch, newer, late])
    assert len(everything) == len(set(everything))


async def test_expired_token_is_refreshed_and_429_waited_out() -> None:
    fake = FakeBluesky()
    fake.add_post()
    net = make(fake)
    await net.setup()
    fake.expire_next = True
    fake.limiter.fail = 1
    page = await net.poll(None)
    assert len(page.payloads) == 1 and fake.sessions == 2 and fake.limiter.served_429 == 1


# --- reply ----------------------------------------------------------------------------


async def test_reply_with_root_parent_refs_facets_and_a_deterministic_key() -> None:
    fake = FakeBluesky()
    root = fake.add_post("@acme.example.com first")
    ref = {"uri": root["uri"], "cid": root["cid"]}
    child = fake.add_post("@acme.example.com and ✨ still broken", root=ref)
    net = make(fake)
    posted = await net.reply(reply_for(child["uri"], text="Hi @ann.bsky.social, "
                                       "c'est réparé ✨ : https://status.acme.example/t/4411"))
    (rkey, record), = fake.records.items()
    assert rkey == tid_for("r-1") and posted.id.endswith(rkey)
    assert record["reply"]["root"] == ref
    assert record["reply"]["parent"] == {"uri": child["uri"], "cid": child["cid"]}
    kinds = [f["features"][0]["$type"].split("#")[1] for f in record["facets"]]
    assert kinds == ["mention", "link"]
    assert posted.url.startswith("https://bsky.app/profile/acme.example.com/post/")


async def test_lost_answer_then_retry_never_posts_twice() -> None:
    fake = FakeBluesky()
    parent = fake.add_post()
    fake.lose_answer = 1  # stored, but the answer is a 502
    first = await make(fake).reply(reply_for(parent["uri"]))
    # a new process, no ledger: the same key is refused and the record found
    second = await make(fake).reply(reply_for(parent["uri"]))
    assert first == second and len(fake.records) == 1
    creates = [r for r in fake.requests if r.url.path.endswith("createRecord")]
    assert len(creates) == 2 and {json.loads(r.content)["rkey"] for r in creates} == {
        tid_for("r-1")}


async def test_long_reply_fits_300_graphemes_link_whole() -> None:
    fake = FakeBluesky()
    parent = fake.add_post()
    link = "https://status.acme.example/t/4411?lang=fr&" + "a" * 120
    await make(fake).reply(reply_for(parent["uri"], link=link, text="Nous avons remplacé "
                                     "la pièce défectueuse 🔧 et remboursé la livraison. " * 8))
    (record,) = fake.records.values()
    assert record["text"].endswith(link) and "…" in record["text"]


async def test_reply_to_deleted_post_is_skippable() -> None:
    with pytest.raises(SkippableError, match="gone"):
        await make().reply(reply_for("at://did:plc:zzz/app.bsky.feed.post/3lbqdeleted22"))


async def test_login_as_another_account_is_refused() -> None:
    fake = FakeBluesky()
    net = make(fake, account="someone.else.com")
    with pytest.raises(ConfigError, match="ROUTER_BLUESKY_ACCOUNT"):
        await net.setup()


async def test_missing_password_names_the_variable() -> None:
    net = Bluesky(BlueskyConfig(identifier="acme.example.com"),
                  httpx.AsyncClient(transport=FakeBluesky().transport()))
    with pytest.raises(ConfigError, match="ROUTER_BLUESKY_APP_PASSWORD"):
        await net.setup()
