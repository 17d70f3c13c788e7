"""The generic JSON form: any source (a webhook, a replay file, a test) that already speaks
the router's ``Mention`` shape (see ``vocab/records.py``)::

    {"id": "1", "network": "generic", "text": "...", "author": {"id": "u1", "handle": "ann"},
     "created_at": "2026-11-23T10:00:00Z"}

plus the optional ``url``, ``in_reply_to``, ``conversation_id``, ``lang``, ``is_repost``,
``is_quote``, ``author.name``, ``author.profile_url``, ``author.followers`` and
``author.verified``. ``network`` may name another known network (a replay of its mentions);
it defaults to ``generic``.

Replies go to ``ROUTER_GENERIC_REPLY_URL`` (a JSON POST with an ``Idempotency-Key`` header)
when it is set; otherwise the generic network cannot reply (``NotSupported``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from connectors.errors import ConfigError, InvalidPayload, NotSupported
from vocab.records import SCHEMA_VERSION, Author, Mention, Reply

from .base import Posted
from .common import PostingConfig, SocialNetwork
from .text import clean_text, get, get_id, get_int, get_str, iso_time

_NETWORK = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_LANG = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")


class GenericConfig(PostingConfig):
    model_config = SettingsConfigDict(env_prefix="ROUTER_GENERIC_", frozen=True, extra="ignore")

    reply_url: str = Field(
        "", description="Where replies are POSTed as JSON (empty: the generic network does "
        "not reply).")
    reply_token: SecretStr | None = Field(
        None, description="Bearer token sent with each reply POST.")
    max_length: int = Field(2000, ge=1, description="Longest reply text, in characters.")


def lang_tag(value: Any) -> str | None:
    """A plausible BCP 47 language tag, or None (``und`` and junk included)."""
    if not isinstance(value, str) or not _LANG.match(value.strip()):
        return None
    tag = value.strip()
    return None if tag.lower() in ("und", "zxx", "mul") else tag


class Generic(SocialNetwork):
    """Mentions already in the router's JSON form."""

    key = "generic"
    title = "Generic JSON"
    Config = GenericConfig
    max_length = 2000

    def normalize(self, payload: Mapping[str, Any]) -> Mention:
        where = "generic mention"
        if not isinstance(payload, Mapping):
            raise InvalidPayload(f"{where}: must be an object, got {type(payload).__name__}")
        schema = payload.get("schema", SCHEMA_VERSION)
        if not isinstance(schema, int) or isinstance(schema, bool):
            raise InvalidPayload(f"{where}: field 'schema' must be int")
        if schema > SCHEMA_VERSION:
            raise InvalidPayload(f"{where}: schema {schema} is newer than this router knows "
                                 f"({SCHEMA_VERSION})")
        from connectors.registry import network_paths

        network = get_str(payload, "network", where=where, required=False,
                          default="generic", max_len=64)
        if not _NETWORK.match(network) or network not in network_paths():
            raise InvalidPayload(f"{where}: unknown network {network[:40]!r}")
        mention_id = get_id(payload, "id", where=where)
        text = get_str(payload, "text", where=where)
        get(payload, "author", Mapping, where=where)
        author_id = get_id(payload, "author.id", where=where)
        handle = get_str(payload, "author.handle", where=where, max_len=256).strip()
        if not handle:
            raise InvalidPayload(f"{where}: field 'author.handle' is empty")
        followers = get_int(payload, "author.followers", where=where)
        author = Author(
            id=str(author_id),
            handle=handle,
            name=get_str(payload, "author.name", where=where, required=False, default="",
                         max_len=1000),
            profile_url=get_str(payload, "author.profile_url", where=where, required=False,
                                default="", max_len=2048),
            followers=max(0, followers),
            verified=bool(get(payload, "author.verified", bool, where=where, required=False,
                              default=False)),
        )
        flags = self.account_flags(handle=handle, author_id=str(author_id))
        account = str(getattr(self.config, "account", "") or "").lower().lstrip("@")
        if account and handle.lower().lstrip("@") == account:
            flags["is_own_account"] = True
        for name in flags:  # a trusted source may mark accounts itself; never unmark
            flags[name] = flags[name] or bool(
                get(payload, name, bool, where=where, required=False, default=False))
        return Mention(
            id=str(mention_id),
            network=network,
            text=clean_text(text),
            author=author,
            created_at=iso_time(get(payload, "created_at", (str, int, float), where=where),
                                where=where, field="created_at"),
            url=get_str(payload, "url", where=where, required=False, default="", max_len=2048),
            in_reply_to=get_id(payload, "in_reply_to", where=where, required=False),
            conversation_id=get_id(payload, "conversation_id", where=where, required=False),
            lang=lang_tag(payload.get("lang")),
            is_repost=bool(get(payload, "is_repost", bool, where=where, required=False,
                               default=False)),
            is_quote=bool(get(payload, "is_quote", bool, where=where, required=False,
                              default=False)),
            **flags,
        )

    # --- replies ---------------------------------------------------------------------
    def check_config(self) -> None:
        url = str(getattr(self.config, "reply_url", ""))
        if url and not url.startswith(("http://", "https://")):
            raise ConfigError(f"generic: {self.env('reply_url')} must be an http(s) URL")

    async def whoami(self) -> str:
        return str(getattr(self.config, "account", ""))

    async def post(self, reply: Reply, text: str) -> Posted:
        url = str(getattr(self.config, "reply_url", ""))
        if not url:
            raise NotSupported(f"generic: set {self.env('reply_url')} to send replies")
        headers = {"Idempotency-Key": reply.id}
        token = getattr(self.config, "reply_token", None)
        if token is not None:
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        body = {"id": reply.id, "in_reply_to": reply.in_reply_to,
                "conversation_id": reply.conversation_id, "handle": reply.author_handle,
                "text": text, "ticket_url": reply.ticket_url, "lang": reply.lang}
        response = await self.request("POST", url, json=body, headers=headers,
                                      what="generic reply")
        try:
            data = response.json()
        except ValueError:
            data = {}
        post_id = data.get("id") if isinstance(data, dict) else None
        post_url = data.get("url") if isinstance(data, dict) else None
        return Posted(id=str(post_id or reply.id), url=str(post_url or ""))
