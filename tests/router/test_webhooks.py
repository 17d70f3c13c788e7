"""Desk webhooks become ticket events only when genuine; the stream never sees forgeries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from connectors.base import ConnectorConfig
from connectors.desks import webhooks
from connectors.desks.base import (
    FEEDBACK_TAG,
    CommentBody,
    Desk,
    DeskConfig,
    DeskEvents,
    Ticket,
    TicketChange,
    TicketDraft,
    marked,
)
from connectors.desks.webhooks import ReplayCache, Seen, WebhookRejected
from connectors.errors import NotSupported
from connectors.registry import DESK_GROUP, DESKS, desk_class
from router.settings import load_settings
from router.topics import ensure_topics
from router.webhooks import DeliveryLog, DeliveryUnreadable, accept_delivery
from vocab.records import TicketEvent

from .stream import ROOT, RouterProcess

SECRET = "s3cret-webhook-key"
# Each desk's class checks and reads its own deliveries; the router finds it by its key.
ZENDESK, GITHUB, JIRA = desk_class("zendesk"), desk_class("github"), desk_class("jira")
EMBEDDED = desk_class("embedded")


def events_from_delivery(desk: type[Desk], headers: dict[str, str], body: bytes, secret: str,
                         **kwargs: Any) -> list[TicketEvent]:
    """The ticket events of one delivery, as the endpoint gets them."""
    return accept_delivery(desk, headers, body, secret, **kwargs).events


def zendesk_delivery(status: str, ticket: int = 42) -> tuple[dict[str, str], bytes]:
    body = json.dumps({"type": "zen:event-type:ticket.status_changed",
                       "detail": {"id": str(ticket), "status": status.upper()},
                       "event": {"current": status.upper(), "previous": "OPEN"}}).encode()
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sig = base64.b64encode(hmac.new(SECRET.encode(), at.encode() + body,
                                    hashlib.sha256).digest()).decode()
    return ({"X-Zendesk-Webhook-Signature": sig,
             "X-Zendesk-Webhook-Signature-Timestamp": at,
             "X-Zendesk-Webhook-Invocation-Id": f"inv-{ticket}-{status}"}, body)


def url(tid: str) -> str:
    return f"https://acme.zendesk.com/agent/tickets/{tid}"


def test_genuine_solved_delivery_becomes_a_status_event() -> None:
    headers, body = zendesk_delivery("solved")
    events = events_from_delivery(ZENDESK, headers, body, SECRET,
                                  replay_cache=ReplayCache(), ticket_url=url)
    assert [(e.ticket_key, e.kind, e.status) for e in events] == [
        ("zendesk:42", "status", "solved")]
    assert events[0].ticket_url == url("42")


@pytest.mark.parametrize("tamper", ["body", "signature", "secret"])
def test_forged_delivery_is_rejected(tamper: str) -> None:
    headers, body = zendesk_delivery("solved")
    secret = SECRET
    if tamper == "body":
        body = body.replace(b"42", b"43")
    elif tamper == "signature":
        headers["X-Zendesk-Webhook-Signature"] = base64.b64encode(b"x" * 32).decode()
    else:
        secret = "another-secret"
    with pytest.raises(WebhookRejected):
        events_from_delivery(ZENDESK, headers, body, secret, replay_cache=ReplayCache(),
                             ticket_url=url)


def test_replayed_delivery_is_rejected_the_second_time() -> None:
    cache = ReplayCache()
    headers, body = zendesk_delivery("solved")
    assert events_from_delivery(ZENDESK, headers, body, SECRET, replay_cache=cache,
                                ticket_url=url)
    with pytest.raises(WebhookRejected):
        events_from_delivery(ZENDESK, headers, body, SECRET, replay_cache=cache,
                             ticket_url=url)


def test_stale_delivery_is_rejected() -> None:
    headers, body = zendesk_delivery("solved")
    with pytest.raises(WebhookRejected):
        events_from_delivery(ZENDESK, headers, body, SECRET, replay_cache=ReplayCache(),
                             ticket_url=url, now=time.time() + 3600)


def test_the_embedded_desk_has_no_webhook_scheme() -> None:
    headers, body = zendesk_delivery("solved")
    with pytest.raises(WebhookRejected):
        events_from_delivery(EMBEDDED, headers, body, SECRET, replay_cache=ReplayCache(),
                             ticket_url=url)


# --- replays keyed by what the signature covers ------------------------------------------


def github_delivery(delivery: str, *, updated_at: str | None = None,
                    number: int = 7) -> tuple[dict[str, str], bytes]:
    updated_at = updated_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = json.dumps({"action": "closed", "issue": {
        "number": number, "state": "closed", "state_reason": "completed",
        "html_url": f"https://github.com/acme/support/issues/{number}",
        "updated_at": updated_at, "body": "case"}}).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return ({"X-Hub-Signature-256": sig, "X-GitHub-Delivery": delivery,
             "X-GitHub-Event": "issues"}, body)


def test_zendesk_delivery_is_accepted_once_whatever_its_invocation_id() -> None:
    cache = ReplayCache()
    headers, body = zendesk_delivery("solved")
    accepted = 0
    for invocation in ("inv-1", "inv-2", "inv-3"):  # the id is outside the signature
        try:
            events_from_delivery(ZENDESK, {**headers,
                                           "X-Zendesk-Webhook-Invocation-Id": invocation},
                                 body, SECRET, replay_cache=cache, ticket_url=url)
            accepted += 1
        except WebhookRejected:
            pass
    assert accepted == 1


def test_github_body_is_accepted_once_under_any_delivery_id() -> None:
    cache = ReplayCache()
    headers, body = github_delivery("d-1")
    assert events_from_delivery(GITHUB, headers, body, SECRET, replay_cache=cache,
                                ticket_url=url)
    with pytest.raises(WebhookRejected):
        events_from_delivery(GITHUB, {**headers, "X-GitHub-Delivery": "d-2"}, body, SECRET,
                             replay_cache=cache, ticket_url=url)
    later_headers, later_body = github_delivery("d-3", number=8)  # another event: accepted
    assert events_from_delivery(GITHUB, later_headers, later_body, SECRET,
                                replay_cache=cache, ticket_url=url)


def test_github_event_older_than_the_window_is_stale_even_in_a_fresh_cache() -> None:
    headers, body = github_delivery("d-1", updated_at="2026-01-01T00:00:00Z")
    with pytest.raises(WebhookRejected):
        events_from_delivery(GITHUB, headers, body, SECRET, replay_cache=ReplayCache(),
                             ticket_url=url, now=datetime(2026, 1, 3, tzinfo=UTC).timestamp())


@pytest.mark.parametrize("stamp", ["nan", "NaN", "inf", "-inf", "1e400", "Infinity"])
def test_a_timestamp_that_is_not_a_number_is_refused(stamp: str) -> None:
    body = json.dumps({"type": "zen:event-type:ticket.status_changed",
                       "detail": {"id": "42", "status": "SOLVED"}}).encode()
    sig = base64.b64encode(hmac.new(SECRET.encode(), stamp.encode() + body,
                                    hashlib.sha256).digest()).decode()
    headers = {"X-Zendesk-Webhook-Signature": sig,
               "X-Zendesk-Webhook-Signature-Timestamp": stamp}
    with pytest.raises(WebhookRejected):
        events_from_delivery(ZENDESK, headers, body, SECRET, replay_cache=ReplayCache(),
                             ticket_url=url)


def test_jira_nan_timestamp_in_the_signed_body_is_refused() -> None:
    body = b'{"timestamp": NaN, "webhookEvent": "jira:issue_updated", "issue": {"key": "S-1"}}'
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with pytest.raises(WebhookRejected):
        events_from_delivery(JIRA, {"X-Hub-Signature": sig}, body, SECRET,
                             replay_cache=ReplayCache(), ticket_url=url)


@pytest.mark.parametrize("body", [b"[" * 5000 + b"]" * 5000,
                                  b'{"ticket": {"id": ' + b"9" * 5000 + b"}}",
                                  b'{"a":' * 3000 + b"1" + b"}" * 3000])
@pytest.mark.parametrize("desk", ["github", "zendesk", "jira"])
def test_signed_but_hostile_body_is_refused_not_an_error(desk: str, body: bytes) -> None:
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    headers = {
        "github": {"X-Hub-Signature-256": "sha256=" + hmac.new(
            SECRET.encode(), body, hashlib.sha256).hexdigest(), "X-GitHub-Delivery": "d"},
        "jira": {"X-Hub-Signature": "sha256=" + hmac.new(
            SECRET.encode(), body, hashlib.sha256).hexdigest()},
        "zendesk": {"X-Zendesk-Webhook-Signature": base64.b64encode(hmac.new(
            SECRET.encode(), at.encode() + body, hashlib.sha256).digest()).decode(),
            "X-Zendesk-Webhook-Signature-Timestamp": at},
    }[desk]
    cache = ReplayCache()
    with pytest.raises(WebhookRejected):
        events_from_delivery(desk_class(desk), headers, body, SECRET, replay_cache=cache,
                             ticket_url=url)
    assert len(cache) == 0  # nothing passed on, nothing remembered


@pytest.mark.parametrize("header", ["X-Zendesk-Webhook-Signature",
                                    "X-Zendesk-Webhook-Signature-Timestamp"])
def test_non_ascii_signature_header_is_refused_not_an_error(header: str) -> None:
    headers, body = zendesk_delivery("solved")
    headers[header] = "sïgnature\udcff"  # as a web server decodes bytes that are not UTF-8
    with pytest.raises(WebhookRejected):
        events_from_delivery(ZENDESK, headers, body, SECRET, replay_cache=ReplayCache(),
                             ticket_url=url)


def test_replay_cache_keeps_each_entry_until_its_own_expiry() -> None:
    now = [1000.0]
    cache = ReplayCache(ttl=100, clock=lambda: now[0])
    assert cache.check_and_add("short", expires_at=1010)
    assert cache.check_and_add("long", expires_at=5000)
    cache.remember("elsewhere", 2000)  # accepted by another worker
    cache.remember("dead", 900)  # already expired when read back
    now[0] = 1500
    assert cache.check_and_add("short")  # expired: its timestamp is stale by now anyway
    assert not cache.check_and_add("long")
    assert not cache.check_and_add("elsewhere")
    assert cache.check_and_add("dead")
    cache.forget("long")
    assert cache.check_and_add("long")


# --- a desk this repository does not ship, installed the way a third party installs one ----


class LanternConfig(DeskConfig):
    """Settings of the tests' own desk."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_LANTERN_", frozen=True,
                                      extra="ignore")

    webhook_secret: SecretStr = Field(SecretStr(""), description="Signing secret of the "
                                      "Lantern webhook.")


class Lantern(Desk):
    """A desk of the tests' own invention, with a scheme no built-in desk uses:
    ``X-Lantern-Signature: t=<epoch seconds>,v1=<hex HMAC-SHA512(secret, "<t>." + body)>``,
    ``t`` within ``max_age``; the replay key is t + body. It reports ``item.moved`` events
    with the item's ``ref`` and ``column``."""

    key: ClassVar[str] = "lantern"
    title: ClassVar[str] = "Lantern (a third-party desk of the tests)"
    Config: ClassVar[type[ConnectorConfig]] = LanternConfig
    events: ClassVar[DeskEvents] = "webhook"
    COLUMNS: ClassVar[Mapping[str, str]] = {"todo": "open", "waiting": "pending",
                                            "done": "solved", "dropped": "closed"}

    async def find_by_external_id(self, external_id: str) -> Ticket | None:
        return None

    async def find_open_for_requester(self, handle: str, network: str) -> Ticket | None:
        return None

    async def open(self, draft: TicketDraft) -> Ticket:
        raise NotSupported("lantern: the webhook tests open no tickets")

    async def comment(self, ticket_id: str, body: CommentBody, *, public: bool,
                      idempotency_key: str) -> None:
        raise NotSupported("lantern: the webhook tests add no comments")

    async def status(self, ticket_id: str) -> str:
        raise NotSupported("lantern: the webhook tests read no status")

    def ticket_url(self, ticket_id: str) -> str:
        return f"https://lantern.example/items/{ticket_id}"

    @classmethod
    def verify_webhook(cls, headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                       now: float, replay_cache: ReplayCache | None = None,
                       max_age: float = webhooks.MAX_AGE_SECONDS,
                       max_bytes: int = webhooks.MAX_BODY_BYTES) -> Seen | None:
        webhooks.check_delivery(body, secret, max_bytes)
        given = webhooks.header(headers, "X-Lantern-Signature")
        parts = dict(p.partition("=")[::2] for p in given.split(","))
        stamp = parts.get("t", "")
        signed = stamp.encode("utf-8", "surrogateescape") + b"." + body
        webhooks.check_signature(parts.get("v1", ""),
                                 webhooks.hmac_hex(secret, signed, "sha512"))
        at = webhooks.parse_time(stamp)
        webhooks.check_fresh(at, now, max_age)
        return webhooks.check_replay(replay_cache, cls.key, webhooks.digest(signed),
                                     at + max_age)

    @classmethod
    def parse_webhook(cls, payload: Mapping[str, Any], *,
                      feedback_tag: str = FEEDBACK_TAG) -> list[TicketChange]:
        item = payload.get("item")
        if payload.get("event") != "item.moved" or not isinstance(item, Mapping):
            return []
        flags = item.get("flags")
        return [TicketChange(ticket_id=webhooks.text(item.get("ref")),
                             status=webhooks.status_in(cls.COLUMNS, item.get("column")),
                             not_actionable=marked(flags if isinstance(flags, list) else None,
                                                   feedback_tag))]


def install_lantern(site: Path) -> Path:
    """What installing a package that declares the desk leaves on ``sys.path``: its
    distribution metadata, with the ``escalation_router.desks`` entry point."""
    dist = site / "lantern_desk-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lantern-desk\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{DESK_GROUP}]\nlantern = {__name__}:Lantern\n")
    return site


def lantern_delivery(ref: str, column: str, *, at: float | None = None,
                     secret: str = SECRET, flags: list[str] | None = None
                     ) -> tuple[dict[str, str], bytes]:
    item: dict[str, Any] = {"ref": ref, "column": column}
    if flags is not None:
        item["flags"] = flags
    body = json.dumps({"event": "item.moved", "item": item}).encode()
    stamp = str(int(time.time() if at is None else at))
    sig = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha512).hexdigest()
    return {"X-Lantern-Signature": f"t={stamp},v1={sig}"}, body


@pytest.fixture
def lantern(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type[Desk]:
    """The desk, found by the registry through its entry point (not in ``DESKS``)."""
    assert "lantern" not in DESKS
    monkeypatch.syspath_prepend(str(install_lantern(tmp_path / "site")))
    cls: type[Desk] = desk_class("lantern")
    assert cls is Lantern
    return cls


def test_a_desk_from_an_entry_point_checks_and_reads_its_own_deliveries(
        lantern: type[Desk]) -> None:
    cache = ReplayCache()
    headers, body = lantern_delivery("L-7", "done")
    [event] = events_from_delivery(lantern, headers, body, SECRET, replay_cache=cache,
                                   ticket_url=lambda tid: f"https://lantern.example/items/{tid}")
    assert (event.ticket_key, event.kind, event.status) == ("lantern:L-7", "status", "solved")
    assert event.ticket_url == "https://lantern.example/items/L-7"
    assert event.not_actionable is None  # no flags in that delivery: the desk did not say
    flagged_headers, flagged_body = lantern_delivery("L-9", "doing", flags=["Misrouted"])
    [flagged] = events_from_delivery(lantern, flagged_headers, flagged_body, SECRET,
                                     replay_cache=cache, ticket_url=str,
                                     feedback_tag="misrouted")  # the desk's configured tag
    assert (flagged.status, flagged.not_actionable) == ("open", True)
    with pytest.raises(WebhookRejected):  # the same delivery again
        events_from_delivery(lantern, headers, body, SECRET, replay_cache=cache,
                             ticket_url=str)
    forged_headers, forged_body = lantern_delivery("L-7", "dropped", secret="not-the-secret")
    with pytest.raises(WebhookRejected):
        events_from_delivery(lantern, forged_headers, forged_body, SECRET,
                             replay_cache=ReplayCache(), ticket_url=str)
    stale_headers, stale_body = lantern_delivery("L-8", "done", at=time.time() - 3600)
    with pytest.raises(WebhookRejected):
        events_from_delivery(lantern, stale_headers, stale_body, SECRET,
                             replay_cache=ReplayCache(), ticket_url=str)
    zendesk_headers, zendesk_body = zendesk_delivery("solved")  # another desk's scheme
    with pytest.raises(WebhookRejected):
        events_from_delivery(lantern, zendesk_headers, zendesk_body, SECRET,
                             replay_cache=ReplayCache(), ticket_url=str)


# --- on the real broker, through a worker's web server -------------------------------------

INGEST_TOKEN = "ingest-token-for-webhook-tests"


@pytest.fixture(scope="module")
def github_worker(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[RouterProcess]:
    """A worker whose desk is GitHub (its API never reached here: no mention is sent)."""
    rp = RouterProcess(kafka_bootstrap, tmp_path_factory.mktemp("webhooks"), extra_env={
        "ROUTER_DESK": "github", "ROUTER_GITHUB_REPOSITORY": "acme/support",
        "ROUTER_GITHUB_TOKEN": "ghp-never-used-0000", "ROUTER_GITHUB_WEBHOOK_SECRET": SECRET,
        "ROUTER_GITHUB_API_URL": "http://127.0.0.1:9", "ROUTER_INGEST_TOKEN": INGEST_TOKEN})
    rp.create_topics()
    rp.start()
    try:
        wait_up(rp)
        yield rp
    finally:
        rp.stop()


def wait_up(rp: RouterProcess, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rp.proc is None or rp.proc.poll() is not None:
            raise AssertionError("worker exited:\n" + rp.log_text()[-4000:])
        try:
            if httpx.get(f"http://127.0.0.1:{rp.web_port}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError("worker web server never came up:\n" + rp.log_text()[-4000:])


def post(rp: RouterProcess, path: str, body: bytes,
         headers: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{rp.web_port}{path}", content=body,
                      headers=headers or {}, timeout=90)


@pytest.mark.kafka
@pytest.mark.slow
def test_a_delivery_is_refused_again_after_the_worker_restarts(
        github_worker: RouterProcess) -> None:
    rp = github_worker
    headers, body = github_delivery("d-first", number=11)
    assert post(rp, "/webhooks/github", body, headers).status_code == 202
    assert post(rp, "/webhooks/github", body,
                {**headers, "X-GitHub-Delivery": "d-new"}).status_code == 401
    rp.stop()
    rp.start()
    wait_up(rp)
    assert post(rp, "/webhooks/github", body, headers).status_code == 401
    assert post(rp, "/webhooks/github", body,
                {**headers, "X-GitHub-Delivery": "d-after"}).status_code == 401
    other_headers, other_body = github_delivery("d-second", number=12)
    assert post(rp, "/webhooks/github", other_body, other_headers).status_code == 202
    events = rp.read("ticket-events", lambda r: len(r) >= 2)
    time.sleep(2)  # a late duplicate would show up here
    events = rp.read("ticket-events", lambda r: len(r) >= 2)
    assert sorted(e["ticket_id"] for e in events) == ["11", "12"]


NESTED = b"[" * 3000 + b"]" * 3000
DEEP_OBJECT = b'{"a":' * 3000 + b"1" + b"}" * 3000
HUGE_INT = b'{"id": ' + b"9" * 5000 + b"}"


@pytest.mark.kafka
@pytest.mark.slow
def test_hostile_input_is_a_4xx_or_a_dead_letter_never_a_500(
        github_worker: RouterProcess) -> None:
    rp = github_worker
    bearer = {"Authorization": f"Bearer {INGEST_TOKEN}"}
    for auth in ("Bearer tökén".encode(), b"Bearer \xff\xfe\x80", "Bearer ☃".encode()):
        answer = post(rp, "/ingest/generic", b"{}", {"Authorization": auth})
        assert answer.status_code == 401, (auth, answer.text)
    for network in ("generic", "x", "mastodon", "bluesky", "reddit"):
        for body in (NESTED, DEEP_OBJECT, HUGE_INT):
            answer = post(rp, f"/ingest/{network}", body, bearer)
            assert answer.status_code in (202, 400), (network, body[:20], answer.text[:500])
            assert "Traceback" not in answer.text
    for body in (NESTED, DEEP_OBJECT, HUGE_INT):
        sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        answer = post(rp, "/webhooks/github", body,
                      {"X-Hub-Signature-256": sig, "X-GitHub-Delivery": "d-hostile"})
        assert answer.status_code == 401, (body[:20], answer.text[:500])
    headers, body = github_delivery("d-still-fine", number=21)  # and the worker still works
    assert post(rp, "/webhooks/github", body, headers).status_code == 202


@pytest.mark.kafka
async def test_the_delivery_log_is_read_back_and_keeps_only_what_can_still_be_replayed(
        kafka_bootstrap: str) -> None:
    settings = load_settings(kafka_bootstrap=kafka_bootstrap,
                             topic_prefix=f"t{uuid.uuid4().hex[:8]}.")
    ensure_topics(settings)
    first = DeliveryLog(settings, ReplayCache())
    try:
        await first.sync()
        await first.record(Seen("github:fresh", time.time() + 600))
        await first.record(Seen("github:stale", time.time() - 1))
    finally:
        await first.stop()
    cache = ReplayCache()
    second = DeliveryLog(settings, cache)  # a restarted worker
    try:
        await second.sync()
    finally:
        await second.stop()
    assert not cache.check_and_add("github:fresh")
    assert cache.check_and_add("github:stale")
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=2000)
    try:
        tp = TopicPartition(settings.topic("webhook-deliveries"), 0)
        consumer.assign([tp])
        last = {m.key: m.value for m in consumer}
    finally:
        consumer.close()
    assert last[b"github:stale"] is None  # tombstoned: compaction drops it
    assert last[b"github:fresh"] is not None


@pytest.mark.kafka
@pytest.mark.slow
def test_a_desk_from_an_entry_point_gets_its_webhooks_through_the_worker(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """A worker whose ROUTER_DESK is a desk only an installed entry point knows: a signed
    delivery to POST /webhooks/lantern is a status TicketEvent, a forged one a 401."""
    site = install_lantern(tmp_path / "site")
    rp = RouterProcess(kafka_bootstrap, tmp_path / "worker", extra_env={
        "ROUTER_DESK": "lantern", "ROUTER_LANTERN_WEBHOOK_SECRET": SECRET,
        "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])})
    rp.create_topics()
    rp.start()
    try:
        wait_up(rp)
        headers, body = lantern_delivery("L-7", "done")
        forged_headers, forged_body = lantern_delivery("L-7", "dropped", secret="guessed")
        assert post(rp, "/webhooks/lantern", forged_body, forged_headers).status_code == 401
        tampered = body.replace(b"done", b"todo")
        assert post(rp, "/webhooks/lantern", tampered, headers).status_code == 401
        assert post(rp, "/webhooks/lantern", body, {}).status_code == 401
        answer = post(rp, "/webhooks/lantern", body, headers)
        assert answer.status_code == 202 and answer.json() == {"events": 1}, answer.text
        assert post(rp, "/webhooks/lantern", body, headers).status_code == 401  # replayed
        rp.read("ticket-events", lambda r: len(r) >= 1)
        time.sleep(2)  # a forged or replayed delivery's event would show up by now
        events = rp.read("ticket-events", lambda r: len(r) >= 1)
        assert [(e["desk"], e["ticket_id"], e["kind"], e["status"], e["ticket_url"])
                for e in events] == [("lantern", "L-7", "status", "solved",
                                      "https://lantern.example/items/L-7")]
    finally:
        rp.stop()


class FragileLantern(Lantern):
    """Lantern with a parser bug on one shape of event (as a third party's may have)."""

    broken: ClassVar[bool] = True

    @classmethod
    def parse_webhook(cls, payload: Mapping[str, Any], *,
                      feedback_tag: str = FEEDBACK_TAG) -> list[TicketChange]:
        if cls.broken:
            raise KeyError("column")
        return super().parse_webhook(payload, feedback_tag=feedback_tag)


class OffListLantern(Lantern):
    """Lantern reporting a status the router does not know."""

    @classmethod
    def parse_webhook(cls, payload: Mapping[str, Any], *,
                      feedback_tag: str = FEEDBACK_TAG) -> list[TicketChange]:
        return [TicketChange(ticket_id="L-1", status="archived")]


@pytest.mark.parametrize("desk", [FragileLantern, OffListLantern])
def test_a_genuine_delivery_the_desk_cannot_read_is_not_remembered_as_seen(
        desk: type[Lantern], monkeypatch: pytest.MonkeyPatch) -> None:
    """A signed delivery whose parser fails is an error on our side, not the desk's: the
    endpoint asks the desk to try again (503), and its retry, once the parser is fixed, is
    accepted instead of being refused as a replay (its status change, and the customer's
    reply, would be lost)."""
    cache = ReplayCache()
    headers, body = lantern_delivery("L-1", "done")
    with pytest.raises(DeliveryUnreadable):
        events_from_delivery(desk, headers, body, SECRET, replay_cache=cache, ticket_url=str)
    assert len(cache) == 0
    monkeypatch.setattr(FragileLantern, "broken", False)
    [event] = events_from_delivery(Lantern, headers, body, SECRET, replay_cache=cache,
                                   ticket_url=str)
    assert event.status == "solved"
