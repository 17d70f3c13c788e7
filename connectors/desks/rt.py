"""Request Tracker 5 through its built-in REST2 API (``/REST/2.0/``).

How the router's verbs map onto RT::

    open(draft)                  POST /ticket in the queue; the case id goes in a ticket
                                 custom field (``external_id_field``), looked up first with
                                 TicketSQL ``'CF.{field}' = 'id'``
    find_open_for_requester      TicketSQL ``Requestor.EmailAddress = '...' AND
                                 Status = '__Active__'`` (newest first)
    comment(public=True)         POST /ticket/:id/correspond (Type "Correspond" in history)
    comment(public=False)        POST /ticket/:id/comment    (Type "Comment")
    status                       GET /ticket/:id; new/open/stalled/resolved/rejected/deleted
                                 -> new/open/pending/solved/closed/closed
    link(child, parent)          PUT /ticket/:child {"AddParent": parent} (RT's MemberOf)
    changes_since(checkpoint)    TransactionSQL ``Type = 'Status' AND id > checkpoint``,
                                 oldest first; the checkpoint is the last transaction id
    agent's feedback             the status ``rejected`` (``feedback_tag``): not actionable

An agent's judgement comes back through RT's own lifecycle, not a tag: RT has no ticket
tags, and its default lifecycle already has the status for "this ticket should not be
here", ``rejected`` (the Reject action on a ticket, in every RT 5 queue without setup). A
Status transaction carries the ticket's whole new status, so every change the poller reads
says for sure whether the mark is on: ``not_actionable`` is True when the new status is
``feedback_tag`` (default ``rejected``; a site with its own lifecycle names its status in
``ROUTER_RT_FEEDBACK_TAG``) and False otherwise (reopened after a reject takes the mark
off). A custom field was the other choice; it needs an admin to create it on each queue,
and its changes are CustomField transactions the poller would read besides the Status
ones, for no more than what the status already says.

Social customers become RT requesters with a made-up address that cannot receive mail,
``handle@network.<requester_domain>`` (``social.invalid`` by default), and their display name.

Idempotency is ``SaasDesk``'s (``saas.py``): ``open`` holds a lock per external id, looks
up before it creates, never retries a create blindly (after a timeout or a 5xx it looks up
again); ``comment`` looks for its key before posting. What RT adds: no local record (RT's
search reads the database it writes, so the lookup is the record), after creating a check
for a twin made by another worker at the same moment (the lowest id wins and the other is
deleted), and the comment's idempotency key written in the transaction's Subject
(``router-ref <key>``), looked for with TransactionSQL.

The poller is gap-free as long as RT commits transactions in id order, which holds for
SQLite and for one RT process; see docs/rt.md for busy MySQL/PostgreSQL sites.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from ..errors import ConfigError, FatalError
from ..http import HttpApi
from .base import (
    ChangePage,
    CommentBody,
    DeskConfig,
    Ticket,
    TicketChange,
    TicketDraft,
    marked,
)
from .saas import Ledger, NoLedger, SaasDesk

log = logging.getLogger(__name__)

# RT's default lifecycle; statuses of custom lifecycles count as "open".
STATUS_MAP: Mapping[str, str] = {"new": "new", "open": "open", "stalled": "pending",
                                 "resolved": "solved", "rejected": "closed", "deleted": "closed"}
# RT 5's default PriorityAsString: Low 0, Medium 50, High 100.
PRIORITY_MAP: Mapping[str, int] = {"low": 0, "normal": 50, "high": 100, "urgent": 100}
SUBJECT_MAX = 200  # RT's Tickets.Subject column
MARKER_PREFIX = "router-ref "
_SAFE_KEY = re.compile(r"[A-Za-z0-9:._@/+=-]{1,120}")
_LOCAL_OK = re.compile(r"[a-z0-9._-]")


class RTConfig(DeskConfig):
    """Request Tracker 5 settings (environment variables ``ROUTER_RT_*``)."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_RT_", frozen=True, extra="ignore")

    url: str = Field("", description="RT's base URL, e.g. https://rt.example.com "
                     "(REST2 is under /REST/2.0/).")
    queue: str = Field("General", description="Queue the router opens tickets in.")
    token: SecretStr | None = Field(
        None, description="REST2 auth token (RT::Authen::Token; Settings > Auth Tokens). "
        "Preferred to username/password.")
    username: str = Field("", description="RT user for HTTP Basic auth (when no token).")
    password: SecretStr | None = Field(None, description="Password of the RT user "
                                       "(when no token).")
    external_id_field: str = Field(
        "Router External ID", description="Ticket custom field (Freeform, single value, "
        "applied to the queue) that holds the router's case id.")
    requester_domain: str = Field(
        "social.invalid", description="Mail domain of the made-up requester addresses "
        "(handle@network.<domain>); keep a domain that receives no mail.")
    ticket_url_template: str = Field(
        "{url}/Ticket/Display.html?id={id}",
        description="Link to a ticket for agents and replies; {url} and {id} are filled in.")
    poll_page_size: int = Field(100, ge=1, le=100,
                                description="Status changes read per changes_since() call.")
    poll_from_id: int = Field(
        0, ge=0, description="With no saved checkpoint, report changes after this "
        "transaction id (0: from the beginning).")
    poll_router_tickets_only: bool = Field(
        True, description="Report status changes only of tickets carrying an external id "
        "(the ones the router opened).")
    feedback_tag: str = Field(
        "rejected", description="The RT status an agent gives a social ticket that is not "
        "actionable or misrouted (RT's built-in 'rejected': the Reject action); the "
        "router takes it as 'support could not help' and sends no reply.")
    timeout_seconds: float = Field(15.0, gt=0, description="HTTP timeout per request.")
    max_attempts: int = Field(5, ge=1, le=20,
                              description="Attempts of one verb through 429/5xx/timeouts.")
    max_elapsed_seconds: float = Field(60.0, gt=0,
                                       description="Give up retrying one verb after this long.")
    backoff_initial: float = Field(0.5, gt=0, description="First backoff in seconds.")
    backoff_max: float = Field(30.0, gt=0, description="Longest single wait in seconds.")
    rate_per_minute: float = Field(0.0, ge=0, description="Client-side request budget per "
                                   "minute (0: no limit).")


def tsql_quote(value: str) -> str:
    """A TicketSQL/TransactionSQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def requester_email(handle: str, network: str, domain: str) -> str:
    """The made-up, stable RT address of a social customer: ``handle@network.domain``."""
    handle = handle.strip().lstrip("@").lower()
    local = "".join(
        c if _LOCAL_OK.fullmatch(c) else "+" if c == "@" else
        "".join(f"={b:02x}" for b in c.encode()) for c in handle).strip(".") or "unknown"
    if len(local) > 64:
        local = local[:47] + "." + hashlib.sha256(handle.encode()).hexdigest()[:16]
    net = re.sub(r"[^a-z0-9-]+", "-", network.lower()).strip("-") or "social"
    return f"{local}@{net}.{domain}"


def comment_marker(key: str) -> str:
    """What goes in a comment's Subject so a retry can find it (no ``[``: see REST2)."""
    if not _SAFE_KEY.fullmatch(key):
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:40]
    return MARKER_PREFIX + key


def map_status(raw: object) -> str:
    """RT's status (default lifecycle) as one of the router's STATUSES; unknown -> open."""
    return STATUS_MAP.get(str(raw or "").strip().lower(), "open")


def _cf_value(item: Mapping[str, Any], field: str) -> str | None:
    for cf in item.get("CustomFields") or ():
        if isinstance(cf, Mapping) and cf.get("name") == field:
            values = cf.get("values") or []
            return str(values[0]) if values else None
    return None


def _requestor(item: Mapping[str, Any]) -> str | None:
    people = item.get("Requestor") or []
    if people and isinstance(people[0], Mapping):
        return str(people[0].get("id") or "") or None
    return None


class RequestTracker(SaasDesk):
    """Best Practical Request Tracker 5 (REST2), self-hosted; changes come by polling.

    ``SaasDesk`` gives the client, the retries and the idempotent ``open`` and ``comment``;
    what RT does differently is said where it is kept.
    """

    key = "rt"
    title = "Request Tracker 5"
    Config = RTConfig
    body_format = "plain"
    events = "poll"
    statuses: ClassVar[Mapping[str, str]] = STATUS_MAP

    @property
    def cfg(self) -> RTConfig:
        assert isinstance(self.config, RTConfig)
        return self.config

    # --- settings, client, setup ----------------------------------------------------------

    def check_config(self) -> None:
        """ConfigError naming the environment variable of the first wrong setting."""
        cfg = self.cfg
        url = httpx.URL(cfg.url) if cfg.url else None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(f"rt: url must be RT's http(s) base URL; set {self.env_name('url')}")
        if url.username or url.password or url.query:
            raise ConfigError(f"rt: put no credentials or query in {self.env_name('url')}; "
                              f"use {self.env_name('token')}")
        if not cfg.queue.strip():
            raise ConfigError(f"rt: queue is empty; set {self.env_name('queue')}")
        if not cfg.external_id_field.strip():
            raise ConfigError(f"rt: external_id_field is empty; set "
                              f"{self.env_name('external_id_field')}")
        has_token = cfg.token is not None and cfg.token.get_secret_value() != ""
        has_basic = bool(cfg.username) and cfg.password is not None
        if not has_token and not has_basic:
            raise ConfigError(f"rt: no credentials; set {self.env_name('token')} or "
                              f"{self.env_name('username')} and {self.env_name('password')}")
        try:
            cfg.ticket_url_template.format(url="", id="1")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"rt: ticket_url_template may use only {{url}} and {{id}}; fix "
                              f"{self.env_name('ticket_url_template')}") from exc

    @property
    def base(self) -> str:
        return self.cfg.url.rstrip("/") + "/REST/2.0"

    def _auth(self) -> dict[str, Any]:
        token = self.cfg.token.get_secret_value() if self.cfg.token is not None else ""
        if token:
            return {"headers": {"Authorization": f"token {token}"}}
        password = self.cfg.password.get_secret_value() if self.cfg.password else ""
        return {"auth": httpx.BasicAuth(self.cfg.username, password)}

    def open_ledger(self) -> Ledger:
        # No local record (no STATE_PATH): RT's search reads the database RT writes, so a
        # ticket just created is found by the lookup before the next create, and two workers
        # racing are settled by the twin check in _create, which a local record cannot see.
        return NoLedger(self.key)

    def backoff_jitter(self) -> float:
        # RT's request retries have always added up to a full second of jitter (HttpApi's
        # default), not SaasDesk's min(1, BACKOFF_INITIAL); kept as it was.
        return 1.0

    async def setup(self) -> None:
        """Check the settings, the credentials, the queue and the external-id field."""
        await super().setup()
        try:
            await self._json("GET", "/rt", what="rt: reach REST2")
        except FatalError as exc:
            if exc.status_code in (401, 403):
                raise ConfigError(
                    f"rt: RT refused the credentials ({exc.status_code}); check "
                    f"{self.env_name('token')} or {self.env_name('username')}/"
                    f"{self.env_name('password')}", status_code=exc.status_code) from exc
            raise
        queue = await self._json("GET", f"/queue/{quote(self.cfg.queue, safe='')}",
                                 what="rt: find the queue", ok=(403, 404))
        if not isinstance(queue, Mapping) or "id" not in queue:
            raise ConfigError(f"rt: queue {self.cfg.queue!r} not found or not visible to this "
                              f"user; set {self.env_name('queue')}")
        names = {str(cf.get("name")) for cf in queue.get("TicketCustomFields") or ()
                 if isinstance(cf, Mapping)}
        if self.cfg.external_id_field not in names:
            raise ConfigError(
                f"rt: custom field {self.cfg.external_id_field!r} is not applied to queue "
                f"{self.cfg.queue!r} (or not visible); create it (Freeform, single value) or "
                f"set {self.env_name('external_id_field')}")

    # RT's verbs work before setup(): the first one builds the client and the API (checking
    # the settings, no request of its own); setup() is what reaches RT to check credentials,
    # queue and custom field. A SaasDesk would run setup() there instead.
    @property
    def api(self) -> HttpApi:
        if self._api is None:
            self._build()
        assert self._api is not None
        return self._api

    async def _ready(self) -> None:
        if self._api is None:
            self._build()

    async def aclose(self) -> None:
        await super().aclose()
        self._client = None  # used again after aclose(), the desk builds a client of its own

    # --- HTTP ------------------------------------------------------------------------------

    async def _request(self, method: str, path: str, *, what: str, retry: bool = True,
                       ok: tuple[int, ...] = (), **kwargs: Any) -> httpx.Response:
        auth = self._auth()
        headers = {**kwargs.pop("headers", {}), **auth.pop("headers", {})}
        return await self.api.request(method, self.base + path, what=what, retry=retry, ok=ok,
                                      headers=headers, **auth, **kwargs)

    async def _json(self, method: str, path: str, *, what: str, retry: bool = True,
                    ok: tuple[int, ...] = (), **kwargs: Any) -> Any:
        response = await self._request(method, path, what=what, retry=retry, ok=ok, **kwargs)
        if response.status_code in ok and response.status_code >= 400:
            return None
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise FatalError(f"{what}: RT answered {response.status_code} with a body that "
                             "is not JSON") from exc

    async def _search(self, resource: str, query: str, *, what: str,
                      fields: str = "", **params: Any) -> list[Mapping[str, Any]]:
        params = {"query": query, **params}
        if fields:
            params["fields"] = fields
        data = await self._json("GET", f"/{resource}", what=what, params=params)
        items = data.get("items") if isinstance(data, Mapping) else None
        return [i for i in items or () if isinstance(i, Mapping)]

    # --- tickets ---------------------------------------------------------------------------

    def ticket_url(self, ticket_id: str) -> str:
        return self.cfg.ticket_url_template.format(url=self.cfg.url.rstrip("/"), id=ticket_id)

    def _ticket(self, item: Mapping[str, Any]) -> Ticket:
        tid = str(item.get("id"))
        return Ticket(id=tid, url=self.ticket_url(tid), status=map_status(item.get("Status")),
                      external_id=_cf_value(item, self.cfg.external_id_field),
                      requester=_requestor(item), subject=str(item.get("Subject") or ""))

    async def _by_external_id(self, external_id: str) -> list[Mapping[str, Any]]:
        query = f"{tsql_quote('CF.{' + self.cfg.external_id_field + '}')} = " \
                f"{tsql_quote(external_id)}"
        # Quoting the field name keeps names with spaces or dots intact in TicketSQL.
        return await self._search(
            "tickets", query, what="rt: find ticket by external id",
            fields="Status,Subject,Requestor,CustomFields", orderby="id", order="ASC",
            per_page=10)

    async def _lookup(self, external_id: str) -> Ticket | None:
        items = await self._by_external_id(external_id)
        return self._ticket(items[0]) if items else None

    async def find_open_for_requester(self, handle: str, network: str) -> Ticket | None:
        email = requester_email(handle, network, self.cfg.requester_domain)
        items = await self._search(
            "tickets", f"Requestor.EmailAddress = {tsql_quote(email)} AND Status = '__Active__'",
            what="rt: find open ticket of requester",
            fields="Status,Subject,Requestor,CustomFields", orderby="id", order="DESC",
            per_page=1)
        return self._ticket(items[0]) if items else None

    async def _create(self, draft: TicketDraft) -> Ticket:
        author = draft.mention.author
        email = requester_email(author.handle, draft.mention.network, self.cfg.requester_domain)
        name = " ".join((author.name or "").replace('"', "'").split())
        payload = {
            "Queue": self.cfg.queue,
            # RT takes an empty subject; agents cannot triage one, so name the author.
            "Subject": (" ".join(draft.subject.split())
                        or f"@{author.handle} on {draft.mention.network}")[:SUBJECT_MAX],
            "Requestor": f'"{name}" <{email}>' if name else email,
            "Content": self.ticket_body(draft),
            "ContentType": "text/plain",
            "Priority": PRIORITY_MAP.get(draft.priority, 50),
            "CustomFields": {self.cfg.external_id_field: draft.external_id},
        }
        # Never retried blindly: a timeout or 5xx brings SaasDesk.open back to the lookup.
        created = await self._json("POST", "/ticket", what="rt: create ticket", retry=False,
                                   json=payload)
        if not isinstance(created, Mapping) or not created.get("id"):
            raise FatalError("rt: create ticket: RT answered without a ticket id")
        new_id = str(created["id"])
        twins = await self._by_external_id(draft.external_id)
        keep = self._ticket(twins[0]) if twins else None
        if keep is not None and keep.id != new_id:
            # Another worker created the same case at the same moment; the oldest wins.
            # Its external id is cleared first, so neither a lookup nor the poller sees it.
            log.warning("rt: ticket %s duplicates %s for one case; deleting it", new_id,
                        keep.id)
            await self._request(
                "PUT", f"/ticket/{new_id}", what="rt: retire duplicate",
                json={"CustomFields": {self.cfg.external_id_field: None},
                      "Subject": f"(duplicate of #{keep.id}) {payload['Subject']}"[:SUBJECT_MAX]})
            await self._request("DELETE", f"/ticket/{new_id}", what="rt: delete duplicate",
                                ok=(204,))
            return keep
        return Ticket(id=new_id, url=self.ticket_url(new_id), status="new",
                      external_id=draft.external_id, requester=email, subject=payload["Subject"])

    async def _get(self, ticket_id: str) -> Mapping[str, Any]:
        data = await self._json("GET", f"/ticket/{_ticket_id(ticket_id)}", what="rt: get ticket")
        if not isinstance(data, Mapping):
            raise FatalError(f"rt: get ticket {ticket_id}: unexpected answer")
        return data

    async def status(self, ticket_id: str) -> str:
        return map_status((await self._get(ticket_id)).get("Status"))

    async def get(self, ticket_id: str) -> Ticket:
        return self._ticket(await self._get(ticket_id))

    # --- comments --------------------------------------------------------------------------

    async def _comment_exists(self, ticket_id: str, body: CommentBody, *, public: bool,
                              key: str) -> bool:
        return await self._has_marker(_ticket_id(ticket_id), comment_marker(key))

    async def _post_comment(self, ticket_id: str, body: CommentBody, *, public: bool,
                            key: str) -> None:
        kind = "correspond" if public else "comment"
        await self._request(
            "POST", f"/ticket/{_ticket_id(ticket_id)}/{kind}", what=f"rt: {kind}",
            retry=False, json={"Subject": comment_marker(key),
                               "Content": self.comment_body(body), "ContentType": "text/plain"})

    async def _has_marker(self, ticket_id: str, subject: str) -> bool:
        query = (f"ObjectType = 'RT::Ticket' AND ObjectId = {ticket_id} "
                 f"AND Subject = {tsql_quote(subject)}")
        items = await self._search("transactions", query, what="rt: look for a comment",
                                   per_page=1)
        return bool(items)

    # --- links -----------------------------------------------------------------------------

    async def link(self, child_id: str, parent_id: str) -> None:
        child, parent = _ticket_id(child_id), _ticket_id(parent_id)
        messages = await self._json("PUT", f"/ticket/{child}", what="rt: link tickets",
                                    json={"AddParent": int(parent)})
        # RT answers 200 with a (localized) message even when a link fails: check the ticket.
        data = await self._get(child)
        for link in data.get("_hyperlinks") or ():
            if isinstance(link, Mapping) and link.get("ref") == "parent" \
                    and str(link.get("id")) == parent:
                return
        detail = "; ".join(str(m) for m in messages) if isinstance(messages, list) else ""
        raise FatalError(f"rt: ticket {child} could not be linked to {parent}"
                         + (f": {self.api.redactor.scrub(detail)[:200]}" if detail else ""))

    # --- the poller -------------------------------------------------------------------------

    async def changes_since(self, checkpoint: str | None) -> ChangePage:
        """Status changes after ``checkpoint`` (a transaction id), oldest first; each says
        whether an agent rejected the ticket (its new status is ``feedback_tag``)."""
        after = self.cfg.poll_from_id if checkpoint is None else _checkpoint(checkpoint)
        txns = await self._search(
            "transactions", f"ObjectType = 'RT::Ticket' AND Type = 'Status' AND id > {after}",
            what="rt: poll status changes", fields="ObjectId,NewValue,Created",
            orderby="id", order="ASC", per_page=self.cfg.poll_page_size)
        if not txns:
            return ChangePage(changes=(), checkpoint=checkpoint)
        last = max(int(t["id"]) for t in txns)
        ids = {str(t.get("ObjectId")) for t in txns if str(t.get("ObjectId")).isdigit()}
        deleted = {str(t.get("ObjectId")) for t in txns if t.get("NewValue") == "deleted"}
        external = await self._external_ids(sorted(ids), deleted & ids)
        changes = []
        for t in sorted(txns, key=lambda t: int(t["id"])):
            tid = str(t.get("ObjectId"))
            ext = external.get(tid)
            if ext is None and self.cfg.poll_router_tickets_only:
                continue
            new = t.get("NewValue")
            changes.append(TicketChange(ticket_id=tid, status=map_status(new),
                                        url=self.ticket_url(tid), external_id=ext,
                                        changed_at=str(t.get("Created") or ""),
                                        not_actionable=bool(marked([new], self.feedback_tag))))
        return ChangePage(changes=changes, checkpoint=str(last))

    async def _external_ids(self, ids: list[str], deleted: set[str]) -> dict[str, str]:
        """Ticket id -> external id, for the tickets that have one.

        TicketSQL never shows deleted tickets, so those are read one by one.
        """
        if not ids:
            return {}
        query = " OR ".join(f"id = {i}" for i in ids)
        items = await self._search("tickets", query, what="rt: external ids of changed tickets",
                                   fields="CustomFields", per_page=100)
        out = {}
        for item in items:
            ext = _cf_value(item, self.cfg.external_id_field)
            if ext:
                out[str(item.get("id"))] = ext
        seen = {str(item.get("id")) for item in items}
        for tid in sorted(deleted - seen, key=int):
            data = await self._json("GET", f"/ticket/{tid}", what="rt: get deleted ticket",
                                    ok=(403, 404))
            ext = _cf_value(data, self.cfg.external_id_field) if isinstance(data, Mapping) \
                else None
            if ext:
                out[tid] = ext
        return out


def _ticket_id(value: str) -> str:
    value = str(value).strip()
    if not value.isdigit():
        raise FatalError(f"rt: {value[:40]!r} is not an RT ticket id")
    return value


def _checkpoint(value: str) -> int:
    if not value.strip().isdigit():
        raise FatalError(f"rt: checkpoint {value[:40]!r} is not a transaction id")
    return int(value)
