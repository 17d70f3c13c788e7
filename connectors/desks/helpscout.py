"""Help Scout (Mailbox API 2.0, OAuth2 client credentials).

- The access token comes from ``POST /v2/oauth2/token`` (client credentials), is cached
  until shortly before ``expires_in`` and fetched again once after a 401; it is never
  logged or put in an error.
- A ticket is a conversation in ``mailbox_id``, created ``imported`` (nobody is emailed: a
  social customer has no address) with the post as a customer thread and the agent
  briefing as a note. The requester is a customer with the social profile; the case id and
  the requester are tags (``er-<digest>``, ``er-req-<digest>``), found with the
  conversation list filtered by tag. That list is search-backed (eventually consistent),
  so the local record remembers every conversation made and a create whose answer was lost
  is given ``settle_seconds`` before another is tried.
- Comments: internal notes are ``note`` threads; public ones are ``customer`` threads (a
  new mention from the customer) or imported ``reply`` threads (the answer also goes out on
  the social network). Threads are read before posting (matched on the text).
- Status: active (open), pending, closed, spam (closed): one map (``STATUSES``) for the
  REST API and the webhooks. Help Scout has no ticket links: ``link`` raises NotSupported.
- 429 answers carry ``X-RateLimit-Retry-After``.
- Changes come back by webhook (``HelpScout.verify_webhook``, ``convo.*`` events carrying
  the conversation): ``X-HelpScout-Signature`` = base64(HMAC-SHA1(secret, body)); Help
  Scout signs no time, so the replay key is the body, for a day (``DEDUP_WINDOW``).
- An agent's feedback is the conversation tag ``feedback_tag`` (``not-actionable``), read
  from the conversation's ``tags`` in every ``convo.*`` event (``convo.tags`` when only
  the tags changed).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from ..errors import FatalError
from ..http import raise_for_response
from .base import (
    FEEDBACK_TAG,
    CommentBody,
    DeskEvents,
    Ticket,
    TicketChange,
    TicketDraft,
    marked,
)
from .saas import SaasConfig, SaasDesk, requester_key, same_text
from .webhooks import (
    DEDUP_WINDOW,
    MAX_AGE_SECONDS,
    MAX_BODY_BYTES,
    ReplayCache,
    Seen,
    check_delivery,
    check_replay,
    check_signature,
    digest,
    header,
    hmac_digest,
    status_in,
    text,
)

STATUSES = {"active": "open", "open": "open", "pending": "pending", "closed": "closed",
            "spam": "closed"}


def tag_names(raw: Any) -> list[Any] | None:
    """A conversation's ``tags``: objects with ``tag`` (Mailbox API 2.0; ``name`` read too)
    or plain names; None when the payload has no tags."""
    if not isinstance(raw, list):
        return None
    return [t.get("tag", t.get("name", "")) if isinstance(t, Mapping) else t for t in raw]


TOKEN_URL = "/v2/oauth2/token"  # noqa: S105 - a path, not a password


def tag_for(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.encode()).hexdigest()[:20]
    return f"er-{digest}" if kind == "case" else f"er-req-{digest}"


class HelpScoutConfig(SaasConfig):
    """Help Scout settings (an OAuth2 app with client credentials)."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_HELPSCOUT_", frozen=True,
                                      extra="ignore")

    api_url: str = Field("https://api.helpscout.net", description="Mailbox API root.")
    app_id: str = Field("", description="App ID of your Help Scout OAuth2 app "
                        "(Your Profile > My Apps).")
    app_secret: SecretStr = Field(SecretStr(""), description="App Secret of that app.")
    mailbox_id: int = Field(0, ge=0, description="Mailbox (inbox) id new conversations go "
                            "to.")
    webhook_secret: SecretStr = Field(SecretStr(""), description="Secret key of the Help "
                                      "Scout webhook that reports conversation changes.")


class HelpScout(SaasDesk):
    """Help Scout conversations.

    Feedback: an agent adds the tag ``not-actionable`` (``feedback_tag``); it is read from the
    conversation's ``tags`` in every ``convo.*`` event (subscribe to ``convo.tags`` too)."""

    key: ClassVar[str] = "helpscout"
    #: Mailbox API 2.0: 400 requests a minute
    documented_rate: ClassVar[float | None] = 400.0
    title: ClassVar[str] = "Help Scout"
    Config = HelpScoutConfig
    body_format: ClassVar[str] = "html"
    events: ClassVar[DeskEvents] = "webhook"
    search_lags: ClassVar[bool] = True
    statuses = STATUSES

    _token: str | None = None
    _token_until: float = 0.0
    _token_lock: asyncio.Lock | None = None

    def check_config(self) -> None:
        self.require("app_id", "app_secret", "mailbox_id")

    def client_options(self) -> dict[str, Any]:
        return {"base_url": str(self.cfg.api_url).rstrip("/")}

    def ticket_url(self, ticket_id: str) -> str:
        return f"https://secure.helpscout.net/conversation/{ticket_id}"

    # --- OAuth2 and HTTP ------------------------------------------------------------------

    async def _access_token(self, *, renew: bool = False) -> str:
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        async with self._token_lock:
            if renew or self._token is None or time.monotonic() >= self._token_until:
                data = await self.api.json(
                    "POST", TOKEN_URL, what="helpscout token",
                    json={"grant_type": "client_credentials", "client_id": self.cfg.app_id,
                          "client_secret": self.cfg.app_secret.get_secret_value()})
                self._token = str(data["access_token"])
                lifetime = float(data.get("expires_in", 7200))
                self._token_until = time.monotonic() + max(0.0, lifetime - 60)
            return self._token

    async def call(self, method: str, url: str, *, retry: bool = True,
                   **kwargs: Any) -> httpx.Response:
        """One API call with the bearer token; a 401 renews the token once."""
        for renew in (False, True):
            token = await self._access_token(renew=renew)
            response = await self.api.request(
                method, url, retry=retry, ok=(401,), what=f"helpscout {method} {url}",
                headers={"Authorization": f"Bearer {token}"}, **kwargs)
            if response.status_code != 401:
                return response
        raise_for_response(response, what="helpscout", redactor=self.api.redactor)
        raise FatalError("helpscout: unauthorized", status_code=401)  # pragma: no cover

    async def _json(self, url: str, **kwargs: Any) -> Any:
        return (await self.call("GET", url, **kwargs)).json()

    # --- reading ------------------------------------------------------------------------

    def _ticket(self, raw: dict[str, Any], external_id: str | None = None) -> Ticket:
        cid = str(raw["id"])
        web = ((raw.get("_links") or {}).get("web") or {}).get("href")
        return Ticket(id=cid, url=web or self.ticket_url(cid),
                      status=self.map_status(raw.get("status")), external_id=external_id,
                      subject=raw.get("subject") or "")

    async def get(self, ticket_id: str) -> Ticket:
        await self._ready()
        return self._ticket(await self._json(f"/v2/conversations/{ticket_id}"))

    async def status(self, ticket_id: str) -> str:
        return (await self.get(ticket_id)).status

    async def _by_tag(self, tag: str, status: str) -> list[dict[str, Any]]:
        data = await self._json("/v2/conversations",
                                params={"mailbox": self.cfg.mailbox_id, "tag": tag,
                                        "status": status, "sortField": "createdAt",
                                        "sortOrder": "asc"})
        return list(((data or {}).get("_embedded") or {}).get("conversations") or [])

    async def _lookup(self, external_id: str) -> Ticket | None:
        found = await self._by_tag(tag_for("case", external_id), "all")
        return self._ticket(found[0], external_id) if found else None

    async def find_open_for_requester(self, handle: str, network: str) -> Ticket | None:
        await self._ready()
        found = await self._by_tag(tag_for("requester", requester_key(handle, network)),
                                   "open")
        return self._ticket(found[-1]) if found else None

    # --- writing ------------------------------------------------------------------------

    async def _customer(self, draft: TicketDraft) -> int:
        author = draft.mention.author
        who = requester_key(author.handle, draft.mention.network)
        entry = self.ledger.get("customer", who)
        if entry is not None and entry.state == "done":
            return int(entry.value)
        response = await self.call(
            "POST", "/v2/customers",
            json={"firstName": (author.name or f"@{author.handle}")[:40],
                  "background": f"{draft.mention.network} user @{author.handle} ({who})",
                  "websites": [{"value": author.profile_url}] if author.profile_url else [],
                  "socialProfiles": [{"type": "other", "value": f"@{author.handle}"}]})
        customer = int(response.headers["Resource-ID"])
        self.ledger.done("customer", who, str(customer))
        return customer

    async def _create(self, draft: TicketDraft) -> Ticket:
        customer = await self._customer(draft)
        who = requester_key(draft.mention.author.handle, draft.mention.network)
        original = self.comment_body(CommentBody(text=draft.mention.text or "(no text)"))
        response = await self.call(
            "POST", "/v2/conversations", retry=False,
            json={"subject": draft.subject, "mailboxId": self.cfg.mailbox_id, "type": "chat",
                  "status": "active", "imported": True, "customer": {"id": customer},
                  "tags": [*draft.tags, tag_for("case", draft.external_id),
                           tag_for("requester", who)],
                  "threads": [
                      {"type": "customer", "customer": {"id": customer}, "text": original},
                      {"type": "note", "text": self.ticket_body(draft)}]})
        cid = response.headers["Resource-ID"]
        return Ticket(id=cid, url=self.ticket_url(cid), status="open",
                      external_id=draft.external_id, subject=draft.subject)

    async def _comment_exists(self, ticket_id: str, body: CommentBody, *, public: bool,
                              key: str) -> bool:
        text = self.comment_body(body)
        page = 1
        while page <= 20:
            data = await self._json(f"/v2/conversations/{ticket_id}/threads",
                                    params={"page": page})
            threads = ((data or {}).get("_embedded") or {}).get("threads") or []
            if any((t.get("type") != "note") == public and same_text(t.get("body") or "", text)
                   for t in threads):
                return True
            if page >= int((data.get("page") or {}).get("totalPages", 1)):
                return False
            page += 1
        return False

    async def _post_comment(self, ticket_id: str, body: CommentBody, *, public: bool,
                            key: str) -> None:
        text = self.comment_body(body)
        base = f"/v2/conversations/{ticket_id}"
        if not public:
            await self.call("POST", f"{base}/notes", json={"text": text}, retry=False)
            return
        customer = await self._conversation_customer(ticket_id)
        kind = "customer" if body.mention is not None else "reply"
        await self.call("POST", f"{base}/{kind}", retry=False,
                        json={"customer": {"id": customer}, "text": text, "imported": True})

    async def _conversation_customer(self, ticket_id: str) -> int:
        raw = await self._json(f"/v2/conversations/{ticket_id}")
        return int((raw.get("primaryCustomer") or {}).get("id", 0))

    # --- webhooks -----------------------------------------------------------------------

    @classmethod
    def verify_webhook(cls, headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                       now: float, replay_cache: ReplayCache | None = None,
                       max_age: float = MAX_AGE_SECONDS,
                       max_bytes: int = MAX_BODY_BYTES) -> Seen | None:
        """X-HelpScout-Signature = base64(HMAC-SHA1(secret, body)); the body is the key."""
        check_delivery(body, secret, max_bytes)
        expected = base64.b64encode(hmac_digest(secret, body, "sha1")).decode()
        check_signature(header(headers, "X-HelpScout-Signature"), expected)
        return check_replay(replay_cache, cls.key, digest(body), now + DEDUP_WINDOW)

    @classmethod
    def parse_webhook(cls, payload: Mapping[str, Any], *,
                      feedback_tag: str = FEEDBACK_TAG) -> list[TicketChange]:
        """``convo.*`` events: the conversation object (convo.deleted has only its id).

        Every event but convo.deleted carries the whole conversation, its status and tags as
        they are now, so each one (convo.tags, a reply too) is a change at the current status
        with the agent's mark; the router's status events are idempotent."""
        if not payload.get("id") or "status" not in payload:
            return []  # e.g. convo.deleted carries only the id
        web = ((payload.get("_links") or {}).get("web") or {}).get("href", "")
        return [TicketChange(ticket_id=text(payload["id"]),
                             status=status_in(cls.statuses, text(payload["status"])),
                             url=text(web), changed_at=text(payload.get("userUpdatedAt")
                                                            or payload.get("closedAt")),
                             not_actionable=marked(tag_names(payload.get("tags")),
                                                   feedback_tag))]
