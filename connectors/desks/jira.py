"""Jira Cloud: plain Jira issues (REST v3) or Jira Service Management requests.

``ROUTER_JIRA_MODE`` picks how tickets are created:

- ``jira``: ``POST /rest/api/3/issue`` in ``project_key`` with ``issue_type``;
- ``jsm``: ``POST /rest/servicedeskapi/request`` in ``service_desk_id`` /
  ``request_type_id`` (ADF description via ``isAdfRequest``), then the label below.

Either way the case id is kept twice: an issue property (``property_key``, for apps and
humans) and a label ``er-<digest>`` (JQL can search labels without an indexing app). JQL
search is eventually consistent, so the local record (``state_path``) remembers every
issue made and a create whose answer was lost is given ``settle_seconds`` to show up in
search before another is tried. Comments use the platform API with an ADF body and the
``sd.public.comment`` property (``internal: true`` for notes, which JSM hides from
customers), plus our own property carrying the idempotency key. Links use issue link types
(``Problem/Incident`` in JSM, ``Relates`` in plain Jira, or ``link_type``).

Statuses: the status name where it says what it means (Done, Resolved, Closed, Waiting for
customer, ...), else its category (new, indeterminate, done): ``jira_status``, for the REST
API and the webhooks. Ticket changes come back by admin webhook with a secret
(``Jira.verify_webhook``, ``jira:issue_*`` events): ``X-Hub-Signature`` = ``sha256=`` + hex
HMAC-SHA256(secret, body) (WebSub style); the signed body's ``timestamp`` (epoch ms) must
be within ``max_age`` (5 minutes); the replay key is the body
(X-Atlassian-Webhook-Identifier is not signed). An agent's feedback is the issue label
``feedback_tag`` (``not-actionable``), read from ``issue.fields.labels`` of every
``jira:issue_*`` event (a label change alone is a ``jira:issue_updated``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

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
    DEDUP_WINDOW,
    MAX_AGE_SECONDS,
    MAX_BODY_BYTES,
    ReplayCache,
    Seen,
    check_delivery,
    check_fresh,
    check_replay,
    check_signature,
    digest,
    header,
    hmac_hex,
    json_object,
    parse_time,
    text,
)

PRIORITIES = {"urgent": "Highest", "high": "High", "normal": "Medium", "low": "Low"}
CATEGORIES = {"new": "new", "indeterminate": "open", "done": "solved"}
NAMES = {"closed": "closed", "resolved": "solved", "done": "solved",
         "canceled": "closed", "cancelled": "closed", "declined": "closed",
         "waiting for customer": "pending", "pending": "pending"}


def jira_status(status: Mapping[str, Any] | None) -> str:
    """An issue's ``fields.status`` in the router's terms: its name, else its category."""
    status = status or {}
    name = str(status.get("name", "")).strip().lower()
    if name in NAMES:
        return NAMES[name]
    category = (status.get("statusCategory") or {}).get("key", "")
    return CATEGORIES.get(str(category), "open")


class JiraConfig(SaasConfig):
    """Jira Cloud settings (API token authentication)."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_JIRA_", frozen=True, extra="ignore")

    base_url: str = Field("", description="Your site, e.g. https://acme.atlassian.net.")
    email: str = Field("", description="Email of the Atlassian account the token belongs to.")
    api_token: SecretStr = Field(SecretStr(""), description="Atlassian API token "
                                 "(id.atlassian.com > Security > API tokens).")
    mode: Literal["jira", "jsm"] = Field(
        "jira", description="'jira': plain issues; 'jsm': Service Management requests.")
    project_key: str = Field("", description="Project of new issues (mode 'jira').")
    issue_type: str = Field("Task", description="Issue type of new issues (mode 'jira').")
    service_desk_id: str = Field("", description="Service desk id (mode 'jsm').")
    request_type_id: str = Field("", description="Request type id (mode 'jsm').")
    set_priority: bool = Field(True, description="Send the suggested priority (turn off "
                               "if the create screen has no Priority field).")
    property_key: str = Field("escalation-router", description="Issue property that "
                              "holds the router's case id.")
    link_type: str = Field("", description="Issue link type for incident -> problem "
                           "(empty: 'Problem/Incident' in jsm mode, 'Relates' in jira mode).")
    webhook_secret: SecretStr = Field(SecretStr(""), description="Secret of the Jira admin "
                                      "webhook that reports issue changes.")


def label_for(kind: str, value: str) -> str:
    """A JQL-searchable label: readable when ``value`` allows, else a digest."""
    digest = hashlib.sha256(value.encode()).hexdigest()[:20]
    if kind == "requester":
        clean = re.sub(r"[^a-z0-9._-]", "-", value.lower())
        return f"social-requester-{clean}"[:200]
    return f"er-{digest}"


def jql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Jira(SaasDesk):
    """Jira issues or Jira Service Management customer requests.

    Feedback: an agent adds the label ``not-actionable`` (``feedback_tag``); it is read from
    ``issue.fields.labels`` of the ``jira:issue_updated`` event."""

    key: ClassVar[str] = "jira"
    title: ClassVar[str] = "Jira / Jira Service Management"
    Config = JiraConfig
    body_format: ClassVar[str] = "adf"
    events: ClassVar[DeskEvents] = "webhook"
    search_lags: ClassVar[bool] = True

    def check_config(self) -> None:
        self.require("base_url", "email", "api_token")
        if self.cfg.mode == "jira":
            self.require("project_key")
        elif not self.cfg.service_desk_id or not self.cfg.request_type_id:
            raise ConfigError("jira: mode 'jsm' needs ROUTER_JIRA_SERVICE_DESK_ID and "
                              "ROUTER_JIRA_REQUEST_TYPE_ID")

    def client_options(self) -> dict[str, Any]:
        return {"base_url": str(self.cfg.base_url).rstrip("/"),
                "auth": httpx.BasicAuth(self.cfg.email, self.cfg.api_token.get_secret_value())}

    def ticket_url(self, ticket_id: str) -> str:
        return f"{str(self.cfg.base_url).rstrip('/')}/browse/{ticket_id}"

    # --- reading ------------------------------------------------------------------------

    def _ticket(self, issue: dict[str, Any], external_id: str | None = None) -> Ticket:
        fields = issue.get("fields") or {}
        return Ticket(id=issue["key"], url=self.ticket_url(issue["key"]),
                      status=jira_status(fields.get("status")), external_id=external_id,
                      subject=fields.get("summary") or "")

    async def get(self, ticket_id: str) -> Ticket:
        await self._ready()
        issue = await self.api.json("GET", f"/rest/api/3/issue/{ticket_id}",
                                    params={"fields": "status,summary,labels"},
                                    what="jira get issue")
        return self._ticket(issue)

    async def status(self, ticket_id: str) -> str:
        return (await self.get(ticket_id)).status

    async def _search(self, jql: str, limit: int = 5) -> list[dict[str, Any]]:
        data = await self.api.json(
            "POST", "/rest/api/3/search/jql",
            json={"jql": jql, "fields": ["status", "summary", "labels"], "maxResults": limit},
            what="jira search")
        return list(data.get("issues") or [])

    async def _lookup(self, external_id: str) -> Ticket | None:
        label = label_for("case", external_id)
        issues = await self._search(f"labels = {jql_string(label)} ORDER BY created ASC")
        if issues:
            return self._ticket(issues[0], external_id)
        entry = self.ledger.get("ticket", external_id)
        if self.cfg.mode == "jsm" and entry is not None and entry.state == "pending":
            return await self._recover_request(external_id, json.loads(entry.value or "[]"))
        return None

    async def _recover_request(self, external_id: str, labels: list[str]) -> Ticket | None:
        """A request whose create answer was lost has no label yet: find it in our own
        recent requests (a consistent list) by the reference in its description."""
        data = await self.api.json(
            "GET", "/rest/servicedeskapi/request",
            params={"serviceDeskId": self.cfg.service_desk_id,
                    "requestOwnership": "OWNED_REQUESTS", "requestStatus": "ALL_REQUESTS",
                    "limit": 50},
            what="jira list own requests")
        needle = f"Reference: {external_id}"
        for request in data.get("values") or []:
            values = {f.get("fieldId"): f.get("value")
                      for f in request.get("requestFieldValues") or []}
            if needle in json.dumps(values.get("description"), ensure_ascii=False):
                key = str(request["issueKey"])
                self.ledger.done("ticket", external_id, key)
                await self._finish_request(key, external_id, labels)
                return Ticket(id=key, url=self.ticket_url(key), external_id=external_id,
                              subject=str(values.get("summary") or ""))
        return None

    async def _finish_request(self, key: str, external_id: str, labels: list[str]) -> None:
        await self.api.request(
            "PUT", f"/rest/api/3/issue/{key}",
            json={"update": {"labels": [{"add": label} for label in labels]}},
            what="jira label request")
        await self.api.request(
            "PUT", f"/rest/api/3/issue/{key}/properties/{self.cfg.property_key}",
            json={"external_id": external_id}, what="jira set property")

    async def find_open_for_requester(self, handle: str, network: str) -> Ticket | None:
        await self._ready()
        label = label_for("requester", requester_key(handle, network))
        issues = await self._search(f"labels = {jql_string(label)} AND statusCategory != Done "
                                    "ORDER BY updated DESC", limit=1)
        return self._ticket(issues[0]) if issues else None

    # --- writing ------------------------------------------------------------------------

    def _labels(self, draft: TicketDraft) -> list[str]:
        tags = [re.sub(r"\s+", "-", t) for t in draft.tags if t]
        author = draft.mention.author
        return [*tags, label_for("case", draft.external_id),
                label_for("requester", requester_key(author.handle, draft.mention.network))]

    async def _create(self, draft: TicketDraft) -> Ticket:
        prop = {"key": self.cfg.property_key, "value": {"external_id": draft.external_id}}
        if self.cfg.mode == "jira":
            fields: dict[str, Any] = {
                "project": {"key": self.cfg.project_key},
                "issuetype": {"name": self.cfg.issue_type},
                "summary": draft.subject,
                "description": self.ticket_body(draft),
                "labels": self._labels(draft),
            }
            if self.cfg.set_priority:
                fields["priority"] = {"name": PRIORITIES.get(draft.priority, "Medium")}
            response = await self.api.request(
                "POST", "/rest/api/3/issue", json={"fields": fields, "properties": [prop]},
                retry=False, what="jira create issue")
            key = response.json()["key"]
            self.ledger.done("ticket", draft.external_id, key)
        else:
            labels = self._labels(draft)
            self.ledger.claim("ticket", draft.external_id, json.dumps(labels))
            response = await self.api.request(
                "POST", "/rest/servicedeskapi/request", retry=False,
                json={"serviceDeskId": self.cfg.service_desk_id,
                      "requestTypeId": self.cfg.request_type_id, "isAdfRequest": True,
                      "requestFieldValues": {"summary": draft.subject,
                                             "description": self.ticket_body(draft)}},
                what="jira create request")
            key = response.json()["issueKey"]
            # Recorded before the follow-up calls: if they fail, a retry finds this one.
            self.ledger.done("ticket", draft.external_id, key)
            await self._finish_request(key, draft.external_id, labels)
        return Ticket(id=key, url=self.ticket_url(key), status="new",
                      external_id=draft.external_id, subject=draft.subject)

    async def _comment_exists(self, ticket_id: str, body: CommentBody, *, public: bool,
                              key: str) -> bool:
        start = 0
        for _ in range(50):
            data = await self.api.json(
                "GET", f"/rest/api/3/issue/{ticket_id}/comment",
                params={"startAt": start, "maxResults": 100, "expand": "properties"},
                what="jira list comments")
            comments = data.get("comments") or []
            for c in comments:
                for p in c.get("properties") or []:
                    if p.get("key") == self.cfg.property_key and (
                            (p.get("value") or {}).get("idempotency_key") == key):
                        return True
            start += len(comments)
            if not comments or start >= int(data.get("total", 0)):
                return False
        return False

    async def _post_comment(self, ticket_id: str, body: CommentBody, *, public: bool,
                            key: str) -> None:
        await self.api.request(
            "POST", f"/rest/api/3/issue/{ticket_id}/comment", retry=False,
            json={"body": self.comment_body(body),
                  "properties": [
                      {"key": "sd.public.comment", "value": {"internal": not public}},
                      {"key": self.cfg.property_key, "value": {"idempotency_key": key}}]},
            what="jira add comment")

    async def link(self, child_id: str, parent_id: str) -> None:
        await self._ready()
        kind = self.cfg.link_type or ("Problem/Incident" if self.cfg.mode == "jsm"
                                      else "Relates")
        # Problem/Incident reads "<outward> causes <inward>": the problem causes the report.
        await self.api.request(
            "POST", "/rest/api/3/issueLink",
            json={"type": {"name": kind}, "outwardIssue": {"key": parent_id},
                  "inwardIssue": {"key": child_id}}, what="jira link issues")

    # --- webhooks -----------------------------------------------------------------------

    @classmethod
    def verify_webhook(cls, headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                       now: float, replay_cache: ReplayCache | None = None,
                       max_age: float = MAX_AGE_SECONDS,
                       max_bytes: int = MAX_BODY_BYTES) -> Seen | None:
        """Admin webhooks: X-Hub-Signature "sha256=<hex>" of the body (WebSub style).

        The signed body carries ``timestamp`` (epoch ms): deliveries older than ``max_age``
        are refused. The body (not X-Atlassian-Webhook-Identifier, unsigned) is the replay
        key.
        """
        check_delivery(body, secret, max_bytes)
        expected = "sha256=" + hmac_hex(secret, body, "sha256")
        check_signature(header(headers, "X-Hub-Signature"), expected)
        stamp = json_object(body).get("timestamp")
        expires_at = now + DEDUP_WINDOW
        if stamp is not None:
            at = parse_time(str(stamp))
            check_fresh(at, now, max_age)
            expires_at = at + max_age
        return check_replay(replay_cache, cls.key, digest(body), expires_at)

    @classmethod
    def parse_webhook(cls, payload: Mapping[str, Any], *,
                      feedback_tag: str = FEEDBACK_TAG) -> list[TicketChange]:
        """``jira:issue_*`` events; the issue's browse link from its ``self`` URL.

        Each carries the whole issue, its status and labels as they are now, so each one (a
        label added, a field edited) is a change at the current status with the agent's mark;
        the router's status events are idempotent (``comment_*`` events are not read)."""
        if not text(payload.get("webhookEvent")).startswith("jira:issue_"):
            return []
        issue = payload.get("issue") or {}
        fields = issue.get("fields") or {}
        if not issue.get("key"):
            return []
        url = text(issue.get("self"))
        if "/rest/api/" in url:
            url = url.split("/rest/api/")[0] + f"/browse/{issue['key']}"
        labels = fields.get("labels")
        return [TicketChange(ticket_id=text(issue["key"]),
                             status=jira_status(fields.get("status")), url=url,
                             changed_at=text(payload.get("timestamp")),
                             not_actionable=marked(labels if isinstance(labels, list) else None,
                                                   feedback_tag))]
