"""A stateful fake of the Freshdesk API v2, as developers.freshdesk.com documents it.

Basic auth ``api_key:X`` (401 ``{"code": "invalid_credentials", ...}``), 400 ``Validation
failed`` with ``errors[]``, ``Link`` pagination (``per_page``), ``X-RateLimit-Total``,
``-Remaining``, ``-Used-CurrentRequest`` headers, 429 with ``Retry-After``, contacts made
from ``unique_external_id``, custom fields that must exist, a lagging search index.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx

from .base import FakeVendor

BASE = "https://acme.freshdesk.com"


class FakeFreshdesk(FakeVendor):
    name = "freshdesk"

    def __init__(self, api_key: str, custom_fields: tuple[str, ...] = ("cf_external_id",)
                 ) -> None:
        super().__init__()
        self.credentials = "Basic " + base64.b64encode(f"{api_key}:X".encode()).decode()
        self.custom_fields = custom_fields
        self.tickets: dict[int, dict[str, Any]] = {}
        self.contacts: dict[str, int] = {}
        self.conversations: dict[int, list[dict[str, Any]]] = {}
        self.per_page_cap = 2
        self.add_route("POST", r"/api/v2/tickets", self.create)
        self.add_route("GET", r"/api/v2/tickets", self.list_tickets)
        self.add_route("GET", r"/api/v2/tickets/(?P<tid>\d+)", self.view)
        self.add_route("GET", r"/api/v2/search/tickets", self.search)
        self.add_route("GET", r"/api/v2/tickets/(?P<tid>\d+)/conversations", self.list_convs)
        self.add_route("POST", r"/api/v2/tickets/(?P<tid>\d+)/notes", self.add_note)
        self.mark("create", "POST", r"/api/v2/tickets")
        self.mark("comment", "POST", r"/api/v2/tickets/\d+/notes")

    def authorized(self, request: httpx.Request) -> bool:
        return request.headers.get("authorization") == self.credentials

    def unauthorized(self, request: httpx.Request) -> httpx.Response:
        return self.json(401, {"code": "invalid_credentials",
                               "message": "You have to be logged in to perform this action."})

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"code": "too_many_requests", "message": "Too many requests"}
        return {"code": "internal_error", "message": "We're sorry, but something went wrong."}

    def not_found(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, headers=self.rate_headers())

    def rate_headers(self) -> dict[str, str]:
        return {"X-RateLimit-Total": "3000", "X-RateLimit-Remaining": "2999",
                "X-RateLimit-Used-CurrentRequest": "1"}

    def invalid(self, errors: list[dict[str, str]]) -> httpx.Response:
        return self.json(400, {"description": "Validation failed", "errors": errors})

    def paged(self, request: httpx.Request, items: list[dict[str, Any]]) -> httpx.Response:
        per_page = min(int(request.url.params.get("per_page", "30")), self.per_page_cap)
        page = int(request.url.params.get("page", "1"))
        headers = {}
        if page * per_page < len(items):
            headers["link"] = f'<{request.url.copy_set_param("page", str(page + 1))}>; rel="next"'
        return self.json(200, items[(page - 1) * per_page: page * per_page], headers)

    def create(self, request: httpx.Request) -> httpx.Response:
        data = self.body(request)
        errors = []
        if not (data.get("subject") or "").strip():
            errors.append({"field": "subject", "message": "It should not be blank as this is a "
                           "mandatory field", "code": "missing_field"})
        for name in data.get("custom_fields", {}):
            if name not in self.custom_fields:
                errors.append({"field": name, "message": "Unexpected/invalid field in request",
                               "code": "invalid_field"})
        if errors:
            return self.invalid(errors)
        who = data.get("unique_external_id")
        requester = self.contacts.setdefault(who, 7000 + len(self.contacts))
        tid = len(self.tickets) + 1
        ticket = {**data, "id": tid, "requester_id": requester,
                  "created": self.clock(), "updated": self.clock(),
                  "custom_fields": {n: data.get("custom_fields", {}).get(n)
                                    for n in self.custom_fields}}
        ticket.pop("unique_external_id")
        ticket["unique_external_id_of_requester"] = who
        self.tickets[tid] = ticket
        self.conversations[tid] = []
        return self.json(201, self.public(ticket))

    def public(self, t: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in t.items() if k not in ("created", "updated",
                                                        "unique_external_id_of_requester")}

    def list_tickets(self, request: httpx.Request) -> httpx.Response:
        items = list(self.tickets.values())
        who = request.url.params.get("unique_external_id")
        if who is not None:
            items = [t for t in items if t["unique_external_id_of_requester"] == who]
        key = "created" if request.url.params.get("order_by") == "created_at" else "updated"
        items.sort(key=lambda t: t[key], reverse=request.url.params.get("order_type") != "asc")
        return self.paged(request, [self.public(t) for t in items])

    def view(self, request: httpx.Request, tid: str) -> httpx.Response:
        t = self.tickets.get(int(tid))
        return self.json(200, self.public(t)) if t else self.not_found(request)

    def search(self, request: httpx.Request) -> httpx.Response:
        query = request.url.params.get("query", "")
        m = re.fullmatch(r"\"(\w+):'((?:[^'\\]|\\.)*)'\"", query)
        if m is None:
            return self.invalid([{"field": "query", "message": "Given query is invalid",
                                  "code": "invalid_value"}])
        field, value = f"cf_{m.group(1)}", re.sub(r"\\(.)", r"\1", m.group(2))
        found = [self.public(t) for t in self.tickets.values()
                 if t["custom_fields"].get(field) == value and self.visible(t["created"])]
        return self.json(200, {"results": found, "total": len(found)})

    def list_convs(self, request: httpx.Request, tid: str) -> httpx.Response:
        if int(tid) not in self.tickets:
            return self.not_found(request)
        return self.paged(request, self.conversations[int(tid)])

    def add_note(self, request: httpx.Request, tid: str) -> httpx.Response:
        if int(tid) not in self.tickets:
            return self.not_found(request)
        data = self.body(request)
        if not (data.get("body") or "").strip():
            return self.invalid([{"field": "body", "message": "It should not be blank",
                                  "code": "missing_field"}])
        note = {"id": 100 + len(self.conversations[int(tid)]), "body": data["body"],
                "private": data.get("private", True), "incoming": False}
        self.conversations[int(tid)].append(note)
        self.tickets[int(tid)]["updated"] = self.clock()
        return self.json(201, note)
