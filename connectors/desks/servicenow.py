"""ServiceNow incidents through the Table API (``/api/now/table/incident``).

- The case id is ``correlation_id`` (``correlation_display`` names the router), looked up
  with a ``sysparm_query`` (a consistent read): no duplicate after a lost create answer.
- The requester is a line in the description with a token (``er-req-<digest>``), or a
  custom field (``requester_field``, e.g. ``u_social_handle``) where the instance has one.
- ``comments`` are customer-visible, ``work_notes`` internal; journal entries
  (``sys_journal_field``) are read before posting so a retry does not add a second one
  (matched on the text: the journal has no room for a hidden key).
- Link: ``parent_incident``. States: 1 New, 2 In Progress, 3 On Hold, 6 Resolved,
  7 Closed, 8 Canceled.
- ServiceNow has no webhooks the router can verify, so ``events = "poll"``:
  ``changes_since(checkpoint)`` pages through incidents ordered by ``sys_updated_on`` then
  ``sys_id``; the checkpoint is ``"<sys_updated_on>|<sys_id>"`` of the last change
  returned, and the next page asks for records strictly after that pair, so there are no
  gaps and no repeats across restarts. Records updated within ``poll_lag_seconds`` are left
  for the next poll, so a transaction that commits late with an older timestamp is not
  skipped.
- An agent's judgement is the incident's Resolution code, ``close_code``
  (``feedback_field``), set to ``feedback_tag`` (``not-actionable`` by default: a choice an
  admin adds to incident.close_code, or ROUTER_SERVICENOW_FEEDBACK_TAG names one the
  instance has). The agent resolves a misrouted or not actionable social incident with that
  code; every polled change reads the field with the state, so ``not_actionable`` is True
  when it holds the value and False when it holds another (a later resolution with a real
  code takes the mark off). Why not tags (``sys_tags``): ServiceNow keeps tags in
  ``label_entry``, which the Table API does not return with the incident, and reading them
  needs rights an integration user rarely has; a resolution code is a plain incident field
  every agent must fill in when resolving anyway.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from ..errors import ConfigError
from .base import (
    FEEDBACK_TAG,
    ChangePage,
    CommentBody,
    DeskEvents,
    Ticket,
    TicketChange,
    TicketDraft,
    marked,
)
from .saas import SaasConfig, SaasDesk, requester_key, same_text

STATES = {"1": "new", "2": "open", "3": "pending", "6": "solved", "7": "closed", "8": "closed"}
URGENCY = {"urgent": ("1", "1"), "high": ("2", "1"), "normal": ("2", "2"), "low": ("3", "3")}
FIELDS = "sys_id,number,state,short_description,correlation_id,sys_updated_on"
FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,79}")  # a column name, as sysparm_fields takes it


def q(value: str) -> str:
    """A value safe inside an encoded query (``^`` is the separator, doubled to escape)."""
    return value.replace("^", "^^")


def requester_token(key: str) -> str:
    return "er-req-" + hashlib.sha256(key.encode()).hexdigest()[:20]


class ServiceNowConfig(SaasConfig):
    """ServiceNow settings (basic authentication of an integration user)."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_SERVICENOW_", frozen=True,
                                      extra="ignore")

    instance_url: str = Field("", description="Your instance, e.g. "
                              "https://acme.service-now.com.")
    username: str = Field("", description="Integration user (roles: itil, rest_service).")
    password: SecretStr = Field(SecretStr(""), description="Password of the integration user.")
    assignment_group: str = Field("", description="sys_id of the group new incidents go "
                                  "to (empty: the instance's assignment rules decide).")
    correlation_display: str = Field("escalation-router", description="Written to "
                                     "correlation_display; polling reads only these incidents.")
    requester_field: str = Field("", description="Custom incident field holding "
                                 "'network:handle' (empty: a line in the description).")
    page_size: int = Field(100, ge=1, le=10_000, description="Incidents per poll page.")
    poll_lag_seconds: float = Field(5.0, ge=0, description="Leave changes this recent for "
                                    "the next poll (covers late-committing transactions).")
    feedback_tag: str = Field(
        FEEDBACK_TAG, description="The value of feedback_field that marks a social incident "
        "not actionable or misrouted (a Resolution code choice the admin adds); the router "
        "takes it as 'support could not help' and sends no reply.")
    feedback_field: str = Field(
        "close_code", description="Incident field an agent sets to feedback_tag on a social "
        "incident that is not actionable or misrouted (default: the Resolution code).")


class ServiceNow(SaasDesk):
    """ServiceNow incidents."""

    key: ClassVar[str] = "servicenow"
    title: ClassVar[str] = "ServiceNow (incidents)"
    Config = ServiceNowConfig
    body_format: ClassVar[str] = "plain"
    events: ClassVar[DeskEvents] = "poll"
    statuses = STATES

    def check_config(self) -> None:
        self.require("instance_url", "username", "password")
        if not FIELD_NAME.fullmatch(self.cfg.feedback_field):
            raise ConfigError(f"servicenow: feedback_field {self.cfg.feedback_field[:40]!r} is "
                              "not an incident column name (e.g. close_code, u_feedback); "
                              f"set {self.env_name('feedback_field')}")

    def client_options(self) -> dict[str, Any]:
        return {"base_url": str(self.cfg.instance_url).rstrip("/"),
                "auth": httpx.BasicAuth(self.cfg.username, self.cfg.password.get_secret_value())}

    def ticket_url(self, ticket_id: str) -> str:
        return (f"{str(self.cfg.instance_url).rstrip('/')}/nav_to.do?uri=incident.do"
                f"%3Fsys_id%3D{ticket_id}")

    # --- reading ------------------------------------------------------------------------

    def _ticket(self, row: dict[str, Any]) -> Ticket:
        return Ticket(id=row["sys_id"], url=self.ticket_url(row["sys_id"]),
                      status=self.map_status(row.get("state")),
                      external_id=row.get("correlation_id") or None,
                      subject=row.get("short_description") or "")

    async def _query(self, query: str, limit: int, fields: str = FIELDS,
                     table: str = "incident") -> list[dict[str, Any]]:
        data = await self.api.json(
            "GET", f"/api/now/table/{table}",
            params={"sysparm_query": query, "sysparm_limit": limit, "sysparm_fields": fields,
                    "sysparm_display_value": "false",
                    "sysparm_exclude_reference_link": "true"},
            what=f"servicenow query {table}")
        return list(data.get("result") or [])

    async def get(self, ticket_id: str) -> Ticket:
        await self._ready()
        data = await self.api.json(
            "GET", f"/api/now/table/incident/{ticket_id}",
            params={"sysparm_fields": FIELDS, "sysparm_display_value": "false"},
            what="servicenow get incident")
        return self._ticket(data["result"])

    async def status(self, ticket_id: str) -> str:
        return (await self.get(ticket_id)).status

    async def _lookup(self, external_id: str) -> Ticket | None:
        rows = await self._query(f"correlation_id={q(external_id)}^ORDERBYsys_created_on", 1)
        return self._ticket(rows[0]) if rows else None

    async def find_open_for_requester(self, handle: str, network: str) -> Ticket | None:
        await self._ready()
        who = requester_key(handle, network)
        match = (f"{self.cfg.requester_field}={q(who)}" if self.cfg.requester_field
                 else f"descriptionLIKE{requester_token(who)}")
        rows = await self._query(f"{match}^stateIN1,2,3^ORDERBYDESCsys_updated_on", 1)
        return self._ticket(rows[0]) if rows else None

    # --- writing ------------------------------------------------------------------------

    async def _create(self, draft: TicketDraft) -> Ticket:
        who = requester_key(draft.mention.author.handle, draft.mention.network)
        impact, urgency = URGENCY.get(draft.priority, URGENCY["normal"])
        record: dict[str, Any] = {
            "short_description": draft.subject,
            "description": f"{self.ticket_body(draft)}\nRequester: {who} "
                           f"[{requester_token(who)}]\n",
            "correlation_id": draft.external_id,
            "correlation_display": self.cfg.correlation_display,
            "contact_type": "social",
            "impact": impact, "urgency": urgency,
        }
        if self.cfg.assignment_group:
            record["assignment_group"] = self.cfg.assignment_group
        if self.cfg.requester_field:
            record[self.cfg.requester_field] = who
        response = await self.api.request(
            "POST", "/api/now/table/incident", json=record, retry=False,
            params={"sysparm_fields": FIELDS, "sysparm_display_value": "false"},
            what="servicenow create incident")
        return self._ticket(response.json()["result"])

    async def _comment_exists(self, ticket_id: str, body: CommentBody, *, public: bool,
                              key: str) -> bool:
        element = "comments" if public else "work_notes"
        rows = await self._query(
            f"element_id={q(ticket_id)}^element={element}^ORDERBYDESCsys_created_on", 100,
            fields="sys_id,element,value", table="sys_journal_field")
        text = self.comment_body(body)
        return any(same_text(r.get("value") or "", text) for r in rows)

    async def _post_comment(self, ticket_id: str, body: CommentBody, *, public: bool,
                            key: str) -> None:
        element = "comments" if public else "work_notes"
        await self.api.request("PATCH", f"/api/now/table/incident/{ticket_id}",
                               json={element: self.comment_body(body)}, retry=False,
                               params={"sysparm_fields": "sys_id"},
                               what="servicenow add journal entry")

    async def link(self, child_id: str, parent_id: str) -> None:
        await self._ready()
        await self.api.request("PATCH", f"/api/now/table/incident/{child_id}",
                               json={"parent_incident": parent_id},
                               params={"sysparm_fields": "sys_id"},
                               what="servicenow link incident")

    # --- polling ------------------------------------------------------------------------

    def marked(self, value: object) -> bool | None:
        """Whether the feedback field's value is the mark; None when the instance did not
        send the field (no such column, or one the user may not read)."""
        return None if value is None else marked([value], self.feedback_tag)

    def utcnow(self) -> datetime:
        """The poller's clock (tests replace it with the fake instance's clock)."""
        return datetime.now(UTC)

    async def changes_since(self, checkpoint: str | None) -> ChangePage:
        await self._ready()
        mine = f"correlation_display={q(self.cfg.correlation_display)}"
        cutoff = (self.utcnow() - timedelta(seconds=self.cfg.poll_lag_seconds)
                  ).strftime("%Y-%m-%d %H:%M:%S")
        until = f"^sys_updated_on<{cutoff}" if self.cfg.poll_lag_seconds else ""
        if checkpoint:
            at, _, after_id = checkpoint.partition("|")
            query = (f"{mine}^sys_updated_on>{at}{until}"
                     f"^NQ{mine}^sys_updated_on={at}^sys_id>{q(after_id)}{until}")
        else:
            query = f"{mine}{until}"
        field = self.cfg.feedback_field
        rows = await self._query(f"{query}^ORDERBYsys_updated_on^ORDERBYsys_id",
                                 self.cfg.page_size, fields=f"{FIELDS},{field}")
        rows.sort(key=lambda r: (r["sys_updated_on"], r["sys_id"]))
        if checkpoint:  # belt and braces: never hand back what the checkpoint covers
            at, _, after_id = checkpoint.partition("|")
            rows = [r for r in rows if (r["sys_updated_on"], r["sys_id"]) > (at, after_id)]
        changes = [TicketChange(ticket_id=r["sys_id"], status=self.map_status(r.get("state")),
                                url=self.ticket_url(r["sys_id"]),
                                external_id=r.get("correlation_id") or None,
                                changed_at=r["sys_updated_on"],
                                not_actionable=self.marked(r.get(field)))
                   for r in rows]
        last = f"{rows[-1]['sys_updated_on']}|{rows[-1]['sys_id']}" if rows else checkpoint
        return ChangePage(changes=changes, checkpoint=last)
