"""Zendesk Support (Tickets API v2).

- The router's case id is the ticket's ``external_id``; ``GET /api/v2/tickets?external_id=``
  finds it (a consistent list, not the search index). Creates carry an ``Idempotency-Key``
  derived from the external id, so a create whose answer was lost is replayed, not doubled.
- The requester is an end user whose ``external_id`` is ``network:handle``
  (``POST /api/v2/users/create_or_update``); their open tickets come from
  ``/users/{id}/tickets/requested``.
- Comments go through ``PUT /api/v2/tickets/{id}`` with ``comment.public`` and an HTML body;
  each carries the idempotency key in the audit's custom metadata, read back from
  ``/tickets/{id}/audits`` before posting again.
- Problem/incident: ``type: problem`` for an incident's ticket, ``type: incident`` +
  ``problem_id`` to link a report.
- Statuses: new, open, pending, hold / on-hold (pending), solved, closed: one map
  (``STATUSES``) for the REST API and the webhooks.
- Ticket changes come back by webhook (``Zendesk.verify_webhook``):
  ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(secret, timestamp + body)), with
  ``X-Zendesk-Webhook-Signature-Timestamp`` (ISO 8601) within ``max_age`` (5 minutes). The
  invocation id is not signed, so the replay key is timestamp + body. Payloads: event
  subscriptions (``zen:event-type:ticket.*``) and trigger webhooks with the JSON body
  ``docs/desks.md`` recommends.
- An agent's feedback is the ticket tag ``feedback_tag`` (``not-actionable``): read from
  ``detail.tags`` of every ticket event (``ticket.tags_changed`` also names
  ``event.tags_added`` / ``tags_removed``), or ``ticket.tags`` (``{{ticket.tags}}``, space
  separated) in the trigger body.
"""

from __future__ import annotations

import base64
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
from .saas import SaasConfig, SaasDesk, requester_key
from .webhooks import (
    MAX_AGE_SECONDS,
    MAX_BODY_BYTES,
    ReplayCache,
    Seen,
    WebhookRejected,
    check_delivery,
    check_fresh,
    check_replay,
    check_signature,
    digest,
    header,
    hmac_digest,
    parse_time,
    status_in,
    text,
)

# The API's values, and "on-hold" (the agent UI's name for hold) as the webhooks read it.
STATUSES = {"new": "new", "open": "open", "pending": "pending", "hold": "pending",
            "on-hold": "pending", "solved": "solved", "closed": "closed"}
PRIORITIES = {"low": "low", "normal": "normal", "high": "high", "urgent": "urgent"}
META_KEY = "escalation_router_key"
TAGS_CHANGED = "zen:event-type:ticket.tags_changed"


def tag_list(raw: Any) -> list[Any] | None:
    """A ticket's tags: a list (event subscriptions) or the ``{{ticket.tags}}`` placeholder,
    one space-separated string (a Zendesk tag has no spaces); None when not sent."""
    if isinstance(raw, str):
        return raw.split()
    return list(raw) if isinstance(raw, list) else None


def event_mark(detail: Mapping[str, Any], event: Any, kind: str,
               feedback_tag: str) -> bool | None:
    """The mark a ticket event carries: ``detail.tags``, and for ``ticket.tags_changed`` the
    tag added or removed (which says it even where ``detail`` left the tags out)."""
    mark = marked(tag_list(detail.get("tags")), feedback_tag)
    if kind == TAGS_CHANGED and isinstance(event, Mapping):
        if marked(tag_list(event.get("tags_added")) or [], feedback_tag):
            return True
        if marked(tag_list(event.get("tags_removed")) or [], feedback_tag):
            return False
    return mark


class ZendeskConfig(SaasConfig):
    """Zendesk settings (API token authentication)."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_ZENDESK_", frozen=True,
                                      extra="ignore")

    subdomain: str = Field("", description="Your Zendesk subdomain: 'acme' for "
                           "https://acme.zendesk.com.")
    base_url: str = Field("", description="Full API root instead of the subdomain, e.g. a "
                          "host-mapped domain (https://support.acme.com).")
    email: str = Field("", description="Email of the agent the API token belongs to.")
    api_token: SecretStr = Field(SecretStr(""), description="Zendesk API token (Admin "
                                 "Center > Apps and integrations > Zendesk API).")
    group_id: int = Field(0, ge=0, description="Group that gets new tickets (0: default).")
    webhook_secret: SecretStr = Field(SecretStr(""), description="Signing secret of the "
                                      "Zendesk webhook that reports ticket changes.")


class Zendesk(SaasDesk):
    """Zendesk Support tickets.

    Feedback: an agent adds the tag ``not-actionable`` (``feedback_tag``); it is read from
    ``detail.tags`` of the ticket events (subscribe to ``ticket.tags_changed`` too) or from
    ``"tags": "{{ticket.tags}}"`` in the trigger body."""

    key: ClassVar[str] = "zendesk"
    #: Support API: 200 requests a minute on the smallest plan (Team)
    documented_rate: ClassVar[float | None] = 200.0
    title: ClassVar[str] = "Zendesk Support"
    Config = ZendeskConfig
    body_format: ClassVar[str] = "html"
    events: ClassVar[DeskEvents] = "webhook"
    statuses = STATUSES

    # --- setup ------------------------------------------------------------------------

    def root(self) -> str:
        if self.cfg.base_url:
            return str(self.cfg.base_url).rstrip("/")
        return f"https://{self.cfg.subdomain}.zendesk.com"

    def check_config(self) -> None:
        if not self.cfg.subdomain and not self.cfg.base_url:
            raise ConfigError("zendesk: set ROUTER_ZENDESK_SUBDOMAIN (or ROUTER_ZENDESK_BASE_URL)")
        self.require("email", "api_token")

    def client_options(self) -> dict[str, Any]:
        return {"base_url": self.root(),
                "auth": httpx.BasicAuth(f"{self.cfg.email}/token",
                                        self.cfg.api_token.get_secret_value())}

    def ticket_url(self, ticket_id: str) -> str:
        return f"{self.root()}/agent/tickets/{ticket_id}"

    # --- reading ------------------------------------------------------------------------

    def _ticket(self, raw: dict[str, Any]) -> Ticket:
        return Ticket(id=str(raw["id"]), url=self.ticket_url(str(raw["id"])),
                      status=self.map_status(raw.get("status")),
                      external_id=raw.get("external_id"),
                      requester=str(raw.get("requester_id") or "") or None,
                      subject=raw.get("subject") or "")

    async def get(self, ticket_id: str) -> Ticket:
        await self._ready()
        data = await self.api.json("GET", f"/api/v2/tickets/{ticket_id}.json",
                                   what="zendesk show ticket")
        return self._ticket(data["ticket"])

    async def status(self, ticket_id: str) -> str:
        return (await self.get(ticket_id)).status

    async def _pages(self, url: str, key: str, params: dict[str, Any] | None = None,
                     what: str = "zendesk list") -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        next_url: str | None = url
        for _ in range(20):  # bounded: 20 pages of 100
            if next_url is None:
                break
            data = await self.api.json("GET", next_url, params=params, what=what)
            items.extend(data.get(key) or [])
            next_url, params = data.get("next_page"), None
        return items

    async def _lookup(self, external_id: str) -> Ticket | None:
        tickets = await self._pages("/api/v2/tickets.json", "tickets",
                                    {"external_id": external_id},
                                    what="zendesk tickets by external id")
        tickets.sort(key=lambda t: t.get("id", 0))
        return self._ticket(tickets[0]) if tickets else None

    async def _user_id(self, handle: str, network: str) -> int | None:
        data = await self.api.json("GET", "/api/v2/users/search.json",
                                   params={"external_id": requester_key(handle, network)},
                                   what="zendesk search users")
        users = data.get("users") or []
        return int(users[0]["id"]) if users else None

    async def find_open_for_requester(self, handle: str, network: str) -> Ticket | None:
        await self._ready()
        user_id = await self._user_id(handle, network)
        if user_id is None:
            return None
        tickets = await self._pages(f"/api/v2/users/{user_id}/tickets/requested.json",
                                    "tickets", {"sort_by": "updated_at", "sort_order": "desc"},
                                    what="zendesk requested tickets")
        for raw in tickets:
            ticket = self._ticket(raw)
            if ticket.status not in ("solved", "closed"):
                return ticket
        return None

    # --- writing ------------------------------------------------------------------------

    async def _requester(self, draft: TicketDraft) -> int:
        author = draft.mention.author
        user = {"name": author.name or f"@{author.handle}", "role": "end-user",
                "external_id": requester_key(author.handle, draft.mention.network),
                "details": author.profile_url}
        data = await self.api.json("POST", "/api/v2/users/create_or_update.json",
                                   json={"user": user}, what="zendesk create requester")
        return int(data["user"]["id"])

    async def _create(self, draft: TicketDraft) -> Ticket:
        ticket: dict[str, Any] = {
            "subject": draft.subject,
            "comment": {"html_body": self.ticket_body(draft), "public": False},
            "requester_id": await self._requester(draft),
            "external_id": draft.external_id,
            "priority": PRIORITIES.get(draft.priority, "normal"),
            "type": "problem" if draft.problem else "question",
            "tags": list(draft.tags),
        }
        if self.cfg.group_id:
            ticket["group_id"] = self.cfg.group_id
        response = await self.api.request(
            "POST", "/api/v2/tickets.json", json={"ticket": ticket}, retry=False,
            headers={"Idempotency-Key": f"escalation-router-{draft.external_id}"},
            what="zendesk create ticket")
        return self._ticket(response.json()["ticket"])

    async def _comment_exists(self, ticket_id: str, body: CommentBody, *, public: bool,
                              key: str) -> bool:
        audits = await self._pages(f"/api/v2/tickets/{ticket_id}/audits.json", "audits",
                                   what="zendesk ticket audits")
        return any(((a.get("metadata") or {}).get("custom") or {}).get(META_KEY) == key
                   for a in audits)

    async def _post_comment(self, ticket_id: str, body: CommentBody, *, public: bool,
                            key: str) -> None:
        payload = {"ticket": {"comment": {"html_body": self.comment_body(body),
                                          "public": public},
                              "metadata": {"custom": {META_KEY: key}}}}
        await self.api.request("PUT", f"/api/v2/tickets/{ticket_id}.json", json=payload,
                               retry=False, what="zendesk add comment")

    async def link(self, child_id: str, parent_id: str) -> None:
        await self._ready()
        await self.api.request("PUT", f"/api/v2/tickets/{parent_id}.json",
                               json={"ticket": {"type": "problem"}}, what="zendesk mark problem")
        await self.api.request(
            "PUT", f"/api/v2/tickets/{child_id}.json",
            json={"ticket": {"type": "incident", "problem_id": int(parent_id)}},
            what="zendesk link incident")

    # --- webhooks -----------------------------------------------------------------------

    @classmethod
    def verify_webhook(cls, headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                       now: float, replay_cache: ReplayCache | None = None,
                       max_age: float = MAX_AGE_SECONDS,
                       max_bytes: int = MAX_BODY_BYTES) -> Seen | None:
        """base64(HMAC-SHA256(secret, timestamp + body)) with a fresh timestamp.

        The invocation id is not signed: the delivery is what the signature covers.
        """
        check_delivery(body, secret, max_bytes)
        signature = header(headers, "X-Zendesk-Webhook-Signature")
        timestamp = header(headers, "X-Zendesk-Webhook-Signature-Timestamp")
        if not timestamp:
            raise WebhookRejected("no timestamp")
        stamp = timestamp.encode("utf-8", "surrogateescape")  # the bytes the desk signed
        expected = base64.b64encode(hmac_digest(secret, stamp + body, "sha256")).decode()
        check_signature(signature, expected)
        at = parse_time(timestamp)
        check_fresh(at, now, max_age)
        return check_replay(replay_cache, cls.key, digest(stamp, body), at + max_age)

    @classmethod
    def parse_webhook(cls, payload: Mapping[str, Any], *,
                      feedback_tag: str = FEEDBACK_TAG) -> list[TicketChange]:
        """Event subscriptions (``zen:event-type:ticket.*``) and trigger webhooks.

        Every ticket event carries the whole ticket (``detail``: its status and tags), so each
        one, a comment or a tag change too, is a change at the ticket's current status with
        the agent's mark; the router's status events are idempotent."""
        kind = text(payload.get("type"))
        if kind.startswith("zen:event-type:ticket."):
            detail = payload.get("detail") or {}
            event = payload.get("event") or {}
            status = detail.get("status")
            if kind == "zen:event-type:ticket.status_changed" and isinstance(event, Mapping):
                status = event.get("current", status)
            elif isinstance(event.get("current"), Mapping):
                status = event["current"].get("status", status)
            if status is None or not detail.get("id"):
                return []
            return [TicketChange(
                ticket_id=text(detail["id"]), status=status_in(cls.statuses, status),
                external_id=text(detail.get("external_id")) or None,
                changed_at=text(payload.get("time") or detail.get("updated_at")),
                not_actionable=event_mark(detail, event, kind, feedback_tag))]
        # A trigger webhook with the JSON body docs/desks.md recommends.
        inner = payload.get("ticket")
        ticket: Mapping[str, Any] = inner if isinstance(inner, Mapping) else payload
        if not ticket.get("id") or not ticket.get("status"):
            return []
        return [TicketChange(ticket_id=text(ticket["id"]),
                             status=status_in(cls.statuses, ticket["status"]),
                             url=text(ticket.get("url")),
                             external_id=text(ticket.get("external_id")) or None,
                             changed_at=text(ticket.get("updated_at")),
                             not_actionable=marked(tag_list(ticket.get("tags")), feedback_tag))]
