"""X (formerly Twitter), API v2.

- ``normalize``: a post as the v2 endpoints return it with expansions,
  ``{"data": {...}, "includes": {"users": [...], "tweets": [...], "media": [...]}}``. The
  author comes from ``includes.users``; ``referenced_tweets`` marks replies
  (``replied_to``), quotes (``quoted``) and reposts (``retweeted``); ``conversation_id`` is
  the thread; t.co links are unwound from ``entities.urls``; ``note_tweet`` gives the full
  text of long posts; media become their alt text. An edit is a new post id (listed in
  ``edit_history_tweet_ids``) in the same conversation.
- ``poll``: ``GET /2/users/:id/mentions`` newest first with ``since_id``; several pages are
  walked with ``pagination_token`` under the same ``since_id`` and the mark moves to the
  newest id only when the walk is done, so a restart mid-walk resumes it: no gaps, no
  duplicates.
- ``reply``: ``POST /2/tweets`` with ``reply.in_reply_to_tweet_id``; X has no idempotency
  key, so the ledger, and in doubt a look at our own recent posts, stop a second post (X
  also refuses duplicate content with a 403, which we resolve the same way).

Auth: an OAuth 2.0 user-context access token of the corporate account (scopes
``tweet.read tweet.write users.read``). Rate limits: ``x-rate-limit-limit/remaining/reset``
(reset in epoch seconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from connectors.errors import ConfigError, FatalError, InvalidPayload, SkippableError
from connectors.http import raise_for_response
from vocab.records import Author, Mention, Reply

from .base import Page, Posted
from .common import PostingConfig, SocialNetwork, dump_checkpoint, load_checkpoint
from .generic import lang_tag
from .text import (
    as_list,
    as_map,
    clean_text,
    get,
    get_id,
    get_str,
    iso_time,
    utc_stamp,
    x_length,
)

TWEET_FIELDS = ("created_at,author_id,conversation_id,in_reply_to_user_id,lang,"
                "referenced_tweets,entities,attachments,edit_history_tweet_ids,note_tweet")
EXPANSIONS = "author_id,referenced_tweets.id,referenced_tweets.id.author_id,attachments.media_keys"
USER_FIELDS = "username,name,verified,verified_type,public_metrics"
MEDIA_FIELDS = "type,alt_text"
TWITTER_EPOCH_MS = 1288834974657


class XConfig(PostingConfig):
    model_config = SettingsConfigDict(env_prefix="ROUTER_X_", frozen=True, extra="ignore")

    base_url: str = Field("https://api.x.com", description="The X API host.")
    user_token: SecretStr | None = Field(
        None, description="OAuth 2.0 user-context access token of the corporate account "
        "(tweet.read tweet.write users.read).")
    user_id: str = Field("", description="Numeric id of the corporate account (default: "
                         "asked from /2/users/me).")
    max_length: int = Field(280, ge=1, le=25_000,
                            description="Weighted post limit (280; more with Premium).")


def snowflake_time(post_id: str) -> str | None:
    """The creation time encoded in an X id (when ``created_at`` was not requested)."""
    try:
        ms = (int(post_id) >> 22) + TWITTER_EPOCH_MS
        return utc_stamp(datetime.fromtimestamp(ms / 1000, UTC))
    except (ValueError, OverflowError, OSError):
        return None


def now_id() -> str:
    """The smallest X id that could be created now (a ``since_id`` meaning "from now")."""
    ms = int(datetime.now(UTC).timestamp() * 1000)
    return str((ms - TWITTER_EPOCH_MS) << 22)


def _by_id(includes: Any, kind: str) -> dict[str, Mapping[str, Any]]:
    items = includes.get(kind) if isinstance(includes, Mapping) else None
    out: dict[str, Mapping[str, Any]] = {}
    for item in items if isinstance(items, list) else []:
        key = "media_key" if kind == "media" else "id"
        if isinstance(item, Mapping) and isinstance(item.get(key), str):
            out[item[key]] = item
    return out


class X(SocialNetwork):
    """X API v2 with a user-context token of the corporate account."""

    key = "x"
    title = "X"
    Config = XConfig
    max_length = 280
    text_length = staticmethod(x_length)
    remaining_header = "x-rate-limit-remaining"
    rate = (180.0, 900.0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._user_id = ""

    @property
    def cfg(self) -> XConfig:
        assert isinstance(self.config, XConfig)
        return self.config

    # --- normalize ------------------------------------------------------------------
    def normalize(self, payload: Mapping[str, Any]) -> Mention:
        where = "x post"
        if not isinstance(payload, Mapping):
            raise InvalidPayload(f"{where}: must be an object, got {type(payload).__name__}")
        if "data" not in payload and isinstance(payload.get("errors"), list):
            titles = {str(e.get("title")) for e in payload["errors"] if isinstance(e, Mapping)}
            if titles & {"Not Found Error", "Authorization Error"}:
                raise InvalidPayload(f"{where}: the post was deleted or is not visible")
            raise InvalidPayload(f"{where}: the payload holds only errors")
        tweet = get(payload, "data", Mapping, where=where)
        includes = as_map(payload.get("includes"))
        post_id = get_id(tweet, "id", where=where)
        if not str(post_id).isdigit():
            raise InvalidPayload(f"{where}: 'data.id' is not a numeric post id")
        text = get_str(tweet, "text", where=where)
        author_id = get_id(tweet, "author_id", where=where)
        users = _by_id(includes, "users")
        user = users.get(str(author_id))
        if user is None:
            raise InvalidPayload(f"{where}: author {author_id} is not in includes.users "
                                 "(suspended, or the request lacked expansions=author_id)")
        username = get_str(user, "username", where=where + " author", max_len=64).strip()
        if not username:
            raise InvalidPayload(f"{where}: the author has no username")
        refs = get(tweet, "referenced_tweets", list, where=where, required=False, default=[])
        kinds: dict[str, str] = {}
        for ref in refs:
            if isinstance(ref, Mapping) and isinstance(ref.get("type"), str) \
                    and isinstance(ref.get("id"), str):
                kinds[ref["type"]] = ref["id"]
        note = tweet.get("note_tweet")
        if isinstance(note, Mapping) and isinstance(note.get("text"), str):
            text = note["text"]
        tweets = _by_id(includes, "tweets")
        if "retweeted" in kinds and kinds["retweeted"] in tweets:
            original = tweets[kinds["retweeted"]]
            orig_user = users.get(str(original.get("author_id")))
            if isinstance(original.get("text"), str):
                who = orig_user.get("username") if orig_user else None
                text = f"RT @{who}: {original['text']}" if who else original["text"]
        text = self._unwind(text, tweet, includes)
        followers = as_map(user.get("public_metrics")).get("followers_count")
        verified_type = user.get("verified_type")
        author = Author(
            id=str(author_id), handle=username,
            name=str(get_str(user, "name", where=where + " author", required=False,
                             default="", max_len=1000)),
            profile_url=f"https://x.com/{username}",
            followers=followers if isinstance(followers, int) and followers > 0 else 0,
            verified=user.get("verified") is True or verified_type in ("blue", "business",
                                                                       "government"),
        )
        created = tweet.get("created_at")
        if created is None:
            created = snowflake_time(str(post_id))
            if created is None:
                raise InvalidPayload(f"{where}: no created_at and no time in the id")
        lang = tweet.get("lang")
        flags = self.account_flags(handle=username, author_id=str(author_id))
        own = self.cfg.account.lower().lstrip("@")
        if (own and username.lower() == own) or (self.cfg.user_id and
                                                 str(author_id) == self.cfg.user_id):
            flags["is_own_account"] = True
        return Mention(
            id=str(post_id), network=self.key, text=clean_text(text), author=author,
            created_at=iso_time(created, where=where, field="data.created_at"),
            url=f"https://x.com/{username}/status/{post_id}",
            in_reply_to=kinds.get("replied_to"),
            conversation_id=get_id(tweet, "conversation_id", where=where, required=False),
            lang=None if not isinstance(lang, str) or lang.startswith("q") else lang_tag(lang),
            is_repost="retweeted" in kinds, is_quote="quoted" in kinds, **flags,
        )

    @staticmethod
    def _unwind(text: str, tweet: Mapping[str, Any], includes: Mapping[str, Any]) -> str:
        """t.co links back to where they point; media links to their alt text."""
        urls = as_map(tweet.get("entities")).get("urls")
        media_notes: list[str] = []
        for entity in urls if isinstance(urls, list) else []:
            if not isinstance(entity, Mapping) or not isinstance(entity.get("url"), str):
                continue
            target = entity.get("unwound_url") or entity.get("expanded_url")
            if entity.get("media_key"):
                text = text.replace(entity["url"], "")
            elif isinstance(target, str) and target.startswith(("http://", "https://")):
                text = text.replace(entity["url"], target)
        attachments = tweet.get("attachments")
        keys = attachments.get("media_keys") if isinstance(attachments, Mapping) else None
        media = _by_id(includes, "media")
        for key in keys if isinstance(keys, list) else []:
            item = media.get(key) if isinstance(key, str) else None
            kind = item.get("type") if item and isinstance(item.get("type"), str) else "media"
            alt = item.get("alt_text") if item else None
            kind = "image" if kind == "photo" else kind
            media_notes.append(f"[{kind}: {alt.strip()}]" if isinstance(alt, str) and
                               alt.strip() else f"[{kind}]")
        text = text.strip()
        return "\n\n".join(p for p in [text, *media_notes] if p)

    # --- setup ----------------------------------------------------------------------
    def check_config(self) -> None:
        url = self.require("base_url", "the API host, https://api.x.com")
        if not url.startswith(("https://", "http://")):
            raise ConfigError(f"x: {self.env('base_url')} must start with https://")
        self.require("user_token", "an OAuth 2.0 user token of the corporate account")

    def url(self, path: str) -> str:
        return self.cfg.base_url.rstrip("/") + path

    def headers(self) -> dict[str, str]:
        token = self.cfg.user_token
        return {"Authorization": f"Bearer {token.get_secret_value() if token else ''}"}

    async def whoami(self) -> str:
        data = (await self.request("GET", self.url("/2/users/me"), headers=self.headers(),
                                   what="x users/me")).json()
        user = data.get("data") if isinstance(data, dict) else None
        if not isinstance(user, dict) or not isinstance(user.get("username"), str):
            raise FatalError("x: /2/users/me answered without a username")
        self._user_id = str(user.get("id", ""))
        if self.cfg.user_id and self._user_id != self.cfg.user_id:
            raise ConfigError(f"x: the token belongs to user {self._user_id}, not "
                              f"{self.env('user_id')}={self.cfg.user_id}")
        return str(user["username"])

    async def user_id(self) -> str:
        if not self._user_id:
            self._user_id = self.cfg.user_id
        if not self._user_id:
            await self.whoami()
        return self._user_id

    # --- poll -----------------------------------------------------------------------
    async def poll(self, checkpoint: str | None) -> Page:
        self.check_config()
        state = load_checkpoint(checkpoint, network=self.key) or {}
        since = state.get("since")
        scan = state.get("scan") if isinstance(state.get("scan"), Mapping) else None
        params: dict[str, str | int] = {
            "max_results": max(5, min(self.cfg.poll_limit, 100)),
            "tweet.fields": TWEET_FIELDS, "expansions": EXPANSIONS,
            "user.fields": USER_FIELDS, "media.fields": MEDIA_FIELDS,
        }
        if since:
            params["since_id"] = str(since)
        if scan and scan.get("token"):
            params["pagination_token"] = str(scan["token"])
        uid = await self.user_id()
        data = (await self.request("GET", self.url(f"/2/users/{uid}/mentions"), params=params,
                                   headers=self.headers(), what="x mentions")).json()
        if not isinstance(data, dict):
            raise FatalError("x: the mentions timeline did not answer with an object")
        posts = as_list(data.get("data"))
        meta = as_map(data.get("meta"))
        includes = as_map(data.get("includes"))
        payloads = [self._one(p, includes) for p in posts if isinstance(p, Mapping)]
        next_token = meta.get("next_token") if since or scan else None
        newest = meta.get("newest_id") if isinstance(meta.get("newest_id"), str) else None
        new_state: dict[str, Any] = {"v": 1, "since": since}
        if next_token:  # more below: keep since_id, walk on, move the mark at the end
            top = scan.get("top") if scan else newest
            new_state["scan"] = {"token": next_token, "top": top}
        else:
            top = scan.get("top") if scan else newest
            # An empty first poll starts "from now": an id made of the current time.
            new_state["since"] = top or since or now_id()
        return Page(payloads=payloads, checkpoint=dump_checkpoint(new_state),
                    wait=self.rate_wait, more=bool(next_token))

    @staticmethod
    def _one(post: Mapping[str, Any], includes: Mapping[str, Any]) -> dict[str, Any]:
        """One post with just the includes it refers to."""
        ids = {str(post.get("author_id"))}
        refs = post.get("referenced_tweets")
        ref_ids = {str(r.get("id")) for r in refs if isinstance(r, Mapping)} \
            if isinstance(refs, list) else set()
        tweets = [t for t in as_list(includes.get("tweets")) if isinstance(t, Mapping)
                  and str(t.get("id")) in ref_ids]
        ids |= {str(t.get("author_id")) for t in tweets}
        attachments = post.get("attachments")
        keys = set(attachments.get("media_keys") or []) if isinstance(attachments,
                                                                       Mapping) else set()
        users = as_list(includes.get("users"))
        media = as_list(includes.get("media"))
        return {"data": dict(post), "includes": {
            "users": [u for u in users if isinstance(u, Mapping) and str(u.get("id")) in ids],
            "tweets": tweets,
            "media": [m for m in media if isinstance(m, Mapping) and m.get("media_key") in keys],
        }}

    # --- reply ----------------------------------------------------------------------
    @property
    def limit(self) -> int:
        return self.cfg.max_length

    def length(self, text: str) -> int:
        return x_length(text)

    async def post(self, reply: Reply, text: str) -> Posted:
        return await self.careful(lambda: self._send(reply, text),
                                  lambda: self.find_posted(reply, text))

    async def _send(self, reply: Reply, text: str) -> Posted:
        body = {"text": text, "reply": {"in_reply_to_tweet_id": reply.in_reply_to}}
        response = await self.request("POST", self.url("/2/tweets"), json=body,
                                      headers=self.headers(), ok=(400, 403, 404),
                                      retry=False, what="x reply")
        if response.status_code in (400, 403, 404):
            detail = _detail(response)
            if "duplicate" in detail.lower():
                found = await self.find_posted(reply, text)
                if found is not None:
                    return found
            if "deleted" in detail.lower() or "not visible" in detail.lower() or \
                    response.status_code == 404:
                raise SkippableError("x: the post to answer is gone (deleted or not visible)",
                                     status_code=response.status_code)
            raise_for_response(response, what="x reply")
        data = response.json()
        created = data.get("data") if isinstance(data, dict) else None
        if not isinstance(created, dict) or not isinstance(created.get("id"), str):
            raise FatalError("x: the new post came back without an id")
        return Posted(id=created["id"], url=f"https://x.com/{self.me or 'i'}/status/"
                                            f"{created['id']}")

    async def find_posted(self, reply: Reply, text: str) -> Posted | None:
        uid = await self.user_id()
        data = (await self.request(
            "GET", self.url(f"/2/users/{uid}/tweets"), headers=self.headers(),
            params={"max_results": 20, "exclude": "retweets",
                    "tweet.fields": "referenced_tweets,entities,conversation_id"},
            what="x own posts")).json()
        posts = data.get("data") if isinstance(data, dict) else None
        for post in posts if isinstance(posts, list) else []:
            if not isinstance(post, Mapping):
                continue
            refs = post.get("referenced_tweets")
            replied = any(isinstance(r, Mapping) and r.get("type") == "replied_to"
                          and r.get("id") == reply.in_reply_to
                          for r in (refs if isinstance(refs, list) else []))
            links = {u.get("expanded_url") for u in
                     ((post.get("entities") or {}).get("urls") or [])
                     if isinstance(u, Mapping)} if isinstance(post.get("entities"),
                                                                Mapping) else set()
            if replied and (reply.ticket_url in links or
                            reply.ticket_url in str(post.get("text", ""))):
                return Posted(id=str(post.get("id")),
                              url=f"https://x.com/{self.me or 'i'}/status/{post.get('id')}")
        return None


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    parts = [str(data.get("detail", "")), str(data.get("title", ""))]
    for err in data.get("errors", []) if isinstance(data.get("errors"), list) else []:
        if isinstance(err, Mapping):
            parts.append(str(err.get("message", "")))
    return " ".join(parts)
