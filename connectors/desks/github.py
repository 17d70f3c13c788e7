"""GitHub Issues in one repository, as a support desk.

- A ticket is an issue with a Markdown body; the case id and the requester ride in hidden
  HTML comments (``<!-- escalation-router ... -->``) with searchable tokens ``er-<digest>``
  and ``er-req-<digest>``. Lookup uses the search API, which is eventually consistent, so
  the local record remembers every issue made, and after a create whose answer was lost the
  newest issues of the repository (a consistent list) are scanned for the marker before
  anything is created again.
- Comments carry a hidden idempotency marker and are checked before posting.
- GitHub has no internal notes. ``internal_notes = "prefix"`` (default) posts them as
  ordinary comments that start with a bold "Internal note" warning (everyone who can read
  the repository sees them: use a private repository); ``"refuse"`` raises NotSupported.
- Status: ``open`` (``pending`` with the ``pending_label``); ``closed`` with
  ``state_reason`` ``completed`` is solved, any other reason (``not_planned``,
  ``duplicate``) is closed.
- Link: a comment on the report pointing at the incident issue (GitHub cross-references
  it on both sides).
- Primary rate limit (403/429 with ``x-ratelimit-remaining: 0``: wait for
  ``x-ratelimit-reset``) and secondary limits (403/429 with ``retry-after``) are retried.
- Changes come back by the repository webhook (``GitHubIssues.verify_webhook``, ``issues``
  events): ``X-Hub-Signature-256`` = ``sha256=`` + hex HMAC-SHA256(secret, body), and
  ``X-GitHub-Delivery`` required. GitHub signs no time and the delivery id is not signed,
  so the replay key is the body, for a day (``DEDUP_WINDOW``), and an issue event whose
  signed ``issue.updated_at`` is over a day old is refused as stale.
- An agent's feedback is the issue label ``feedback_tag`` (``not-actionable``), read from
  ``issue.labels`` of every ``issues`` event read; ``labeled`` / ``unlabeled`` events of
  that label carry it without a status change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from ..errors import ConfigError, NotSupported, RetriableError
from ..http import parse_retry_after, raise_for_response
from .base import (
    FEEDBACK_TAG,
    CommentBody,
    DeskEvents,
    Ticket,
    TicketChange,
    TicketDraft,
    marked,
)
from .render import find_marker, marker
from .saas import SaasConfig, SaasDesk, requester_key
from .webhooks import (
    DEDUP_WINDOW,
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
    hmac_hex,
    json_object,
    parse_time,
    text,
)

NOTE_PREFIX = ("**Internal note** (from the escalation router; visible to everyone who "
               "can read this repository)\n\n")


def github_status(state: str, reason: str | None) -> str:
    """GitHub's state and state_reason in the router's terms (REST and webhooks)."""
    if state == "closed":
        return "solved" if (reason or "completed") == "completed" else "closed"
    return "open"


def token_for(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.encode()).hexdigest()[:20]
    return f"er-{digest}" if kind == "case" else f"er-req-{digest}"


class GitHubConfig(SaasConfig):
    """GitHub settings (a token allowed to read and write the repository's issues)."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_GITHUB_", frozen=True,
                                      extra="ignore")

    repository: str = Field("", description="owner/name of the repository holding tickets.")
    token: SecretStr = Field(SecretStr(""), description="Fine-grained token (Issues: read "
                             "and write) or a GitHub App installation token.")
    api_url: str = Field("https://api.github.com", description="REST API root (GitHub "
                         "Enterprise Server: https://HOST/api/v3).")
    internal_notes: Literal["prefix", "refuse"] = Field(
        "prefix", description="GitHub has no private comments: 'prefix' posts notes as "
        "comments marked 'Internal note'; 'refuse' raises NotSupported.")
    pending_label: str = Field("waiting-for-customer", description="An open issue with "
                               "this label is 'pending' (GitHub has no such state).")
    webhook_secret: SecretStr = Field(SecretStr(""), description="Secret of the repository "
                                      "webhook (issues events) that reports changes.")


class GitHubIssues(SaasDesk):
    """Issues of one GitHub repository.

    Feedback: an agent adds the label ``not-actionable`` (``feedback_tag``); it is read from
    ``issue.labels`` of the ``issues`` events (``labeled`` / ``unlabeled`` of that label)."""

    key: ClassVar[str] = "github"
    #: secondary limit: 80 content-creating requests a minute
    documented_rate: ClassVar[float | None] = 80.0
    title: ClassVar[str] = "GitHub Issues"
    Config = GitHubConfig
    body_format: ClassVar[str] = "markdown"
    events: ClassVar[DeskEvents] = "webhook"
    search_lags: ClassVar[bool] = True

    def check_config(self) -> None:
        self.require("repository", "token")
        if self.cfg.repository.count("/") != 1:
            raise ConfigError("github: set ROUTER_GITHUB_REPOSITORY to owner/name")

    def client_options(self) -> dict[str, Any]:
        return {"base_url": str(self.cfg.api_url).rstrip("/"),
                "headers": {"Authorization": f"Bearer {self.cfg.token.get_secret_value()}",
                            "Accept": "application/vnd.github+json",
                            "X-GitHub-Api-Version": "2022-11-28"}}

    @property
    def repo(self) -> str:
        return f"/repos/{self.cfg.repository}"

    def ticket_url(self, ticket_id: str) -> str:
        api = str(self.cfg.api_url).rstrip("/")
        web = "https://github.com" if api == "https://api.github.com" else api.removesuffix(
            "/api/v3")
        return f"{web}/{self.cfg.repository}/issues/{ticket_id}"

    # --- HTTP with GitHub's rate-limit rules --------------------------------------------------

    async def _once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.api.request(method, url, retry=False, ok=(403, 429), **kwargs)
        if response.status_code in (403, 429):
            limited = (response.headers.get("retry-after")
                       or response.headers.get("x-ratelimit-remaining") == "0"
                       or response.status_code == 429)
            if limited:
                raise RetriableError(
                    f"github: {method} {url.split('?')[0]} rate limited "
                    f"({response.status_code})", retry_after=parse_retry_after(response),
                    status_code=response.status_code)
            raise_for_response(response, what="github", redactor=self.api.redactor)
        return response

    async def _get(self, url: str, **kwargs: Any) -> Any:
        response = await self.retrying(lambda: self._once("GET", url, **kwargs))
        return response.json()

    # --- reading ------------------------------------------------------------------------

    def _ticket(self, issue: dict[str, Any]) -> Ticket:
        number = str(issue["number"])
        status = github_status(issue.get("state", "open"), issue.get("state_reason"))
        labels = {str(x.get("name") if isinstance(x, dict) else x)
                  for x in issue.get("labels") or []}
        if status == "open" and self.cfg.pending_label in labels:
            status = "pending"
        return Ticket(id=number, url=issue.get("html_url") or self.ticket_url(number),
                      status=status,
                      external_id=find_marker(issue.get("body"), "external-id"),
                      requester=find_marker(issue.get("body"), "requester"),
                      subject=issue.get("title") or "")

    async def get(self, ticket_id: str) -> Ticket:
        await self._ready()
        return self._ticket(await self._get(f"{self.repo}/issues/{ticket_id}"))

    async def status(self, ticket_id: str) -> str:
        return (await self.get(ticket_id)).status

    async def _search(self, token: str, extra: str = "") -> list[dict[str, Any]]:
        q = f'"{token}" repo:{self.cfg.repository} is:issue in:body {extra}'.strip()
        data = await self._get("/search/issues", params={"q": q, "sort": "created",
                                                          "order": "asc", "per_page": 10})
        return list(data.get("items") or [])

    async def _lookup(self, external_id: str) -> Ticket | None:
        for issue in await self._search(token_for("case", external_id)):
            if find_marker(issue.get("body"), "external-id") == external_id:
                return self._ticket(issue)
        entry = self.ledger.get("ticket", external_id)
        if entry is not None and entry.state == "pending":
            # A create may have happened without us hearing the answer: the repository's
            # newest issues are a consistent read, unlike search.
            recent = await self._get(f"{self.repo}/issues",
                                     params={"state": "all", "sort": "created",
                                             "direction": "desc", "per_page": 50})
            for issue in recent:
                if "pull_request" not in issue and find_marker(
                        issue.get("body"), "external-id") == external_id:
                    return self._ticket(issue)
        return None

    async def find_open_for_requester(self, handle: str, network: str) -> Ticket | None:
        await self._ready()
        who = requester_key(handle, network)
        for issue in await self._search(token_for("requester", who), "is:open"):
            if find_marker(issue.get("body"), "requester") == who and issue.get("state") == "open":
                return self._ticket(issue)
        return None

    # --- writing ------------------------------------------------------------------------

    async def _create(self, draft: TicketDraft) -> Ticket:
        who = requester_key(draft.mention.author.handle, draft.mention.network)
        body = "\n".join([
            self.ticket_body(draft),
            marker("external-id", draft.external_id),
            marker("case", token_for("case", draft.external_id)),
            marker("requester", who),
            marker("requester-token", token_for("requester", who)),
        ])
        response = await self._once("POST", f"{self.repo}/issues",
                                    json={"title": draft.subject, "body": body,
                                          "labels": list(draft.tags)})
        return self._ticket(response.json())

    async def _comment_exists(self, ticket_id: str, body: CommentBody, *, public: bool,
                              key: str) -> bool:
        url: str | None = f"{self.repo}/issues/{ticket_id}/comments"
        params: dict[str, Any] | None = {"per_page": 100}
        for _ in range(30):
            if url is None:
                break
            response = await self.retrying(
                lambda u=url, p=params: self._once("GET", u, params=p))  # type: ignore[misc]
            if any(find_marker(c.get("body"), "key") == key for c in response.json()):
                return True
            url = response.links.get("next", {}).get("url")
            params = None
        return False

    async def _post_comment(self, ticket_id: str, body: CommentBody, *, public: bool,
                            key: str) -> None:
        if not public and self.cfg.internal_notes == "refuse":
            raise NotSupported("github has no internal notes (ROUTER_GITHUB_INTERNAL_NOTES="
                               "refuse)")
        text = self.comment_body(body)
        if not public:
            text = NOTE_PREFIX + text
        await self._once("POST", f"{self.repo}/issues/{ticket_id}/comments",
                         json={"body": f"{text}\n{marker('key', key)}"})

    async def link(self, child_id: str, parent_id: str) -> None:
        await self._ready()
        key = f"link-{int(parent_id)}"
        text = f"Part of the incident tracked in #{int(parent_id)}."

        async def once() -> None:
            if not await self._comment_exists(child_id, CommentBody(text=text), public=True,
                                              key=key):
                await self._once("POST", f"{self.repo}/issues/{child_id}/comments",
                                 json={"body": f"{text}\n{marker('key', key)}"})

        await self.retrying(once)

    # --- webhooks -----------------------------------------------------------------------

    @classmethod
    def verify_webhook(cls, headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                       now: float, replay_cache: ReplayCache | None = None,
                       max_age: float = MAX_AGE_SECONDS,
                       max_bytes: int = MAX_BODY_BYTES) -> Seen | None:
        """"sha256=" + hex HMAC-SHA256(secret, body); X-GitHub-Delivery required.

        GitHub signs no time and its delivery id is not signed, so a body is accepted once
        per ``DEDUP_WINDOW`` whatever id it comes with, and an issue event whose signed
        ``updated_at`` is older than the window is refused as stale.
        """
        check_delivery(body, secret, max_bytes)
        expected = "sha256=" + hmac_hex(secret, body, "sha256")
        check_signature(header(headers, "X-Hub-Signature-256"), expected)
        if not header(headers, "X-GitHub-Delivery"):
            raise WebhookRejected("no delivery id")
        issue = json_object(body).get("issue")
        updated = issue.get("updated_at") if isinstance(issue, Mapping) else None
        if isinstance(updated, str) and updated:
            check_fresh(parse_time(updated), now, DEDUP_WINDOW)
        return check_replay(replay_cache, cls.key, digest(body), now + DEDUP_WINDOW)

    @classmethod
    def parse_webhook(cls, payload: Mapping[str, Any], *,
                      feedback_tag: str = FEEDBACK_TAG) -> list[TicketChange]:
        """``issues`` events (opened, closed, reopened, edited, and labeled / unlabeled with
        ``feedback_tag``); pull requests are not.

        Each carries the issue as it is now (state, labels), so the feedback label's own
        ``labeled`` / ``unlabeled`` is a change at the current status with the mark. Other
        labels' events are skipped: GitHub sends one per label (the router's own ``social``
        right after ``opened``), and they say nothing new."""
        issue = payload.get("issue")
        if not isinstance(issue, Mapping) or "pull_request" in issue:
            return []
        action = payload.get("action")
        label = payload.get("label")
        name = label.get("name") if isinstance(label, Mapping) else None
        feedback = (action in ("labeled", "unlabeled") and isinstance(name, str)
                    and bool(marked([name], feedback_tag)))
        if action not in ("opened", "closed", "reopened", "edited") and not feedback:
            return []
        raw = issue.get("labels")
        labels = ([x.get("name") if isinstance(x, Mapping) else x for x in raw]
                  if isinstance(raw, list) else None)
        mark = marked(labels, feedback_tag)
        if feedback:  # the event names the label it added or removed
            mark = action == "labeled"
        return [TicketChange(ticket_id=text(issue.get("number")),
                             status=github_status(text(issue.get("state")),
                                                  issue.get("state_reason")),
                             url=text(issue.get("html_url")),
                             external_id=find_marker(issue.get("body"), "external-id"),
                             changed_at=text(issue.get("updated_at")),
                             not_actionable=mark)]
