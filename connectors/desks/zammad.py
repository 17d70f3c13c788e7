"""Zammad (REST API v1, token authentication).

- The requester is a customer whose ``login`` is ``social-<network>-<handle>`` (with the
  profile link in ``web``), created once and remembered in the local record.
- The case id is a ticket tag ``er-<digest>`` set in the create call itself; lookup is the
  ticket search (Elasticsearch: eventually consistent), so the local record remembers every
  ticket made and, after a create whose answer was lost, the newest tickets (a consistent
  list) are scanned for one with the same customer and title before creating again.
- Articles: ``type: note`` with ``internal: true`` (internal note) or ``false``
  (customer-visible); existing articles are read before posting (matched on the text).
- Links: ``/links/add`` with ``link_type: parent`` (the incident ticket is the parent).
- States: new, open, pending reminder / pending close (pending), closed, merged, removed:
  one map (``STATUSES``) for the REST API and the webhooks.
- Changes come back by trigger webhook (``Zammad.verify_webhook``, the default trigger
  payload): ``X-Hub-Signature`` = ``sha1=`` + hex HMAC-SHA1(secret, body); Zammad signs no
  time, so the replay key is the body, for a day (``DEDUP_WINDOW``).
- An agent's feedback is a ticket field, not a tag: Zammad's default webhook payload
  carries no tags, and a tag change alone fires no "updated" trigger (zammad/zammad#2438).
  The field is a ticket object attribute named ``router_feedback`` (``FEEDBACK_FIELD``, a
  select with the option ``feedback_tag``, ``not-actionable``), which the default payload
  carries with the other custom attributes; ``ticket.tags``, where a payload has them, is
  read too.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from ..errors import FatalError, RetriableError
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
    hmac_hex,
    status_in,
    text,
)

STATUSES = {"new": "new", "open": "open", "pending reminder": "pending",
            "pending close": "pending", "closed": "closed", "merged": "closed",
            "removed": "closed"}
PRIORITIES = {"low": "1 low", "normal": "2 normal", "high": "3 high", "urgent": "3 high"}
#: The ticket object attribute an agent sets to ``feedback_tag`` (Admin > System > Objects).
FEEDBACK_FIELD = "router_feedback"


def case_tag(external_id: str) -> str:
    return "er-" + hashlib.sha256(external_id.encode()).hexdigest()[:20]


def customer_login(who: str) -> str:
    return "social-" + re.sub(r"[^a-z0-9._-]", "-", who.lower())


def feedback_values(ticket: Mapping[str, Any]) -> list[Any] | None:
    """What a ticket says of the agent's mark: the ``FEEDBACK_FIELD`` value (a select, or a
    multi-select's list; null when unset) and its ``tags`` (a list, or comma-separated as
    Zammad's ``#{ticket.tags}`` renders them); None when the payload has neither."""
    if FEEDBACK_FIELD not in ticket and "tags" not in ticket:
        return None
    field = ticket.get(FEEDBACK_FIELD)
    tags = ticket.get("tags")
    values = list(field) if isinstance(field, list) else [field] if field else []
    if isinstance(tags, str):
        values += tags.split(",")
    elif isinstance(tags, list):
        values += tags
    return values


class ZammadConfig(SaasConfig):
    """Zammad settings (an agent's access token)."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_ZAMMAD_", frozen=True,
                                      extra="ignore")

    base_url: str = Field("", description="Your Zammad, e.g. https://support.acme.com.")
    token: SecretStr = Field(SecretStr(""), description="Access token of the agent the "
                             "router acts as (Profile > Token Access; ticket.agent).")
    group: str = Field("Users", description="Group that gets new tickets.")
    webhook_secret: SecretStr = Field(SecretStr(""), description="HMAC SHA1 signature "
                                      "token of the Zammad webhook that reports changes.")


class Zammad(SaasDesk):
    """Zammad tickets and articles.

    Feedback: an agent sets the ticket field ``router_feedback`` (an object attribute) to
    ``not-actionable`` (``feedback_tag``); the default trigger payload carries it."""

    key: ClassVar[str] = "zammad"
    title: ClassVar[str] = "Zammad"
    Config = ZammadConfig
    body_format: ClassVar[str] = "html"
    events: ClassVar[DeskEvents] = "webhook"
    search_lags: ClassVar[bool] = True
    statuses = STATUSES

    def check_config(self) -> None:
        self.require("base_url", "token", "group")

    def client_options(self) -> dict[str, Any]:
        return {"base_url": str(self.cfg.base_url).rstrip("/"),
                "headers": {"Authorization": f"Token token={self.cfg.token.get_secret_value()}"}}

    def ticket_url(self, ticket_id: str) -> str:
        return f"{str(self.cfg.base_url).rstrip('/')}/#ticket/zoom/{ticket_id}"

    # --- reading ------------------------------------------------------------------------

    def _ticket(self, raw: dict[str, Any], external_id: str | None = None) -> Ticket:
        state = raw.get("state")
        if isinstance(state, dict):
            state = state.get("name")
        return Ticket(id=str(raw["id"]), url=self.ticket_url(str(raw["id"])),
                      status=self.map_status(state), external_id=external_id,
                      requester=str(raw.get("customer_id") or "") or None,
                      subject=raw.get("title") or "")

    async def _raw(self, ticket_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self.api.json(
            "GET", f"/api/v1/tickets/{ticket_id}", params={"expand": "true"},
            what="zammad show ticket")
        return data

    async def get(self, ticket_id: str) -> Ticket:
        await self._ready()
        return self._ticket(await self._raw(ticket_id))

    async def status(self, ticket_id: str) -> str:
        return (await self.get(ticket_id)).status

    async def _search(self, query: str, limit: int = 10) -> list[dict[str, Any]]:
        data = await self.api.json("GET", "/api/v1/tickets/search",
                                   params={"query": query, "limit": limit, "expand": "true"},
                                   what="zammad search tickets")
        return list(data) if isinstance(data, list) else []

    async def _lookup(self, external_id: str) -> Ticket | None:
        found = await self._search(f"tags:{case_tag(external_id)}")
        if found:
            return self._ticket(sorted(found, key=lambda t: t["id"])[0], external_id)
        entry = self.ledger.get("ticket", external_id)
        if entry is not None and entry.state == "pending" and entry.value:
            claim = json.loads(entry.value)
            newest = await self.api.json(
                "GET", "/api/v1/tickets", params={"expand": "true", "per_page": 50, "page": 1,
                                                  "sort_by": "created_at", "order_by": "desc"},
                what="zammad list tickets")
            for raw in newest:
                if raw.get("customer_id") == claim["customer_id"] and (
                        raw.get("title") == claim["title"]):
                    return self._ticket(raw, external_id)
        return None

    async def _customer(self, handle: str, network: str, *, create: bool,
                        draft: TicketDraft | None = None) -> int | None:
        who = requester_key(handle, network)
        entry = self.ledger.get("customer", who)
        if entry is not None and entry.state == "done":
            return int(entry.value)
        login = customer_login(who)
        users = await self.api.json("GET", "/api/v1/users/search",
                                    params={"query": f'login:"{login}"', "limit": 1,
                                            "expand": "true"}, what="zammad search users")
        if users:
            self.ledger.done("customer", who, str(users[0]["id"]))
            return int(users[0]["id"])
        if not create or draft is None:
            return None
        author = draft.mention.author
        try:
            user = await self.api.json(
                "POST", "/api/v1/users", what="zammad create customer", retry=False,
                json={"login": login, "firstname": author.name or f"@{author.handle}",
                      "lastname": "", "web": author.profile_url, "roles": ["Customer"],
                      "note": f"{network} user @{handle}"})
        except FatalError as exc:
            if exc.status_code != 422:
                raise
            # Made by an earlier attempt whose answer was lost; search will show it soon.
            raise RetriableError("zammad: the customer exists but is not searchable yet",
                                 retry_after=1.0, status_code=422) from exc
        self.ledger.done("customer", who, str(user["id"]))
        return int(user["id"])

    async def find_open_for_requester(self, handle: str, network: str) -> Ticket | None:
        await self._ready()
        customer = await self._customer(handle, network, create=False)
        if customer is None:
            return None
        for raw in sorted(await self._search(f"customer_id:{customer}", 50),
                          key=lambda t: str(t.get("updated_at", "")), reverse=True):
            ticket = self._ticket(raw)
            if ticket.status not in ("solved", "closed"):
                return ticket
        return None

    # --- writing ------------------------------------------------------------------------

    async def _create(self, draft: TicketDraft) -> Ticket:
        author = draft.mention.author
        customer = await self._customer(author.handle, draft.mention.network, create=True,
                                        draft=draft)
        self.ledger.claim("ticket", draft.external_id,
                          json.dumps({"customer_id": customer, "title": draft.subject}))
        tags = [*draft.tags, case_tag(draft.external_id)]
        response = await self.api.request(
            "POST", "/api/v1/tickets", retry=False, what="zammad create ticket",
            json={"title": draft.subject, "group": self.cfg.group, "customer_id": customer,
                  "state": "new", "priority": PRIORITIES.get(draft.priority, "2 normal"),
                  "tags": ",".join(tags),
                  "article": {"subject": draft.subject, "body": self.ticket_body(draft),
                              "content_type": "text/html", "type": "note",
                              "internal": True}})
        return self._ticket({**response.json(), "state": "new"}, draft.external_id)

    async def _comment_exists(self, ticket_id: str, body: CommentBody, *, public: bool,
                              key: str) -> bool:
        articles = await self.api.json("GET", f"/api/v1/ticket_articles/by_ticket/{ticket_id}",
                                       what="zammad list articles")
        text = self.comment_body(body)
        return any(bool(a.get("internal")) == (not public) and same_text(a.get("body") or "",
                                                                           text)
                   for a in articles)

    async def _post_comment(self, ticket_id: str, body: CommentBody, *, public: bool,
                            key: str) -> None:
        await self.api.request(
            "POST", "/api/v1/ticket_articles", retry=False, what="zammad add article",
            json={"ticket_id": int(ticket_id), "body": self.comment_body(body),
                  "content_type": "text/html", "type": "note", "internal": not public})

    async def link(self, child_id: str, parent_id: str) -> None:
        await self._ready()
        parent = await self._raw(parent_id)
        # "source is the parent of target", as the agent UI sends it.
        await self.api.request(
            "POST", "/api/v1/links/add", what="zammad link tickets",
            json={"link_type": "parent", "link_object_source": "Ticket",
                  "link_object_source_number": str(parent["number"]),
                  "link_object_target": "Ticket", "link_object_target_value": int(child_id)})

    # --- webhooks -----------------------------------------------------------------------

    @classmethod
    def verify_webhook(cls, headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                       now: float, replay_cache: ReplayCache | None = None,
                       max_age: float = MAX_AGE_SECONDS,
                       max_bytes: int = MAX_BODY_BYTES) -> Seen | None:
        """X-Hub-Signature "sha1=" + hex HMAC-SHA1(secret, body); the body is the key."""
        check_delivery(body, secret, max_bytes)
        expected = "sha1=" + hmac_hex(secret, body, "sha1")
        check_signature(header(headers, "X-Hub-Signature"), expected)
        return check_replay(replay_cache, cls.key, digest(body), now + DEDUP_WINDOW)

    @classmethod
    def parse_webhook(cls, payload: Mapping[str, Any], *,
                      feedback_tag: str = FEEDBACK_TAG) -> list[TicketChange]:
        """The default trigger payload: ``ticket.state`` (a name, or an object with one).

        It is the whole ticket as it is now, so whichever trigger condition sent it (a state
        change, the feedback field changed) it is a change at the current state with the
        agent's mark."""
        ticket = payload.get("ticket")
        if not isinstance(ticket, Mapping) or not ticket.get("id"):
            return []
        state = ticket.get("state")
        if isinstance(state, Mapping):
            state = state.get("name")
        return [TicketChange(ticket_id=text(ticket["id"]),
                             status=status_in(cls.statuses, text(state)),
                             changed_at=text(ticket.get("updated_at")),
                             not_actionable=marked(feedback_values(ticket), feedback_tag))]
