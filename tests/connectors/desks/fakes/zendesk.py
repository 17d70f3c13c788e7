"""A stateful fake of the Zendesk Support API v2, answering as developer.zendesk.com documents.

Basic auth ``{email}/token:{api_token}`` (401 ``{"error": "Couldn't authenticate you"}``),
``RecordInvalid`` 422 bodies, ``next_page`` pagination, ``ratelimit-*`` headers on every
answer, ``Idempotency-Key`` replay on create (``x-idempotency-lookup: hit|miss``),
audits with custom metadata, problem/incident links.
"""

from __future__ import annotations

import base64
import itertools
from typing import Any

import httpx

from .base import FakeVendor

BASE = "https://acme.zendesk.com"
PAGE = 2  # tiny pages so pagination is exercised


class FakeZendesk(FakeVendor):
    name = "zendesk"

    def __init__(self, email: str, token: str) -> None:
        super().__init__()
        self.credentials = "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()
        self.ids = itertools.count(101)
        self.tickets: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.audits: dict[int, list[dict[str, Any]]] = {}
        self.idempotency: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self.add_route("POST", r"/api/v2/tickets\.json", self.create_ticket)
        self.add_route("GET", r"/api/v2/tickets\.json", self.list_tickets)
        self.add_route("GET", r"/api/v2/tickets/(?P<tid>\d+)\.json", self.show_ticket)
        self.add_route("PUT", r"/api/v2/tickets/(?P<tid>\d+)\.json", self.update_ticket)
        self.add_route("GET", r"/api/v2/tickets/(?P<tid>\d+)/audits\.json", self.list_audits)
        self.add_route("POST", r"/api/v2/users/create_or_update\.json", self.upsert_user)
        self.add_route("GET", r"/api/v2/users/search\.json", self.search_users)
        self.add_route("GET", r"/api/v2/users/(?P<uid>\d+)/tickets/requested\.json",
                       self.requested)
        self.mark("create", "POST", r"/api/v2/tickets\.json")
        self.mark("comment", "PUT", r"/api/v2/tickets/\d+\.json")

    # --- vendor conventions ---------------------------------------------------------------

    def authorized(self, request: httpx.Request) -> bool:
        return request.headers.get("authorization") == self.credentials

    def unauthorized(self, request: httpx.Request) -> httpx.Response:
        return self.json(401, {"error": "Couldn't authenticate you"})

    def error_body(self, status: int) -> Any:
        if status == 429:
            return "Rate limit for ticket updates exceeded, please wait before updating."
        if status >= 500:
            return {"error": "ServiceUnavailable", "description": "Please try again later"}
        return {"error": "InvalidEndpoint", "description": "Not found"}

    def not_found(self, request: httpx.Request) -> httpx.Response:
        return self.json(404, {"error": "RecordNotFound", "description": "Not found"})

    def rate_headers(self) -> dict[str, str]:
        return {"x-rate-limit": "700", "x-rate-limit-remaining": "699",
                "ratelimit-limit": "700", "ratelimit-remaining": "699", "ratelimit-reset": "41"}

    def page(self, request: httpx.Request, key: str, items: list[dict[str, Any]]
             ) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        chunk = items[(page - 1) * PAGE: page * PAGE]
        more = page * PAGE < len(items)
        next_page = str(request.url.copy_set_param("page", str(page + 1))) if more else None
        return self.json(200, {key: chunk, "next_page": next_page, "previous_page": None,
                               "count": len(items)})

    def invalid(self, field: str, message: str) -> httpx.Response:
        return self.json(422, {"error": "RecordInvalid", "description": "Record validation errors",
                               "details": {field: [{"description": message,
                                                    "error": "BlankValue"}]}})

    # --- routes ----------------------------------------------------------------------------

    def create_ticket(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("idempotency-key")
        if key and key in self.idempotency:
            content, answer = self.idempotency[key]
            if content != request.content:
                return self.json(400, {"error": "IdempotentRequestError",
                                       "description": "Request parameters don't match "
                                       "the original request with this key"})
            return self.json(201, answer, {"x-idempotency-lookup": "hit"})
        data = self.body(request)["ticket"]
        if not (data.get("subject") or "").strip():
            return self.invalid("subject", "Subject: cannot be blank")
        tid = next(self.ids)
        comment = data.pop("comment")
        ticket = {**data, "id": tid, "status": "new", "url": f"{BASE}/api/v2/tickets/{tid}.json",
                  "description": comment.get("html_body") or comment.get("body"),
                  "problem_id": None}
        self.tickets[tid] = ticket
        self.audits[tid] = [{"id": tid * 1000, "ticket_id": tid, "metadata": {"custom": {}},
                             "events": [{"type": "Comment", "public": comment.get("public", True),
                                         "html_body": ticket["description"]}]}]
        answer = {"ticket": ticket}
        if key:
            self.idempotency[key] = (request.content, answer)
        return self.json(201, answer, {"x-idempotency-lookup": "miss",
                                       "location": ticket["url"]})

    def list_tickets(self, request: httpx.Request) -> httpx.Response:
        items = list(self.tickets.values())
        if "external_id" in request.url.params:
            items = [t for t in items if t.get("external_id") == request.url.params["external_id"]]
        return self.page(request, "tickets", items)

    def show_ticket(self, request: httpx.Request, tid: str) -> httpx.Response:
        ticket = self.tickets.get(int(tid))
        return self.json(200, {"ticket": ticket}) if ticket else self.not_found(request)

    def update_ticket(self, request: httpx.Request, tid: str) -> httpx.Response:
        ticket = self.tickets.get(int(tid))
        if ticket is None:
            return self.not_found(request)
        data = self.body(request)["ticket"]
        events: list[dict[str, Any]] = []
        if "comment" in data:
            c = data.pop("comment")
            events.append({"type": "Comment", "public": c.get("public", True),
                           "html_body": c.get("html_body") or c.get("body")})
        metadata = data.pop("metadata", {}) or {}
        if data.get("type") == "incident" and data.get("problem_id"):
            problem = self.tickets.get(int(data["problem_id"]))
            if problem is None or problem.get("type") != "problem":
                return self.invalid("problem_id", "Problem: must be a problem ticket")
        ticket.update(data)
        self.audits[int(tid)].append({"id": len(self.audits[int(tid)]) + int(tid) * 1000,
                                      "ticket_id": int(tid),
                                      "metadata": {"custom": metadata.get("custom", {}),
                                                   "system": {}},
                                      "events": events})
        return self.json(200, {"ticket": ticket, "audit": self.audits[int(tid)][-1]})

    def list_audits(self, request: httpx.Request, tid: str) -> httpx.Response:
        if int(tid) not in self.tickets:
            return self.not_found(request)
        return self.page(request, "audits", self.audits[int(tid)])

    def upsert_user(self, request: httpx.Request) -> httpx.Response:
        data = self.body(request)["user"]
        if not (data.get("name") or "").strip():
            return self.invalid("name", "Name: is too short (minimum is 1 character)")
        for user in self.users.values():
            if data.get("external_id") and user.get("external_id") == data["external_id"]:
                user.update(data)
                return self.json(200, {"user": user})
        uid = 9000 + len(self.users)
        self.users[uid] = {**data, "id": uid}
        return self.json(201, {"user": self.users[uid]})

    def search_users(self, request: httpx.Request) -> httpx.Response:
        ext = request.url.params.get("external_id")
        return self.json(200, {"users": [u for u in self.users.values()
                                         if u.get("external_id") == ext],
                               "next_page": None, "count": 0})

    def requested(self, request: httpx.Request, uid: str) -> httpx.Response:
        items = [t for t in self.tickets.values() if t.get("requester_id") == int(uid)]
        return self.page(request, "tickets", items)

    # --- test helpers ------------------------------------------------------------------------

    def comments(self, tid: int) -> list[tuple[bool, str]]:
        out = []
        for audit in self.audits.get(tid, [])[1:]:
            for event in audit["events"]:
                if event["type"] == "Comment":
                    out.append((bool(event["public"]), str(event["html_body"])))
        return out
