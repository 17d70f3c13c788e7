"""Freshdesk (API v2).

- Basic auth with the API key (``key:X``).
- The requester is a contact with ``unique_external_id`` = ``network:handle`` (created by
  the ticket create call itself). The case id is a ticket custom field
  (``external_id_field``, default ``cf_external_id``: create it once in Admin > Ticket
  Fields).
- Lookup: the search API (``/search/tickets?query="cf_external_id:'...'"``), which is
  eventually consistent, so the local record remembers every ticket made and, after a
  create whose answer was lost, the requester's own tickets
  (``/tickets?unique_external_id=``, a consistent list) are scanned before creating again.
- Comments are notes: ``private: true`` for internal notes, ``private: false`` for
  customer-visible ones (a Freshdesk "reply" would email a contact who has none; the real
  reply goes out on the social network). Conversations are read before posting (matched on
  the text: a note has no room for a hidden key).
- Statuses 2 Open, 3 Pending, 4 Resolved, 5 Closed: the API gives the number, a webhook
  placeholder (``{{ticket.status}}``) the name; one map (``STATUSES``) reads both, for
  the REST API and the webhooks. Ticket links (trackers) are not offered: ``link`` raises
  NotSupported.
- ``X-RateLimit-*`` headers; 429 answers carry ``Retry-After``.
- Changes come back by an automation-rule webhook (``Freshdesk.verify_webhook``). Freshdesk
  signs nothing: the rule sends the shared secret as the custom header
  ``X-Router-Webhook-Token``, compared in constant time; the body is not authenticated
  beyond TLS, and there is no replay key (an identical body may be a second genuine change
  back to the same status; status events are idempotent downstream).
- An agent's feedback is the ticket tag ``feedback_tag`` (``not-actionable``), read from
  ``ticket_tags`` (``{{ticket.tags}}``, comma separated) in the webhook body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from ..errors import ConfigError
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
    MAX_AGE_SECONDS,
    MAX_BODY_BYTES,
    ReplayCache,
    Seen,
    check_delivery,
    check_signature,
    header,
    secret_bytes,
    status_in,
    text,
)

# The API's numbers and the names webhook placeholders give.
STATUSES = {"2": "open", "open": "open", "3": "pending", "pending": "pending",
            "4": "solved", "resolved": "solved", "5": "closed", "closed": "closed"}
PRIORITIES = {"low": 1, "normal": 2, "high": 3, "urgent": 4}


def tag_list(raw: Any) -> list[Any] | None:
    """A ticket's tags as the ``{{ticket.tags}}`` placeholder gives them, one comma-separated
    string (a Freshdesk tag may hold spaces), or a list; None when the body has no tags."""
    if isinstance(raw, str):
        return [t for t in raw.split(",") if t.strip()]
    return list(raw) if isinstance(raw, list) else None


class FreshdeskConfig(SaasConfig):
    """Freshdesk settings (API key authentication)."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_FRESHDESK_", frozen=True,
                                      extra="ignore")

    domain: str = Field("", description="Your helpdesk: 'acme' for https://acme.freshdesk.com.")
    base_url: str = Field("", description="Full URL instead of the domain (custom domains).")
    api_key: SecretStr = Field(SecretStr(""), description="API key of the agent the router "
                               "acts as (Profile settings > API key).")
    external_id_field: str = Field("cf_external_id", description="Ticket custom field "
                                   "(single-line text) holding the router's case id.")
    group_id: int = Field(0, ge=0, description="Group new tickets go to (0: none).")
    source: int = Field(2, ge=1, description="Ticket source code (2: Portal, 7: Chat).")
    webhook_secret: SecretStr = Field(SecretStr(""), description="Token the automation "
                                      "rule's webhook sends in X-Router-Webhook-Token.")


class Freshdesk(SaasDesk):
    """Freshdesk tickets.

    Feedback: an agent adds the tag ``not-actionable`` (``feedback_tag``); the automation
    rule's webhook body sends ``"ticket_tags": "{{ticket.tags}}"``."""

    key: ClassVar[str] = "freshdesk"
    #: API v2: 200 calls a minute on the smallest paid plan (Growth)
    documented_rate: ClassVar[float | None] = 200.0
    title: ClassVar[str] = "Freshdesk"
    Config = FreshdeskConfig
    body_format: ClassVar[str] = "html"
    events: ClassVar[DeskEvents] = "webhook"
    search_lags: ClassVar[bool] = True
    statuses = STATUSES

    def root(self) -> str:
        if self.cfg.base_url:
            return str(self.cfg.base_url).rstrip("/")
        return f"https://{self.cfg.domain}.freshdesk.com"

    def check_config(self) -> None:
        if not self.cfg.domain and not self.cfg.base_url:
            raise ConfigError("freshdesk: set ROUTER_FRESHDESK_DOMAIN (or "
                              "ROUTER_FRESHDESK_BASE_URL)")
        self.require("api_key")
        if not self.cfg.external_id_field.startswith("cf_"):
            raise ConfigError("freshdesk: ROUTER_FRESHDESK_EXTERNAL_ID_FIELD must name a "
                              "custom field (cf_...)")

    def client_options(self) -> dict[str, Any]:
        return {"base_url": self.root(),
                "auth": httpx.BasicAuth(self.cfg.api_key.get_secret_value(), "X")}

    def ticket_url(self, ticket_id: str) -> str:
        return f"{self.root()}/a/tickets/{ticket_id}"

    # --- reading ------------------------------------------------------------------------

    def _ticket(self, raw: dict[str, Any]) -> Ticket:
        custom = raw.get("custom_fields") or {}
        return Ticket(id=str(raw["id"]), url=self.ticket_url(str(raw["id"])),
                      status=self.map_status(raw.get("status")),
                      external_id=custom.get(self.cfg.external_id_field),
                      subject=raw.get("subject") or "")

    async def get(self, ticket_id: str) -> Ticket:
        await self._ready()
        return self._ticket(await self.api.json("GET", f"/api/v2/tickets/{ticket_id}",
                                                what="freshdesk view ticket"))

    async def status(self, ticket_id: str) -> str:
        return (await self.get(ticket_id)).status

    async def _requester_tickets(self, who: str, order_by: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        url: str | None = "/api/v2/tickets"
        params: dict[str, Any] | None = {"unique_external_id": who, "order_by": order_by,
                                         "order_type": "desc", "per_page": 100}
        for _ in range(10):
            if url is None:
                break
            response = await self.api.request("GET", url, params=params,
                                              what="freshdesk list tickets")
            items.extend(response.json())
            url, params = response.links.get("next", {}).get("url"), None
        return items

    async def _lookup(self, external_id: str) -> Ticket | None:
        value = external_id.replace("\\", "\\\\").replace("'", "\\'")
        data = await self.api.json(
            "GET", "/api/v2/search/tickets",
            params={"query": f"\"{self.cfg.external_id_field[3:]}:'{value}'\""},
            what="freshdesk search tickets")
        for raw in data.get("results") or []:
            if (raw.get("custom_fields") or {}).get(self.cfg.external_id_field) == external_id:
                return self._ticket(raw)
        entry = self.ledger.get("ticket", external_id)
        if entry is not None and entry.state == "pending" and entry.value:
            for raw in await self._requester_tickets(entry.value, "created_at"):
                if (raw.get("custom_fields") or {}).get(
                        self.cfg.external_id_field) == external_id:
                    return self._ticket(raw)
        return None

    async def find_open_for_requester(self, handle: str, network: str) -> Ticket | None:
        await self._ready()
        for raw in await self._requester_tickets(requester_key(handle, network), "updated_at"):
            ticket = self._ticket(raw)
            if ticket.status in ("open", "pending"):
                return ticket
        return None

    # --- writing ------------------------------------------------------------------------

    async def _create(self, draft: TicketDraft) -> Ticket:
        author = draft.mention.author
        who = requester_key(author.handle, draft.mention.network)
        self.ledger.claim("ticket", draft.external_id, who)
        ticket: dict[str, Any] = {
            "subject": draft.subject,
            "description": self.ticket_body(draft),
            "unique_external_id": who,
            "name": author.name or f"@{author.handle}",
            "status": 2, "priority": PRIORITIES.get(draft.priority, 2),
            "source": self.cfg.source, "tags": list(draft.tags),
            "custom_fields": {self.cfg.external_id_field: draft.external_id},
        }
        if self.cfg.group_id:
            ticket["group_id"] = self.cfg.group_id
        response = await self.api.request("POST", "/api/v2/tickets", json=ticket,
                                          retry=False, what="freshdesk create ticket")
        return self._ticket(response.json())

    async def _comment_exists(self, ticket_id: str, body: CommentBody, *, public: bool,
                              key: str) -> bool:
        text = self.comment_body(body)
        url: str | None = f"/api/v2/tickets/{ticket_id}/conversations"
        params: dict[str, Any] | None = {"per_page": 100}
        for _ in range(20):
            if url is None:
                break
            response = await self.api.request("GET", url, params=params,
                                              what="freshdesk list conversations")
            if any(bool(c.get("private")) == (not public) and same_text(c.get("body") or "",
                                                                          text)
                   for c in response.json()):
                return True
            url, params = response.links.get("next", {}).get("url"), None
        return False

    async def _post_comment(self, ticket_id: str, body: CommentBody, *, public: bool,
                            key: str) -> None:
        await self.api.request("POST", f"/api/v2/tickets/{ticket_id}/notes",
                               json={"body": self.comment_body(body), "private": not public},
                               retry=False, what="freshdesk add note")

    # --- webhooks -----------------------------------------------------------------------

    @classmethod
    def verify_webhook(cls, headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                       now: float, replay_cache: ReplayCache | None = None,
                       max_age: float = MAX_AGE_SECONDS,
                       max_bytes: int = MAX_BODY_BYTES) -> Seen | None:
        """Freshdesk signs nothing: the automation rule sends X-Router-Webhook-Token: <secret>.

        No replay protection is possible beyond TLS (an identical body may be a second
        genuine change back to the same status); status events are idempotent downstream.
        """
        check_delivery(body, secret, max_bytes)
        check_signature(header(headers, "X-Router-Webhook-Token"), secret_bytes(secret).decode())
        return None

    @classmethod
    def parse_webhook(cls, payload: Mapping[str, Any], *,
                      feedback_tag: str = FEEDBACK_TAG) -> list[TicketChange]:
        """An automation webhook's ``freshdesk_webhook`` object (or those fields at the top).

        The body is what the rule's placeholders fill in, the ticket's status and tags as they
        are now, so whichever rule event sent it (a status change, a tag added) it is a change
        at the current status with the agent's mark."""
        data = payload.get("freshdesk_webhook", payload)
        if not isinstance(data, Mapping) or not data.get("ticket_id"):
            return []
        return [TicketChange(ticket_id=text(data["ticket_id"]),
                             status=status_in(cls.statuses, text(data.get("ticket_status"))),
                             url=text(data.get("ticket_url")),
                             external_id=text(data.get("ticket_cf_external_id")) or None,
                             not_actionable=marked(tag_list(data.get("ticket_tags")),
                                                   feedback_tag))]
