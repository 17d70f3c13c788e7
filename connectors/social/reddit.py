"""Reddit: inbox mentions in, comments out (OAuth, ``oauth.reddit.com``).

- ``normalize``: one inbox *thing*: a comment ``{"kind": "t1", "data": {...}}`` (a username
  mention or a reply) or a private message ``t4``. The id is the fullname (``t1_abc``) so a
  reply can name it as ``thing_id``; ``link_id`` (the post) is the thread; ``parent_id`` is
  what it answers; a deleted or removed comment (``[deleted]`` / ``[removed]``) is refused.
- ``poll``: ``/message/mentions`` (or ``unread`` / ``inbox``) Listings, newest first with
  ``after``; the checkpoint is a time mark plus the recent fullnames (see ``paging``): a
  deleted anchor or a late mention leaves no gap, nothing is delivered twice.
- ``reply``: ``POST /api/comment`` with ``thing_id``; Reddit has no idempotency key, so the
  ledger, and after a failure or in doubt a look at our own recent comments, stop a second
  comment. (A reply to a ``t4`` message is a private message, by Reddit's design.)

Auth: a script app's password grant (``client_id``/``client_secret``/``username``/
``password``) or a ready bearer token; a descriptive ``User-Agent`` is required. Rate
limits: ``X-Ratelimit-Used/Remaining/Reset`` (reset in seconds from now).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

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
from .paging import Item, scan_newest_first
from .text import as_list, as_map, clean_text, get, get_id, get_str, iso_time

GONE = ("[deleted]", "[removed]")
_WAIT = re.compile(r"(\d+)\s*(second|minute|hour)", re.IGNORECASE)


class RedditConfig(PostingConfig):
    model_config = SettingsConfigDict(env_prefix="ROUTER_REDDIT_", frozen=True,
                                      extra="ignore")

    base_url: str = Field("https://oauth.reddit.com", description="The OAuth API host.")
    token_url: str = Field("https://www.reddit.com/api/v1/access_token",
                           description="Where the password grant gets a token.")
    client_id: str = Field("", description="The script app's client id.")
    client_secret: SecretStr | None = Field(None, description="The script app's secret.")
    username: str = Field("", description="The corporate account's username (login).")
    password: SecretStr | None = Field(None, description="The corporate account's password.")
    access_token: SecretStr | None = Field(
        None, description="A ready bearer token instead of the password grant.")
    user_agent: str = Field(
        "", description="Reddit requires 'platform:app-id:version (by /u/username)'.")
    inbox: str = Field("mentions", pattern="^(mentions|unread|inbox)$",
                       description="Which inbox to poll: mentions, unread or inbox.")
    overlap: float = Field(
        3600.0, ge=0, le=7 * 86_400,
        description="Seconds below the newest item re-checked on each poll, for mentions "
        "that reach the inbox late.")
    max_length: int = Field(10_000, ge=1, le=10_000, description="Comment length limit.")


def _retry_after(message: str) -> float:
    m = _WAIT.search(message)
    if not m:
        return 60.0
    unit = {"second": 1, "minute": 60, "hour": 3600}[m.group(2).lower()]
    return float(m.group(1)) * unit


class Reddit(SocialNetwork):
    """Reddit's OAuth API with the corporate account."""

    key = "reddit"
    title = "Reddit"
    Config = RedditConfig
    max_length = 10_000
    remaining_header = "x-ratelimit-remaining"
    rate = (100.0, 60.0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._token = ""

    @property
    def cfg(self) -> RedditConfig:
        assert isinstance(self.config, RedditConfig)
        return self.config

    # --- normalize ------------------------------------------------------------------
    def normalize(self, payload: Mapping[str, Any]) -> Mention:
        where = "reddit thing"
        if not isinstance(payload, Mapping):
            raise InvalidPayload(f"{where}: must be an object, got {type(payload).__name__}")
        kind = get_str(payload, "kind", where=where, max_len=16)
        if kind not in ("t1", "t4"):
            raise InvalidPayload(f"{where}: kind {kind!r} is neither a comment (t1) nor a "
                                 "message (t4)")
        data = get(payload, "data", Mapping, where=where)
        where = "reddit comment" if kind == "t1" else "reddit message"
        thing_id = get_id(data, "id", where=where)
        name = get_str(data, "name", where=where, required=False, default=f"{kind}_{thing_id}",
                       max_len=64)
        if not str(name).startswith(kind + "_"):
            raise InvalidPayload(f"{where}: 'name' {str(name)[:30]!r} is not a {kind} fullname")
        body = get_str(data, "body", where=where)
        author = data.get("author")
        if author in GONE or body in GONE:
            raise InvalidPayload(f"{where}: it was deleted or removed")
        if author is None:
            raise InvalidPayload(f"{where}: field 'author' is missing")
        handle = get_str(data, "author", where=where, max_len=64).strip()
        if not handle:
            raise InvalidPayload(f"{where}: field 'author' is empty")
        author_id = get_str(data, "author_fullname", where=where, required=False,
                            default=handle, max_len=64)
        text = str(body)
        if kind == "t4":
            subject = get_str(data, "subject", where=where, required=False, default="",
                              max_len=1000)
            text = f"{subject}\n\n{body}" if subject else text
            url = f"https://www.reddit.com/message/messages/{thing_id}"
            thread = get_str(data, "first_message_name", where=where, required=False) or name
        else:
            link = get_str(data, "permalink", where=where, required=False, default="") or \
                get_str(data, "context", where=where, required=False, default="")
            url = "https://www.reddit.com" + str(link).split("?")[0] if link else ""
            thread = get_str(data, "link_id", where=where, required=False)
            if thread is None:  # inbox items name the post only in their link
                post = re.search(r"/comments/([a-z0-9]+)/", str(link))
                thread = f"t3_{post.group(1)}" if post else None
        flags = self.account_flags(handle=handle, author_id=str(author_id))
        own = (self.cfg.account or self.cfg.username).lower().lstrip("@").removeprefix("u/")
        if own and handle.lower() == own:
            flags["is_own_account"] = True
        created = get(data, "created_utc", (int, float), where=where)
        return Mention(
            id=str(name), network=self.key, text=clean_text(text.strip()),
            author=Author(id=str(author_id), handle=handle,
                          profile_url=f"https://www.reddit.com/user/{handle}"),
            created_at=iso_time(created, where=where, field="created_utc"),
            url=url, in_reply_to=get_str(data, "parent_id", where=where, required=False),
            conversation_id=thread, lang=None, is_repost=False, is_quote=False, **flags,
        )

    # --- auth -----------------------------------------------------------------------
    def check_config(self) -> None:
        self.require("user_agent", "e.g. 'server:acme-router:1.0 (by /u/AcmeSupport)'")
        if self.cfg.access_token is None:
            for name, why in (("client_id", "the script app's client id"),
                              ("client_secret", "the script app's secret"),
                              ("username", "the corporate account to log in as"),
                              ("password", "its password")):
                self.require(name, why + f" (or set {self.env('access_token')})")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"bearer {self._token}", "User-Agent": self.cfg.user_agent}

    async def login(self) -> None:
        if self.cfg.access_token is not None:
            self._token = self.cfg.access_token.get_secret_value()
            return
        secret, password = self.cfg.client_secret, self.cfg.password
        response = await self.request(
            "POST", self.cfg.token_url, what="reddit token",
            auth=(self.cfg.client_id, secret.get_secret_value() if secret else ""),
            data={"grant_type": "password", "username": self.cfg.username,
                  "password": password.get_secret_value() if password else ""},
            headers={"User-Agent": self.cfg.user_agent})
        data = response.json()
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            error = data.get("error") if isinstance(data, dict) else None
            error = self.api.redactor.scrub(str(error))[:80] if error else None
            raise ConfigError(f"reddit: the password grant was refused ({error or 'no token'}); "
                              f"check {self.env('username')} and {self.env('password')}")
        self._token = data["access_token"]

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        if not self._token:
            self.check_config()
            await self.login()
        url = self.cfg.base_url.rstrip("/") + path
        response = await self.request(method, url, headers=self.headers(), ok=(401,),
                                      what=f"reddit {path.split('?')[0]}", **kwargs)
        if response.status_code == 401 and self.cfg.access_token is None:
            await self.login()  # the hour-long token ran out
            response = await self.request(method, url, headers=self.headers(),
                                          what=f"reddit {path}", **kwargs)
        elif response.status_code == 401:
            raise FatalError(f"reddit: {self.env('access_token')} was refused (401)",
                             status_code=401)
        try:
            return response.json()
        except ValueError as exc:
            raise RetriableError(f"reddit {path}: the answer is not JSON") from exc

    async def whoami(self) -> str:
        data = await self.call("GET", "/api/v1/me")
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise FatalError("reddit: /api/v1/me answered without a name")
        return str(data["name"])

    # --- poll -----------------------------------------------------------------------
    async def poll(self, checkpoint: str | None) -> Page:
        state = load_checkpoint(checkpoint, network=self.key)

        async def fetch(cursor: str | None) -> tuple[Sequence[Item], str | None]:
            params: dict[str, str | int] = {"limit": self.cfg.poll_limit, "raw_json": 1}
            if cursor:
                params["after"] = cursor
            data = await self.call("GET", f"/message/{self.cfg.inbox}", params=params)
            listing = as_map(as_map(data).get("data"))
            if as_map(data).get("kind") != "Listing":
                raise FatalError("reddit: the inbox did not answer with a Listing")
            items = []
            for child in as_list(listing.get("children")):
                inner = as_map(as_map(child).get("data"))
                ts = inner.get("created_utc")
                items.append(Item(id=str(inner.get("name", "")),
                                  ts=float(ts) if isinstance(ts, int | float) else None,
                                  payload=child))
            after = listing.get("after")
            return items, after if isinstance(after, str) and after else None

        payloads, new_state, more = await scan_newest_first(fetch, state,
                                                            overlap=self.cfg.overlap)
        return Page(payloads=payloads, checkpoint=dump_checkpoint(new_state),
                    wait=self.rate_wait, more=more)

    # --- reply ----------------------------------------------------------------------
    @property
    def limit(self) -> int:
        return self.cfg.max_length

    async def post(self, reply: Reply, text: str) -> Posted:
        return await self.careful(lambda: self._send(reply, text),
                                  lambda: self.find_posted(reply, text))

    async def _send(self, reply: Reply, text: str) -> Posted:
        if not re.match(r"^t[134]_[a-z0-9]+$", reply.in_reply_to):
            raise SkippableError(f"reddit: {reply.in_reply_to[:40]!r} is not a thing fullname")
        data = await self.call("POST", "/api/comment", retry=False, data={
            "api_type": "json", "thing_id": reply.in_reply_to, "text": text})
        result = as_map(as_map(data).get("json"))
        errors = as_list(result.get("errors"))
        if errors:
            first = [str(x) for x in as_list(errors[0])] + ["", ""]
            code, message = first[0], first[1]
            if code == "RATELIMIT":
                raise RetriableError(f"reddit: {message}", retry_after=_retry_after(message))
            if code in ("DELETED_COMMENT", "DELETED_LINK", "THREAD_LOCKED", "TOO_OLD",
                        "NOT_FOUND", "USER_BLOCKED"):
                raise SkippableError(f"reddit: cannot answer this thing ({code})")
            raise FatalError(f"reddit: the comment was refused "
                             f"({code[:40]}: {self.api.redactor.scrub(message)[:120]})")
        things = as_list(as_map(result.get("data")).get("things"))
        thing = as_map(as_map(things[0]).get("data")) if things else {}
        if not thing.get("name") and not thing.get("id"):
            raise FatalError("reddit: the new comment came back without an id")
        return self._posted(thing)

    @staticmethod
    def _posted(thing: Mapping[str, Any]) -> Posted:
        name = str(thing.get("name") or f"t1_{thing.get('id')}")
        permalink = thing.get("permalink")
        url = f"https://www.reddit.com{permalink}" if isinstance(permalink, str) else ""
        return Posted(id=name, url=url)

    async def find_posted(self, reply: Reply, text: str) -> Posted | None:
        me = self.me or self.cfg.account or self.cfg.username
        if not me:
            return None
        data = await self.call("GET", f"/user/{me}/comments",
                               params={"limit": 25, "raw_json": 1, "sort": "new"})
        for child in as_list(as_map(as_map(data).get("data")).get("children")):
            thing = as_map(as_map(child).get("data"))
            if thing.get("parent_id") == reply.in_reply_to and \
                    reply.ticket_url in str(thing.get("body", "")):
                return self._posted(thing)
        return None
