"""Bluesky (the AT Protocol): notifications in, ``app.bsky.feed.post`` records out.

- ``normalize``: a notification from ``app.bsky.notification.listNotifications`` (reasons
  ``mention``, ``reply``, ``quote``; ``repost`` is kept and marked) or a post view
  (``app.bsky.feed.getPosts``). The id is the post's AT URI
  (``at://did/app.bsky.feed.post/rkey``); ``reply.parent`` / ``reply.root`` give
  ``in_reply_to`` / ``conversation_id``; link facets (UTF-8 *byte* offsets) restore links
  the client shortened; image and video alt texts are kept; an embedded record is a quote.
- ``poll``: ``listNotifications`` pages newest first with an opaque cursor; the checkpoint
  is a high-water mark plus the ids near it (see ``paging``), so no gaps and no duplicates.
- ``reply``: ``com.atproto.repo.createRecord`` with ``reply.root`` / ``reply.parent`` strong
  refs (``{uri, cid}`` from ``getPosts``), link and mention facets with byte offsets, and a
  record key derived from the reply id (TID syntax): a retry asks for the same key, which
  the PDS refuses once it exists, and the existing record is returned as the posted reply.
- Auth: ``com.atproto.server.createSession`` with an app password; ``getSession`` names the
  account; an expired access token is refreshed once.

Rate limits: ``RateLimit-Limit/Remaining/Reset`` (reset in epoch seconds).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from connectors.errors import (
    ConfigError,
    FatalError,
    InvalidPayload,
    RetriableError,
    SkippableError,
)
from vocab.records import Author, Mention, Reply

from .base import Page, Posted
from .common import PostingConfig, SocialNetwork, dump_checkpoint, load_checkpoint
from .generic import lang_tag
from .paging import Item, scan_newest_first
from .text import (
    clean_text,
    epoch,
    get,
    get_int,
    get_str,
    grapheme_len,
    iso_time,
    link_facets,
    mention_facet,
    slice_bytes,
)

POST = "app.bsky.feed.post"
REASONS = ("mention", "reply", "quote")
AT_URI = re.compile(r"^at://(did:[a-z]+:[A-Za-z0-9._:%-]+)/([a-zA-Z0-9.-]+)/([A-Za-z0-9._:~-]+)$")
TID_CHARS = "234567abcdefghijklmnopqrstuvwxyz"


class BlueskyConfig(PostingConfig):
    model_config = SettingsConfigDict(env_prefix="ROUTER_BLUESKY_", frozen=True,
                                      extra="ignore")

    service: str = Field("https://bsky.social",
                         description="The PDS (or entryway) the account lives on.")
    identifier: str = Field("", description="Handle or DID to log in with.")
    app_password: SecretStr | None = Field(
        None, description="An app password of the corporate account (Settings > App "
        "passwords).")
    max_length: int = Field(300, ge=1, le=300, description="Reply limit in graphemes.")
    overlap: float = Field(
        120.0, ge=0, le=86_400,
        description="Seconds below the newest notification re-checked on each poll for late "
        "arrivals (ids are remembered, so nothing is delivered twice).")


def parse_at_uri(uri: str) -> tuple[str, str, str] | None:
    """(did, collection, rkey) of an AT URI, or None."""
    m = AT_URI.match(uri.strip()) if isinstance(uri, str) else None
    return (m.group(1), m.group(2), m.group(3)) if m else None


def tid_for(reply_id: str, created_at: float = 0.0) -> str:
    """A record key in TID syntax, the same for the same reply on every try.

    The timestamp part is the reply's creation second (or a fixed point in 2023 plus a
    hash when it has none) with hash-derived microseconds; the clock id is hash-derived.
    """
    h = int.from_bytes(hashlib.sha256(reply_id.encode("utf-8")).digest(), "big")
    seconds = int(created_at) if created_at > 0 else 1_672_531_200 + (h >> 100) % 31_536_000
    micros = seconds * 1_000_000 + (h % 1_000_000)
    value = ((micros & ((1 << 53) - 1)) << 10) | ((h >> 64) & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(TID_CHARS[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def expand_links(text: str, facets: Any) -> str:
    """``text`` with each link facet's (maybe shortened) text replaced by its full URI.

    Offsets are UTF-8 byte indices; a facet out of range, overlapping another or cutting a
    character in two is ignored."""
    if not isinstance(facets, list):
        return text
    spans: list[tuple[int, int, str]] = []
    for facet in facets:
        if not isinstance(facet, Mapping):
            continue
        index, features = facet.get("index"), facet.get("features")
        if not isinstance(index, Mapping) or not isinstance(features, list):
            continue
        start, end = index.get("byteStart"), index.get("byteEnd")
        if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool):
            continue
        for feature in features:
            if (isinstance(feature, Mapping)
                    and feature.get("$type") == "app.bsky.richtext.facet#link"
                    and isinstance(feature.get("uri"), str)):
                shown = slice_bytes(text, start, end)
                if shown is not None and shown != feature["uri"]:
                    spans.append((start, end, feature["uri"]))
    data = text.encode("utf-8")
    last = len(data) + 1
    for start, end, uri in sorted(spans, reverse=True):
        if end > last:
            continue  # overlaps the facet after it
        data = data[:start] + uri.encode("utf-8") + data[end:]
        last = start
    return data.decode("utf-8")


def _embed_text(embed: Any) -> tuple[list[str], bool]:
    """Alt texts of images/video and whether the embed quotes a record."""
    if not isinstance(embed, Mapping):
        return [], False
    kind = embed.get("$type")
    parts: list[str] = []
    quote = kind in ("app.bsky.embed.record", "app.bsky.embed.recordWithMedia")
    media = embed.get("media") if kind == "app.bsky.embed.recordWithMedia" else embed
    if isinstance(media, Mapping):
        if media.get("$type") == "app.bsky.embed.images" and isinstance(media.get("images"),
                                                                         list):
            for image in media["images"]:
                alt = image.get("alt") if isinstance(image, Mapping) else None
                parts.append(f"[image: {alt.strip()}]" if isinstance(alt, str) and alt.strip()
                             else "[image]")
        elif media.get("$type") == "app.bsky.embed.video":
            alt = media.get("alt")
            parts.append(f"[video: {alt.strip()}]" if isinstance(alt, str) and alt.strip()
                         else "[video]")
    return parts, quote


class Bluesky(SocialNetwork):
    """Bluesky through the account's PDS."""

    key = "bluesky"
    title = "Bluesky"
    Config = BlueskyConfig
    max_length = 300
    text_length = staticmethod(grapheme_len)
    remaining_header = "ratelimit-remaining"
    rate = (3000.0, 300.0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._access = ""
        self._refresh = ""
        self.did = ""
        self.handle = ""

    @property
    def cfg(self) -> BlueskyConfig:
        assert isinstance(self.config, BlueskyConfig)
        return self.config

    # --- normalize ------------------------------------------------------------------
    def normalize(self, payload: Mapping[str, Any]) -> Mention:
        where = "bluesky payload"
        if not isinstance(payload, Mapping):
            raise InvalidPayload(f"{where}: must be an object, got {type(payload).__name__}")
        kind = payload.get("$type")
        if kind in ("app.bsky.feed.defs#notFoundPost", "app.bsky.feed.defs#blockedPost") or \
                payload.get("notFound") is True:
            raise InvalidPayload("bluesky post: the post was deleted or is not visible")
        reason = payload.get("reason")
        if reason is not None:
            where = "bluesky notification"
            reason = get_str(payload, "reason", where=where, max_len=64)
            if reason not in (*REASONS, "repost"):
                raise InvalidPayload(f"{where}: reason {reason[:40]!r} is not a mention")
        else:
            where = "bluesky post"
        uri = get_str(payload, "uri", where=where, max_len=1024)
        parts = parse_at_uri(uri)
        if parts is None:
            raise InvalidPayload(f"{where}: 'uri' is not an AT URI")
        record = get(payload, "record", Mapping, where=where)
        rtype = record.get("$type")
        if rtype == "app.bsky.feed.repost":
            text, is_repost, is_quote, langs = "", True, False, None
            created = get(record, "createdAt", str, where=where + " record")
        elif rtype == POST:
            raw = get_str(record, "text", where=where + " record", required=False, default="")
            text = expand_links(str(raw), record.get("facets"))
            media, is_quote = _embed_text(record.get("embed"))
            text = clean_text("\n\n".join(p for p in [text.strip(), *media] if p))
            is_quote = is_quote or reason == "quote"
            is_repost = False
            langs = record.get("langs")
            created = get(record, "createdAt", str, where=where + " record")
        else:
            raise InvalidPayload(f"{where}: record type {str(rtype)[:60]!r} is not a post")
        author_obj = get(payload, "author", Mapping, where=where)
        did = get_str(author_obj, "did", where=where + " author", max_len=256)
        if not did.startswith("did:"):
            raise InvalidPayload(f"{where}: 'author.did' is not a DID")
        handle = get_str(author_obj, "handle", where=where + " author", max_len=256).strip()
        if not handle:
            raise InvalidPayload(f"{where}: 'author.handle' is empty")
        author = Author(
            id=did, handle=handle,
            name=str(get_str(author_obj, "displayName", where=where + " author",
                             required=False, default="", max_len=1000)),
            profile_url=f"https://bsky.app/profile/{handle}",
            followers=max(0, get_int(author_obj, "followersCount", where=where + " author")),
            verified=isinstance(author_obj.get("verification"), Mapping)
            and author_obj["verification"].get("verifiedStatus") == "valid",
        )
        reply = record.get("reply") if rtype == POST else None
        parent = root = None
        if isinstance(reply, Mapping):
            parent = get_str(reply, "parent.uri", where=where + " reply", required=False)
            root = get_str(reply, "root.uri", where=where + " reply", required=False)
        flags = self.account_flags(handle=handle, author_id=did)
        own = self.cfg.account.lower().lstrip("@")
        if own and handle.lower() == own:
            flags["is_own_account"] = True
        lang = lang_tag(langs[0]) if isinstance(langs, list) and langs else None
        return Mention(
            id=uri, network=self.key, text=text, author=author,
            created_at=iso_time(created, where=where, field="record.createdAt"),
            url=f"https://bsky.app/profile/{handle}/post/{parts[2]}",
            in_reply_to=parent, conversation_id=root, lang=lang,
            is_repost=is_repost, is_quote=is_quote, **flags,
        )

    # --- session --------------------------------------------------------------------
    def check_config(self) -> None:
        url = self.require("service", "the PDS, e.g. https://bsky.social")
        if not url.startswith(("https://", "http://")):
            raise ConfigError(f"bluesky: {self.env('service')} must start with https://")
        self.require("identifier", "the handle or DID to log in with")
        self.require("app_password", "an app password of the corporate account")

    def url(self, nsid: str) -> str:
        return f"{self.cfg.service.rstrip('/')}/xrpc/{nsid}"

    async def login(self) -> None:
        password = self.cfg.app_password
        response = await self.request(
            "POST", self.url("com.atproto.server.createSession"), what="bluesky login",
            json={"identifier": self.cfg.identifier,
                  "password": password.get_secret_value() if password else ""})
        self._session(response.json())

    def _session(self, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("accessJwt"), str):
            raise FatalError("bluesky: the session answer has no access token")
        self._access = data["accessJwt"]
        self._refresh = str(data.get("refreshJwt", ""))
        self.did = str(data.get("did", self.did))
        self.handle = str(data.get("handle", self.handle))

    async def xrpc(self, method: str, nsid: str, *, ok: tuple[int, ...] = (),
                   retry: bool = True, **kwargs: Any) -> httpx.Response:
        """One XRPC call with the session token, refreshed once if it expired."""
        if not self._access:
            self.check_config()
            await self.login()
        for attempt in (1, 2):
            response = await self.request(
                method, self.url(nsid), what=f"bluesky {nsid}", ok=(*ok, 400, 401),
                retry=retry, headers={"Authorization": f"Bearer {self._access}"}, **kwargs)
            error = _error_name(response)
            if response.status_code in (400, 401) and error in ("ExpiredToken",
                                                                "InvalidToken") and attempt == 1:
                await self._refresh_session()
                continue
            if response.status_code in (400, 401) and response.status_code not in ok:
                from connectors.http import raise_for_response

                raise_for_response(response, what=f"bluesky {nsid}")
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _refresh_session(self) -> None:
        response = await self.request(
            "POST", self.url("com.atproto.server.refreshSession"), what="bluesky refresh",
            ok=(400, 401), headers={"Authorization": f"Bearer {self._refresh}"})
        if response.status_code >= 400:
            await self.login()
        else:
            self._session(response.json())

    async def whoami(self) -> str:
        data = (await self.xrpc("GET", "com.atproto.server.getSession")).json()
        if not isinstance(data, dict) or not isinstance(data.get("handle"), str):
            raise FatalError("bluesky: getSession answered without a handle")
        self.did, self.handle = str(data.get("did", self.did)), data["handle"]
        return self.handle

    # --- poll -----------------------------------------------------------------------
    async def poll(self, checkpoint: str | None) -> Page:
        state = load_checkpoint(checkpoint, network=self.key)

        async def fetch(cursor: str | None) -> tuple[Sequence[Item], str | None]:
            params: list[tuple[str, str | int]] = [("limit", self.cfg.poll_limit)]
            params += [("reasons", r) for r in REASONS]
            if cursor:
                params.append(("cursor", cursor))
            response = await self.xrpc("GET", "app.bsky.notification.listNotifications",
                                       params=params)
            data = response.json()
            notes = data.get("notifications") if isinstance(data, dict) else None
            if not isinstance(notes, list):
                raise FatalError("bluesky: listNotifications answered without notifications")
            items = []
            for note in notes:
                if not isinstance(note, Mapping):
                    continue
                at = note.get("indexedAt")
                items.append(Item(id=str(note.get("uri", "")) + "|" + str(note.get("reason")),
                                  ts=epoch(at) if isinstance(at, str) else None, payload=note))
            nxt = data.get("cursor")
            return items, nxt if isinstance(nxt, str) and nxt and notes else None

        payloads, new_state, more = await scan_newest_first(fetch, state,
                                                            overlap=self.cfg.overlap)
        wanted = [p for p in payloads if p.get("reason") in REASONS]
        return Page(payloads=wanted, checkpoint=dump_checkpoint(new_state),
                    wait=self.rate_wait, more=more)

    # --- reply ----------------------------------------------------------------------
    @property
    def limit(self) -> int:
        return self.cfg.max_length

    def length(self, text: str) -> int:
        if len(text.encode("utf-8")) > 3000:  # the record's byte limit
            return self.limit + 1
        return grapheme_len(text)

    async def _strong_ref(self, uri: str) -> tuple[dict[str, str], dict[str, str], str]:
        """(root ref, parent ref, parent author DID) of the post to answer."""
        if parse_at_uri(uri) is None:
            raise SkippableError(f"bluesky: {uri[:80]!r} is not a post AT URI")
        data = (await self.xrpc("GET", "app.bsky.feed.getPosts",
                                params={"uris": uri})).json()
        posts = data.get("posts") if isinstance(data, dict) else None
        if not isinstance(posts, list) or not posts or not isinstance(posts[0], Mapping):
            raise SkippableError("bluesky: the post to answer is gone (deleted or blocked)")
        post = posts[0]
        parent = {"uri": str(post.get("uri")), "cid": str(post.get("cid"))}
        record = post.get("record") if isinstance(post.get("record"), Mapping) else {}
        root = parent
        reply = record.get("reply") if isinstance(record, Mapping) else None
        if isinstance(reply, Mapping) and isinstance(reply.get("root"), Mapping):
            r = reply["root"]
            if isinstance(r.get("uri"), str) and isinstance(r.get("cid"), str):
                root = {"uri": r["uri"], "cid": r["cid"]}
        author = post.get("author") if isinstance(post.get("author"), Mapping) else {}
        return root, parent, str(author.get("did", "")) if isinstance(author, Mapping) else ""

    def _posted(self, uri: str) -> Posted:
        parts = parse_at_uri(uri)
        rkey = parts[2] if parts else ""
        return Posted(id=uri, url=f"https://bsky.app/profile/{self.handle or self.did}/post/"
                                  f"{rkey}")

    async def _existing(self, rkey: str) -> Posted | None:
        response = await self.xrpc("GET", "com.atproto.repo.getRecord", ok=(400, 404),
                                   params={"repo": self.did, "collection": POST, "rkey": rkey})
        if response.status_code >= 400:
            return None
        data = response.json()
        if isinstance(data, dict) and isinstance(data.get("uri"), str):
            return self._posted(data["uri"])
        return None

    async def post(self, reply: Reply, text: str) -> Posted:
        root, parent, parent_did = await self._strong_ref(reply.in_reply_to)
        facets = link_facets(text)
        mention = mention_facet(text, reply.author_handle, parent_did)
        if mention is not None:
            facets.insert(0, mention)
        record: dict[str, Any] = {
            "$type": POST, "text": text,
            "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "reply": {"root": root, "parent": parent},
        }
        if facets:
            record["facets"] = facets
        if lang_tag(reply.lang):
            record["langs"] = [str(reply.lang)]
        rkey = tid_for(reply.id, reply.created_at)
        body = {"repo": self.did, "collection": POST, "rkey": rkey, "record": record}
        attempts = int(self.cfg.attempts)
        for attempt in range(1, attempts + 1):
            try:  # never retried blindly: a failure may hide a success
                response = await self.xrpc("POST", "com.atproto.repo.createRecord", json=body,
                                           retry=False, ok=(400, 409))
            except RetriableError as exc:
                found = await self._existing(rkey)
                if found is not None:
                    return found
                if attempt == attempts:
                    raise
                await asyncio.sleep(min(exc.retry_after or 2.0 ** attempt, self.cfg.max_wait))
                continue
            if response.status_code < 400:
                data = response.json()
                return self._posted(str(data.get("uri")) if isinstance(data, dict) else "")
            found = await self._existing(rkey)
            if found is not None:
                return found  # the key exists: an earlier try got through
            raise FatalError(f"bluesky: createRecord refused the reply "
                             f"({_error_name(response) or response.status_code})",
                             status_code=response.status_code)
        raise AssertionError("unreachable")  # pragma: no cover

    async def find_posted(self, reply: Reply, text: str) -> Posted | None:
        return await self._existing(tid_for(reply.id, reply.created_at))


def _error_name(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    return str(data.get("error", "")) if isinstance(data, dict) else ""
