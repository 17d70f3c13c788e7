"""Mastodon (and servers speaking its client API, e.g. GoToSocial).

- ``normalize``: a ``Notification`` of type ``mention`` (or ``quote``) or a bare ``Status``;
  HTML ``content`` becomes text, the content warning and media descriptions are kept,
  ``reblog`` marks a repost, ``quote`` a quote; an edited status keeps its id.
- ``poll``: ``GET /api/v1/notifications?types[]=mention&min_id=...``: ``min_id`` returns the
  page *immediately after* the checkpoint, so paging forward leaves no gap and repeats
  nothing; the checkpoint is the newest notification id delivered.
- ``follow``: the streaming API (``/api/v1/streaming/user/notification``, server-sent
  events) after a catch-up poll, reconnecting with a catch-up poll, so a dropped stream
  loses nothing.
- ``reply``: ``POST /api/v1/statuses`` with ``in_reply_to_id`` and an ``Idempotency-Key``
  (the reply id; Mastodon keeps it an hour, the ledger and a look at our own recent
  statuses cover longer).

Rate limits: ``X-RateLimit-Limit/Remaining/Reset`` (reset in ISO 8601); 300 requests per 5
minutes per account by default.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import httpx_sse
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from connectors.errors import (
    ConfigError,
    FatalError,
    InvalidPayload,
    RetriableError,
    SkippableError,
    safe_url,
)
from vocab.records import Author, Mention, Reply

from .base import Page, Posted
from .common import PostingConfig, SocialNetwork, dump_checkpoint, load_checkpoint
from .generic import lang_tag
from .text import clean_text, get, get_id, get_int, get_str, html_to_text, iso_time
from .text import mastodon_length as _length

MENTION_TYPES = ("mention", "quote")


class MastodonConfig(PostingConfig):
    model_config = SettingsConfigDict(env_prefix="ROUTER_MASTODON_", frozen=True,
                                      extra="ignore")

    base_url: str = Field("", description="The instance, e.g. https://mastodon.social.")
    access_token: SecretStr | None = Field(
        None, description="Access token of the corporate account (scopes read:accounts, "
        "read:notifications, read:statuses, write:statuses).")
    visibility: str = Field(
        "public", pattern="^(public|unlisted|private|direct)$",
        description="Visibility of replies: public, unlisted, private or direct.")
    max_length: int = Field(
        0, ge=0, description="Reply length limit; 0 reads it from the instance (default 500).")
    streaming_url: str = Field(
        "", description="Streaming API base if the instance serves it elsewhere (default: "
        "base_url).")


def _newer(a: str, b: str) -> bool:
    """Mastodon ids are strings that sort by length, then lexically."""
    return (len(a), a) > (len(b), b)


class Mastodon(SocialNetwork):
    """Mastodon's client API: notifications in, statuses out."""

    key = "mastodon"
    title = "Mastodon"
    Config = MastodonConfig
    max_length = 500  # the instance's own limit is read at setup
    text_length = staticmethod(_length)
    remaining_header = "x-ratelimit-remaining"
    rate = (300.0, 300.0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._my_id = ""
        self._url_length = 23
        self._instance_limit = 500

    @property
    def cfg(self) -> MastodonConfig:
        assert isinstance(self.config, MastodonConfig)
        return self.config

    # --- normalize ------------------------------------------------------------------
    def normalize(self, payload: Mapping[str, Any]) -> Mention:
        where = "mastodon payload"
        if not isinstance(payload, Mapping):
            raise InvalidPayload(f"{where}: must be an object, got {type(payload).__name__}")
        is_quote = False
        if "type" in payload and "content" not in payload:  # a Notification
            kind = get_str(payload, "type", where="mastodon notification", max_len=64)
            if kind not in MENTION_TYPES:
                raise InvalidPayload(
                    f"mastodon notification: type {kind[:40]!r} is not a mention")
            if payload.get("status") is None:
                raise InvalidPayload(
                    "mastodon notification: the status is gone (deleted or not visible)")
            status = get(payload, "status", Mapping, where="mastodon notification")
            is_quote = kind == "quote"
        else:
            status = payload
        return self._status(status, is_quote=is_quote)

    def _status(self, status: Mapping[str, Any], *, is_quote: bool) -> Mention:
        where = "mastodon status"
        status_id = get_id(status, "id", where=where)
        account = get(status, "account", Mapping, where=where)
        acct = get_str(account, "acct", where=where + " account", max_len=512).strip()
        if not acct:
            raise InvalidPayload(f"{where}: field 'account.acct' is empty")
        account_id = get_id(account, "id", where=where + " account")
        profile = get_str(account, "url", where=where + " account", required=False,
                          default="", max_len=2048)
        shown = status
        reblog = status.get("reblog")
        if reblog is not None:
            shown = get(status, "reblog", Mapping, where=where)
        text = self._text(shown, where)
        quote = shown.get("quote")
        author = Author(
            id=str(account_id),
            handle=acct,
            name=get_str(account, "display_name", where=where + " account", required=False,
                         default="", max_len=1000),
            profile_url=profile,
            followers=max(0, get_int(account, "followers_count", where=where + " account")),
            verified=False,
        )
        flags = self._flags(acct, str(account_id), profile)
        return Mention(
            id=str(status_id),
            network=self.key,
            text=text,
            author=author,
            created_at=iso_time(get(status, "created_at", (str, int, float), where=where),
                                where=where, field="created_at"),
            url=get_str(status, "url", where=where, required=False, default="", max_len=2048)
            or get_str(status, "uri", where=where, required=False, default="", max_len=2048),
            in_reply_to=get_id(status, "in_reply_to_id", where=where, required=False),
            conversation_id=None,
            lang=lang_tag(shown.get("language")),
            is_repost=reblog is not None,
            is_quote=is_quote or quote is not None,
            **flags,
        )

    def _text(self, status: Mapping[str, Any], where: str) -> str:
        content = get_str(status, "content", where=where, required=False, default="")
        parts = []
        warning = str(get_str(status, "spoiler_text", where=where, required=False,
                              default="", max_len=10_000) or "").strip()
        if warning:
            parts.append(f"CW: {warning}")
        body = html_to_text(content)
        if body:
            parts.append(body)
        media = get(status, "media_attachments", list, where=where, required=False,
                    default=[])
        for item in media:
            if not isinstance(item, Mapping):
                raise InvalidPayload(f"{where}: a media attachment is not an object")
            kind = item.get("type") if isinstance(item.get("type"), str) else "media"
            desc = str(item.get("description") or "") if isinstance(
                item.get("description"), str) else ""
            parts.append(f"[{kind}: {desc.strip()}]" if desc.strip() else f"[{kind}]")
        return clean_text("\n\n".join(parts))

    def _flags(self, acct: str, account_id: str, profile: str) -> dict[str, bool]:
        host = urlparse(profile).hostname if profile else None
        names = [acct]
        if "@" not in acct and host:
            names.append(f"{acct}@{host}")
        elif host and acct.lower().endswith("@" + host.lower()):
            names.append(acct.split("@", 1)[0])
        flags = {"is_own_account": False, "is_persona": False, "is_employee": False}
        for name in names:
            for k, v in self.account_flags(handle=name, author_id=account_id).items():
                flags[k] = flags[k] or v
        own = self.cfg.account.lower().lstrip("@")
        if own and own in {n.lower() for n in names}:
            flags["is_own_account"] = True
        return flags

    # --- setup ----------------------------------------------------------------------
    def check_config(self) -> None:
        url = self.require("base_url", "the instance URL, e.g. https://mastodon.social")
        if not url.startswith(("https://", "http://")):
            raise ConfigError(f"mastodon: {self.env('base_url')} must start with https://")
        self.require("access_token", "an access token of the corporate account")

    def url(self, path: str) -> str:
        return self.cfg.base_url.rstrip("/") + path

    def headers(self) -> dict[str, str]:
        token = self.cfg.access_token
        return {"Authorization": f"Bearer {token.get_secret_value() if token else ''}"}

    async def login(self) -> None:
        try:  # the instance's own limits; the defaults hold if it does not say
            response = await self.request("GET", self.url("/api/v2/instance"),
                                          headers=self.headers(), what="mastodon instance")
            statuses = response.json().get("configuration", {}).get("statuses", {})
            self._instance_limit = int(statuses.get("max_characters", 500))
            self._url_length = int(statuses.get("characters_reserved_per_url", 23))
        except (FatalError, ValueError, TypeError, AttributeError):
            pass

    async def whoami(self) -> str:
        response = await self.request(
            "GET", self.url("/api/v1/accounts/verify_credentials"), headers=self.headers(),
            what="mastodon verify_credentials")
        data = response.json()
        if not isinstance(data, dict) or not isinstance(data.get("username"), str):
            raise FatalError("mastodon: verify_credentials answered without a username")
        self._my_id = str(data.get("id", ""))
        username = data["username"]
        if "@" in self.cfg.account.lstrip("@"):
            return f"{username}@{urlparse(self.cfg.base_url).hostname}"
        return str(username)

    # --- poll -----------------------------------------------------------------------
    async def poll(self, checkpoint: str | None) -> Page:
        self.check_config()
        state = load_checkpoint(checkpoint, network=self.key)
        min_id = str(state.get("min_id", "")) if state else ""
        params: list[tuple[str, str | int]] = [("types[]", t) for t in MENTION_TYPES]
        params.append(("limit", min(self.cfg.poll_limit, 80)))
        if min_id:
            params.append(("min_id", min_id))
        response = await self.request("GET", self.url("/api/v1/notifications"), params=params,
                                      headers=self.headers(), what="mastodon notifications")
        items = self._json_list(response)
        newest = min_id
        for item in items:
            nid = item.get("id") if isinstance(item, Mapping) else None
            if isinstance(nid, str | int) and (not newest or _newer(str(nid), newest)):
                newest = str(nid)
        prev = self._link_min_id(response)
        if prev and (not newest or _newer(prev, newest)):
            newest = prev
        new_cp = dump_checkpoint({"v": 1, "min_id": newest}) if newest else checkpoint
        payloads = sorted((i for i in items if isinstance(i, Mapping)),
                          key=lambda i: (len(str(i.get("id", ""))), str(i.get("id", ""))))
        return Page(payloads=payloads, checkpoint=new_cp, wait=self.rate_wait,
                    more=len(items) >= min(self.cfg.poll_limit, 80))

    @staticmethod
    def _json_list(response: httpx.Response) -> list[Any]:
        try:
            data = response.json()
        except ValueError as exc:
            raise RetriableError("mastodon: notifications answered with a body that is not "
                                 "JSON") from exc
        if not isinstance(data, list):
            raise FatalError("mastodon: notifications did not answer with a list")
        return data

    @staticmethod
    def _link_min_id(response: httpx.Response) -> str:
        for link in response.headers.get_list("link", split_commas=True):
            if 'rel="prev"' in link and "<" in link:
                url = link[link.index("<") + 1: link.index(">")]
                values = parse_qs(urlparse(url).query).get("min_id")
                if values:
                    return values[0]
        return ""

    # --- streaming ------------------------------------------------------------------
    async def follow(self, checkpoint: str | None, *, reconnect_delay: float = 5.0,
                     max_connections: int | None = None) -> AsyncIterator[Page]:
        """Pages of new mentions forever: catch up by polling, then listen to the
        notification stream; after a drop, catch up again. Each page carries the
        checkpoint to save once it is handled (duplicates from the overlap are dropped)."""
        connections = 0
        while max_connections is None or connections < max_connections:
            while True:
                page = await self.poll(checkpoint)
                checkpoint = page.checkpoint
                if page.payloads:
                    yield page
                if not page.more:
                    break
            connections += 1
            try:
                async for note in self._events():
                    nid = str(note.get("id", ""))
                    state = load_checkpoint(checkpoint, network=self.key) or {}
                    if not nid or (state.get("min_id") and
                                   not _newer(nid, str(state["min_id"]))):
                        continue
                    checkpoint = dump_checkpoint({"v": 1, "min_id": nid})
                    if note.get("type") in MENTION_TYPES:
                        yield Page(payloads=[note], checkpoint=checkpoint)
            except RetriableError:
                pass
            if max_connections is None or connections < max_connections:
                await asyncio.sleep(reconnect_delay)

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        base = (self.cfg.streaming_url or self.cfg.base_url).rstrip("/")
        url = base + "/api/v1/streaming/user/notification"
        client = self.api.client
        try:
            async with httpx_sse.aconnect_sse(
                    client, "GET", url, headers=self.headers(),
                    timeout=httpx.Timeout(20.0, read=None)) as source:
                response = source.response
                if response.status_code != 200:
                    await response.aread()
                    from connectors.http import raise_for_response

                    raise_for_response(response, what="mastodon streaming")
                # httpx-sse parses the stream as the SSE spec says (CR/LF/CRLF lines, a
                # field's one optional space, multi-line data, comments as heartbeats).
                async for sse in source.aiter_sse():
                    if sse.event != "notification" or not sse.data:
                        continue
                    try:
                        note = json.loads(sse.data)
                    except ValueError:
                        continue
                    if isinstance(note, dict):
                        yield note
        except httpx_sse.SSEError as exc:
            raise RetriableError(f"mastodon streaming: {safe_url(url)} is not an event "
                                 f"stream ({exc})") from exc
        except httpx.TransportError as exc:
            raise RetriableError(f"mastodon streaming: {safe_url(url)} failed: "
                                 f"{type(exc).__name__}") from exc

    # --- reply ----------------------------------------------------------------------
    @property
    def limit(self) -> int:
        return self.cfg.max_length or self._instance_limit

    def length(self, text: str) -> int:
        return _length(text, url_length=self._url_length)

    async def post(self, reply: Reply, text: str) -> Posted:
        # Idempotency-Key makes a resend safe on Mastodon; servers that ignore it (e.g.
        # GoToSocial) are covered by looking for the post before any resend.
        return await self.careful(lambda: self._send(reply, text),
                                  lambda: self.find_posted(reply, text))

    async def _send(self, reply: Reply, text: str) -> Posted:
        body: dict[str, Any] = {"status": text, "in_reply_to_id": reply.in_reply_to,
                                "visibility": self.cfg.visibility}
        if lang_tag(reply.lang):
            body["language"] = str(reply.lang).split("-")[0].lower()
        headers = {**self.headers(), "Idempotency-Key": reply.id}
        response = await self.request("POST", self.url("/api/v1/statuses"), json=body,
                                      headers=headers, ok=(404,), retry=False,
                                      what="mastodon reply")
        if response.status_code == 404:
            raise SkippableError("mastodon: the post to answer is gone (deleted or not "
                                 "visible to the corporate account)", status_code=404)
        data = response.json()
        if not isinstance(data, dict) or "id" not in data:
            raise FatalError("mastodon: the new status came back without an id")
        return Posted(id=str(data["id"]), url=str(data.get("url") or data.get("uri") or ""))

    async def find_posted(self, reply: Reply, text: str) -> Posted | None:
        if not self._my_id:
            return None
        response = await self.request(
            "GET", self.url(f"/api/v1/accounts/{self._my_id}/statuses"),
            params={"limit": 40, "exclude_reblogs": "true"}, headers=self.headers(),
            what="mastodon own statuses")
        data = response.json()
        for status in data if isinstance(data, list) else []:
            if (isinstance(status, dict)
                    and str(status.get("in_reply_to_id")) == reply.in_reply_to
                    and reply.ticket_url in html_to_text(str(status.get("content", "")))):
                return Posted(id=str(status.get("id")), url=str(status.get("url") or ""))
        return None
